"""The COCO reader: merges files by image file name and category name, reads each shape kind, sniffs COCO only."""

from __future__ import annotations

import io
import json
import math
import zipfile
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from pycocotools import mask as rle_tools

from tests.support.labels import GtDataset, make_dataset
from tests.unit.converter.test_checks import coco_of, flip, flippable, hostile_cocos, rle_of
from transferline.errors import InvalidInput
from transferline_converter.checks import check_coco
from transferline_converter.convert import ConvertOptions, convert
from transferline_converter.dataset import Problems, ReadResult
from transferline_converter.images import ImageIndex
from transferline_converter.masks import MaskSource
from transferline_converter.readers import ReadOptions, detect
from transferline_converter.readers import coco as reader
from transferline_converter.sources import ExportFile, ExportSource


def source(*files: tuple[str, Any]) -> ExportSource:
    return ExportSource("export", [ExportFile(name, json.dumps(data).encode()) for name, data in files])


def read(*files: tuple[str, Any]) -> tuple[ReadResult, Problems]:
    problems = Problems()
    return reader.read(source(*files), ReadOptions(), problems), problems


def truth(dataset: GtDataset) -> dict[str, list]:
    """file name -> sorted (category, kind, geometry) of its objects."""
    return {
        image.file_name: sorted(
            (o.category, "polygon", [o.polygon]) if o.polygon else (o.category, "box", tuple(map(float, o.box)))
            for o in image.objects
        )
        for image in dataset.images
    }


def shapes(result: ReadResult) -> dict[str, list]:
    out = {}
    for image in result.images:
        assert image.ids.file_name is not None
        out[image.ids.file_name] = sorted(
            (s.category, s.kind, s.polygons if s.kind == "polygon" else s.box) for s in image.shapes
        )
    return out


def split_in_two(dataset: GtDataset) -> tuple[dict, dict]:
    """The dataset as two COCO files sharing one image (each holding some of its objects); the second numbers its
    categories (reversed) and images differently."""
    first, second = coco_of(dataset), coco_of(dataset)
    shared = len(dataset.images) // 2
    first["images"], second["images"] = first["images"][: shared + 1], second["images"][shared:]
    on_shared = [a["id"] for a in first["annotations"] if a["image_id"] == shared + 1]
    first["annotations"] = [
        a for a in first["annotations"] if a["image_id"] <= shared + 1 and a["id"] not in on_shared[1::2]
    ]
    second["annotations"] = [
        a for a in second["annotations"] if a["image_id"] > shared + 1 or a["id"] in on_shared[1::2]
    ]
    reverse = {c["id"]: len(second["categories"]) + 1 - c["id"] for c in second["categories"]}
    second["categories"] = sorted(({**c, "id": reverse[c["id"]]} for c in second["categories"]), key=lambda c: c["id"])
    second["categories"].append({"id": 9, "name": "lid"})
    second["images"] = [{**i, "id": 100 + i["id"]} for i in second["images"]]
    for annotation in second["annotations"]:
        annotation.update(category_id=reverse[annotation["category_id"]], image_id=100 + annotation["image_id"])
    return first, second


def test_one_file_reads_back_the_truth():
    dataset = make_dataset(seed=11, images=6)
    result, problems = read(("train.json", coco_of(dataset)))
    assert result.format == "coco" and problems.items == []
    assert shapes(result) == truth(dataset)
    assert result.categories == sorted(dataset.categories)  # truth_coco numbers categories in name order
    sizes = {i.ids.file_name: (i.width, i.height) for i in result.images}
    assert sizes == {i.file_name: (i.width, i.height) for i in dataset.images}
    assert all(s.frame == "top-left" and not s.iscrowd for i in result.images for s in i.shapes)


def test_two_files_merge_by_file_name_and_category_name():
    dataset = make_dataset(seed=12, images=6, categories=("bottle", "can", "cup", "jar"))
    first, second = split_in_two(dataset)
    ids = [{c["name"]: c["id"] for c in coco["categories"]} for coco in (first, second)]
    assert all(ids[0][name] != ids[1][name] for name in ids[0])  # the same names under other ids
    result, problems = read(("a.json", first), ("b.json", second))
    assert result.categories == ["bottle", "can", "cup", "jar", "lid"]
    assert shapes(result) == truth(dataset)
    assert len(result.images) == len(dataset.images)
    assert {i.where.row.split(":")[0] for i in result.images} == {"a.json", "b.json"}
    assert [p.code for p in problems.items if p.severity != "info"] == []


