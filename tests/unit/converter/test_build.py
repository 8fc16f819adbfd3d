"""Rows + stored images -> COCO: ids, categories, image matching, scaling, policies and masks over HTTP."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from transferline.errors import InvalidInput
from transferline.fetch import Fetcher, ScopedHeader
from transferline_converter.build import BuildOptions, _Builder, build
from transferline_converter.dataset import ImageIds, LabeledImage, MaskRef, Problems, Shape, Where
from transferline_converter.images import ImageIndex, StoredImage
from transferline_converter.masks import MaskSource


def row(name: str, *shapes: Shape, **kwargs) -> LabeledImage:
    return LabeledImage(Where(f"row {name}"), ImageIds(external_id=name), shapes=list(shapes), **kwargs)


def box(category: str, x: float, y: float, w: float, h: float, **kwargs) -> Shape:
    return Shape(category, "box", Where("row", "bbox"), box=(x, y, w, h), **kwargs)


def index(*sizes: tuple[str, int, int]) -> ImageIndex:
    return ImageIndex(StoredImage(name, w, h, read=bytes) for name, w, h in sizes)


def run(rows, images, options=None, declared=(), masks=None):
    problems, options = Problems(), options or BuildOptions()
    built = build(rows, list(declared), images, masks or MaskSource(), options, problems)
    return built, problems


def test_ids_start_at_one_and_categories_follow_the_declared_order_then_names() -> None:
    rows = [row("a.jpg", box("zebra", 1, 1, 5, 5), box("cup", 2, 2, 5, 5)), row("b.jpg", box("apple", 0, 0, 3, 3))]
    built, _ = run(rows, index(("a.jpg", 20, 20), ("b.jpg", 20, 20)), declared=["zebra", "unused"])
    coco = built.coco
    assert [c["name"] for c in coco["categories"]] == ["zebra", "apple", "cup"]
    assert [c["id"] for c in coco["categories"]] == [1, 2, 3]
    assert [i["id"] for i in coco["images"]] == [1, 2] and [a["id"] for a in coco["annotations"]] == [1, 2, 3]
    assert coco["annotations"][1] | {"segmentation": None} == {
        "id": 2,
        "image_id": 1,
        "category_id": 3,
        "bbox": [2, 2, 5, 5],
        "area": 25,
        "iscrowd": 0,
        "segmentation": None,
    }


def test_a_row_whose_image_was_never_downloaded_is_reported_and_dropped() -> None:
    built, problems = run([row("gone.jpg", box("cup", 0, 0, 2, 2))], index(("a.jpg", 9, 9)))
    assert built.coco["images"] == [] and built.counters["rows_dropped"] == 1
    [problem] = problems.items
    assert problem.code == "image-missing" and problem.row == "row gone.jpg" and "never downloaded" in problem.message


def test_without_images_the_export_sizes_are_used() -> None:
    rows = [row("a.jpg", box("cup", 0, 0, 2, 2), width=30, height=40), row("nosize.jpg", box("cup", 0, 0, 2, 2))]
    built, problems = run(rows, ImageIndex([]), BuildOptions(require_images=False))
    assert built.coco["images"] == [{"id": 1, "file_name": "a.jpg", "width": 30, "height": 40, "external_id": "a.jpg"}]
    assert [p.code for p in problems.items] == ["image-missing"]


def test_pixel_labels_drawn_on_a_resized_copy_are_scaled_to_the_stored_image() -> None:
    built, problems = run([row("a.jpg", box("cup", 10, 10, 20, 20), width=100, height=100)], index(("a.jpg", 50, 50)))
    assert built.coco["annotations"][0]["bbox"] == [5, 5, 10, 10]
    assert problems.items[0].code == "image-size-mismatch"


def test_duplicate_rows_keep_the_first() -> None:
    rows = [row("a.jpg", box("cup", 0, 0, 2, 2)), row("a.jpg", box("cup", 0, 0, 4, 4))]
    built, problems = run(rows, index(("a.jpg", 9, 9)))
    assert len(built.coco["annotations"]) == 1 and built.coco["annotations"][0]["area"] == 4
    assert problems.items[0].code == "duplicate-row"


def test_class_policies_rename_drop_and_allow_list() -> None:
    rows = [
        row("a.jpg", box("Bottle ", 0, 0, 2, 2), box("junk", 0, 0, 2, 2), box("cat", 0, 0, 2, 2), box("", 0, 0, 2, 2))
    ]
    options = BuildOptions(rename={"Bottle": "bottle", "junk": ""}, classes=frozenset({"bottle"}))
    built, problems = run(rows, index(("a.jpg", 9, 9)), options)
    assert [c["name"] for c in built.coco["categories"]] == ["bottle"]
    assert sorted(p.code for p in problems.items) == ["empty-class", "unknown-class"]
    assert built.counters["objects_dropped"] == 3


def test_category_map_names_coco_classes_and_refuses_unknown_ones() -> None:
    options = BuildOptions(category_map={"WasteBottle": "bottle"})
    built, _ = run([row("a.jpg", box("WasteBottle", 0, 0, 2, 2))], index(("a.jpg", 9, 9)), options)
    assert built.coco["categories"][0] | {} == {
        "id": 1,
        "name": "WasteBottle",
        "supercategory": "",
        "coco_name": "bottle",
        "coco_id": 44,
    }
    with pytest.raises(InvalidInput, match="did you mean"):
        run([], index(), BuildOptions(category_map={"x": "bottles"}))


def test_out_of_bounds_policy_clip_or_drop() -> None:
    rows = [row("a.jpg", box("cup", 5, 5, 10, 10))]
    clipped, problems = run(rows, index(("a.jpg", 10, 10)))
    assert clipped.coco["annotations"][0]["bbox"] == [5, 5, 5, 5] and problems.items[0].code == "out-of-bounds"
    dropped, problems = run(rows, index(("a.jpg", 10, 10)), BuildOptions(clip=False))
    assert dropped.coco["annotations"] == [] and problems.items[0].severity == "warning"


def test_points_and_lines_are_reported_not_converted() -> None:
    point = Shape("kp", "point", Where("row", "point"), polygons=[[(1.0, 1.0)]])
    built, problems = run([row("a.jpg", point)], index(("a.jpg", 9, 9)))
    assert built.coco["annotations"] == [] and problems.items[0].code == "unsupported-shape"


def test_skipped_and_unlabeled_rows() -> None:
    built, problems = run([row("a.jpg", skipped=True), row("b.jpg")], index(("a.jpg", 9, 9), ("b.jpg", 9, 9)))
    assert [i["file_name"] for i in built.coco["images"]] == ["b.jpg"]
    assert [p.code for p in problems.items] == ["row-skipped", "image-unlabeled"]


class MaskServer(BaseHTTPRequestHandler):
    pictures: ClassVar[dict[str, bytes]] = {}
    seen_auth: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.seen_auth.append(self.headers.get("Authorization", ""))
        body = self.pictures.get(self.path)
        self.send_response(200 if body else 404)
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def mask_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), MaskServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def png(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).save(out, "PNG")
    return out.getvalue()


def test_masks_are_fetched_with_the_api_key_and_composite_colours_are_separated(mask_server: str) -> None:
    single = np.zeros((20, 30), dtype=np.uint8)
    single[2:6, 3:9] = 255
    composite = np.zeros((20, 30, 3), dtype=np.uint8)
    composite[10:20, 0:5] = (255, 0, 0)
    composite[0:4, 20:30] = (0, 0, 255)
    MaskServer.pictures = {"/single.png": png(single), "/composite.png": png(composite)}
    shapes = [
        Shape("sky", "mask", Where("row", "mask"), mask=MaskRef(url=f"{mask_server}/single.png")),
        Shape("car", "mask", Where("row", "m2"), mask=MaskRef(url=f"{mask_server}/composite.png", color=(255, 0, 0))),
        Shape("bus", "mask", Where("row", "m3"), mask=MaskRef(url=f"{mask_server}/composite.png", color=(0, 0, 255))),
        Shape("gone", "mask", Where("row", "m4"), mask=MaskRef(url=f"{mask_server}/missing.png")),
    ]
    # The key scoped to this loopback host over http, as the settings scope it to Labelbox's hosts over https.
    key = ScopedHeader("Authorization", "Bearer s3cret", ("127.0.0.1",), schemes=("http",))
    masks = MaskSource(Fetcher(allow_networks=["127.0.0.0/8"], headers=[key]))
    built, problems = run([row("a.jpg", *shapes)], index(("a.jpg", 30, 20)), masks=masks)
    boxes = {a["category_id"]: (a["bbox"], a["area"]) for a in built.coco["annotations"]}
    names = {c["id"]: c["name"] for c in built.coco["categories"]}
    assert {names[k]: v for k, v in boxes.items()} == {
        "sky": ([3, 2, 6, 4], 24),
        "car": ([0, 10, 5, 10], 50),
        "bus": ([20, 0, 10, 4], 40),
    }
    assert [(p.code, p.field) for p in problems.items] == [("mask-unavailable", "m4")]
    assert "HTTP 404" in problems.items[0].message
    assert set(MaskServer.seen_auth) == {"Bearer s3cret"}
    assert MaskServer.seen_auth.count("Bearer s3cret") == 3  # the composite is fetched once


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(*[st.floats(-5, 105, allow_nan=False) | st.integers(-5, 105) for _ in range(2)]).flatmap(
            lambda xy: st.tuples(st.just(xy), *[st.floats(-1, 60, allow_nan=False) | st.integers(-1, 60)] * 2)
        ),
        min_size=1,
        max_size=6,
    ),
    st.booleans(),
)
def test_a_box_inside_its_image_is_built_as_the_general_box_path_builds_it(boxes, clip) -> None:
    """Plain pixel boxes take a short path (no Annotation in between): same entries, problems and counters as the
    general path (from_box, then _annotation) gives the same box; boxes at or past the edge take the general one."""
    shapes = [box("cup", x, y, w, h) for (x, y), w, h in boxes]
    options = BuildOptions(clip=clip)
    built, problems = run([row("a.jpg", *shapes)], index(("a.jpg", 100, 80)), options)
    general = _Builder(index(("a.jpg", 100, 80)), MaskSource(), options, want := Problems())
    # every box by _add_shape: from_box, then _annotation
    general._add_shapes = lambda found, image: [general._add_shape(s, image, None) for s in found]  # type: ignore[method-assign]
    general.add_row(row("a.jpg", *shapes))
    for annotation, name in zip(general.annotations, general.annotation_classes, strict=True):
        annotation["category_id"] = {"cup": 1}[name]
    assert built.coco["annotations"] == general.annotations
    assert problems.items == want.items