def test_the_same_image_in_two_files_with_different_sizes_is_reported():
    coco = coco_of(make_dataset(seed=13, images=2))
    other = json.loads(json.dumps(coco))
    other["images"][0]["width"] += 1
    other["annotations"] = []
    result, problems = read(("a.json", coco), ("b.json", other))
    assert [(p.code, p.row) for p in problems.items if p.code == "image-size-mismatch"] == [
        ("image-size-mismatch", "b.json: image id 1")
    ]
    assert result.images[0].width == coco["images"][0]["width"]


def test_each_shape_kind():
    bitmap = np.zeros((40, 30), dtype=np.uint8)
    bitmap[5:12, 3:20] = 1
    x, y, w, h = (float(v) for v in rle_tools.toBbox(rle_tools.encode(np.asfortranarray(bitmap))))
    base = {"image_id": 1, "category_id": 1, "area": float(bitmap.sum()), "bbox": [x, y, w, h]}
    coco = {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 30, "height": 40, "coco_url": "http://x/a.jpg"}],
        "categories": [{"id": 1, "name": "car"}],
        "annotations": [
            {**base, "id": 1, "iscrowd": 1, "segmentation": rle_of(bitmap, compressed=False)},
            {**base, "id": 2, "iscrowd": 0, "segmentation": rle_of(bitmap)},
            {**base, "id": 3, "iscrowd": 0, "segmentation": [[3, 5, 20, 5, 20, 12, 3, 12]], "area": 119},
            {**base, "id": 4, "iscrowd": 0, "bbox": [1, 2, 3, 4], "area": 12, "attributes": {"occluded": True}},
        ],
    }
    result, problems = read(("coco.json", coco))
    assert problems.items == []
    (image,) = result.images
    assert (image.ids.url, image.ids.file_name, image.width, image.height) == ("http://x/a.jpg", "a.jpg", 30, 40)
    crowd, mask, polygon, box = image.shapes
    assert [s.kind for s in image.shapes] == ["mask", "mask", "polygon", "box"]
    assert [s.iscrowd for s in image.shapes] == [True, False, False, False]
    for shape in (crowd, mask):
        assert shape.mask is not None and shape.mask.rle is not None
        assert isinstance(shape.mask.rle["counts"], str) and shape.mask.rle["size"] == [40, 30]
        assert np.array_equal(rle_tools.decode({**shape.mask.rle, "counts": shape.mask.rle["counts"].encode()}), bitmap)
    assert polygon.polygons == [[(3, 5), (20, 5), (20, 12), (3, 12)]]
    assert box.box == (1, 2, 3, 4) and box.attributes == {"occluded": True}
    assert [s.where.row for s in image.shapes] == [f"annotation id {i}" for i in range(1, 5)]


def test_flipped_bboxes_are_reported_and_the_shapes_are_right():
    dataset = make_dataset(seed=14, images=8)
    coco = coco_of(dataset)
    targets = flippable(coco)
    for annotation in targets:
        flip(coco, annotation)
    result, problems = read(("coco.json", coco))
    flipped = [p for p in problems.items if p.code == "bbox-flipped"]
    assert {p.row for p in flipped} == {f"annotation id {a['id']}" for a in targets}
    assert all(p.severity == "warning" and "rebuilds the bbox from the segmentation" in p.message for p in flipped)
    assert shapes(result) == truth(dataset)


def test_check_problems_keep_their_rows_and_bad_rows_are_left_out():
    coco = coco_of(make_dataset(seed=15, images=3))
    coco["annotations"][0]["image_id"] = 99
    coco["annotations"][1]["bbox"] = "none"
    coco["annotations"][1].pop("segmentation", None)
    coco["annotations"][2]["id"] = 0
    expected = Problems()
    check_coco(coco, expected)
    result, problems = read(("coco.json", coco))
    reported = [(p.code, p.row, p.field) for p in expected.items if p.code not in reader.FOUND_BY_BUILD]
    assert [(p.code, p.row, p.field) for p in problems.items] == reported
    assert {p.code: p.severity for p in problems.items}["bad-id"] == "warning"  # the conversion renumbers
    assert sum(len(i.shapes) for i in result.images) == len(coco["annotations"]) - 2


def test_shapes_keep_the_files_geometry_for_the_build_step_to_judge():
    coco = {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 50, "height": 40}],
        "categories": [{"id": 1, "name": "car"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [40, 30, 20, 20], "area": 400, "iscrowd": 0},
            {
                "id": 2,
                "image_id": 1,
                "category_id": 1,
                "bbox": [1, 1, 2, 2],
                "segmentation": [[0, 0, 9, 9, 9, 0, 0, 9]],
            },
            {"id": 3, "image_id": 1, "category_id": 1, "bbox": [1, 1, 2, 2], "segmentation": [[1, 2, 3, 4]]},
            {"id": 4, "image_id": 1, "category_id": 1, "bbox": [1, 1, 2, 2], "segmentation": [[1, "x", 3, 4, 5, 6]]},
        ],
    }
    result, problems = read(("coco.json", coco))
    out, bowtie, two_points, fallback = result.images[0].shapes
    assert out.box == (40, 30, 20, 20) and bowtie.polygons == [[(0, 0), (9, 9), (9, 0), (0, 9)]]
    assert two_points.polygons == [[(1, 2), (3, 4)]] and (fallback.kind, fallback.box) == ("box", (1, 1, 2, 2))
    assert not {p.code for p in problems.items} & reader.FOUND_BY_BUILD  # reported by the build step instead
    assert ("malformed-row", "annotation id 4", "segmentation[0][1]") in {
        (p.code, p.row, p.field) for p in problems.items
    }


@settings(max_examples=150, deadline=None)
@given(hostile_cocos())
def test_hostile_coco_is_read_without_raising(coco):
    if not reader._is_coco(coco):
        assert not reader.sniff(source(("x.json", coco)))
        return
    result, problems = read(("x.json", coco))
    count = sum(len(image.shapes) for image in result.images)
    assert count <= len(coco["annotations"])
    for shape in (s for image in result.images for s in image.shapes):
        values = [c for ring in shape.polygons for point in ring for c in point] + list(shape.box or ())
        assert all(math.isfinite(v) for v in values) and (shape.kind != "mask" or shape.mask is not None)
    if problems.count("error") == 0:
        assert count == len(coco["annotations"])


# ---- sniff ----


def test_sniff_recognises_coco_files_in_a_file_a_folder_or_a_zip():
    coco = coco_of(make_dataset(seed=16, images=2))
    assert reader.sniff(source(("train.json", coco)))
    assert reader.sniff(source(("a/train.json", coco), ("a/val.json", coco), ("a/readme.txt", "x")))
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w") as archive:
        archive.writestr("export/annotations.json", json.dumps(coco))
        archive.writestr("export/images/a.jpg", b"\xff\xd8")
    assert reader.sniff(ExportSource.from_bytes("export.zip", packed.getvalue()))
    assert detect(source(("train.json", coco))) == "coco"


@pytest.mark.parametrize(
    "files",
    [
        [("export.json", [{"ID": "l1", "Label": {"objects": []}}])],  # Labelbox legacy: an array
        [("export.json", {"images": [], "categories": []})],  # no annotations list
        [("export.json", {"images": {}, "annotations": []})],
        [("labels.ndjson", {"images": [], "annotations": []})],  # not a .json file
        [("a.xml", "<annotation/>")],
    ],
)
def test_sniff_refuses_what_is_not_coco(files):
    assert not reader.sniff(source(*files))


def test_sniff_survives_broken_files_and_read_names_them():
    broken = ExportSource("export", [ExportFile("a.json", b'{"images": ['), ExportFile("b.json", b"\xff\xfe")])
    assert not reader.sniff(broken)
    with pytest.raises(InvalidInput, match=r"a\.json is not valid JSON"):
        reader.read(broken, ReadOptions(), Problems())
    with pytest.raises(InvalidInput, match=r"holds no COCO \.json file"):
        reader.read(source(("a.json", [1])), ReadOptions(), Problems())


def test_a_flipped_coco_converts_to_the_true_boxes(tmp_path):
    """End to end: the build step measures boxes from the polygons, so the flipped bboxes do not reach the output."""
    dataset = make_dataset(seed=17, images=6)
    coco = coco_of(dataset)
    targets = flippable(coco)
    for annotation in targets:
        flip(coco, annotation)
    images = dataset.write_images(tmp_path / "images")
    result = convert([source(("coco.json", coco))], ImageIndex.from_folder(images), MaskSource(), ConvertOptions())
    assert result.failure is None
    files = {i["id"]: i["file_name"] for i in result.coco["images"]}
    names = {c["id"]: c["name"] for c in result.coco["categories"]}
    got = sorted((files[a["image_id"]], names[a["category_id"]], *a["bbox"]) for a in result.coco["annotations"])
    expected = sorted((i.file_name, o.category, *map(float, o.box)) for i in dataset.images for o in i.objects)
    assert got == expected and targets
