"""The recorder's per-image work, without TensorFlow: pass-through or re-encoding, sizes, boxes, masks, label map."""

from __future__ import annotations

import hashlib
import io
import re
from typing import Any

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as rle_tools
from shapely.geometry import Polygon

from tests.support.labels import GtImage
from transferline_recorder.encode import Encoded, EncodeOptions, SkipImage, encode
from transferline_recorder.label_map import label_map

NAMES = {1: "bottle", 2: "can"}
RED, BLUE = (255, 0, 0), (0, 0, 255)


def entry(width: int, height: int, image_id: int = 7) -> dict[str, Any]:
    return {"id": image_id, "file_name": f"img_{image_id}.jpg", "width": width, "height": height}


def saved(picture: Image.Image, kind: str, **params: Any) -> bytes:
    out = io.BytesIO()
    picture.save(out, kind, **params)
    return out.getvalue()


def opened(data: bytes) -> Image.Image:
    picture = Image.open(io.BytesIO(data))
    picture.load()
    return picture


def box(x: float, y: float, w: float, h: float, category: int = 1, **extra: Any) -> dict[str, Any]:
    return {"bbox": [x, y, w, h], "category_id": category, "area": w * h, "iscrowd": 0, **extra}


def mask_of(item: Encoded, index: int = 0) -> np.ndarray:
    picture = opened(item.masks[index])
    assert picture.format == "PNG" and picture.getbands() == ("L",)  # one channel
    bitmap = np.asarray(picture)
    assert set(np.unique(bitmap)) <= {0, 1}
    return bitmap


# --- the image --------------------------------------------------------------------------------------------------


def test_a_jpeg_passes_through_byte_for_byte() -> None:
    data = GtImage("a.jpg", 120, 80, seed=1).jpeg()
    item = encode(entry(120, 80), [], NAMES, data, EncodeOptions())
    assert item.image == data and not item.reencoded
    assert (item.format, item.width, item.height, item.source_id) == ("jpeg", 120, 80, "7")
    assert item.sha256 == hashlib.sha256(data).hexdigest()


def test_a_png_passes_through_as_png() -> None:
    data = saved(Image.new("RGB", (50, 30), RED), "PNG")
    item = encode(entry(50, 30), [], NAMES, data, EncodeOptions())
    assert item.image == data and not item.reencoded and item.format == "png"


def test_a_max_side_the_image_already_fits_keeps_the_original() -> None:
    data = GtImage("a.jpg", 120, 80, seed=1).jpeg()
    item = encode(entry(120, 80), [], NAMES, data, EncodeOptions(max_side=120))
    assert item.image == data and not item.reencoded


def test_an_exif_rotated_jpeg_is_reencoded_upright_at_its_displayed_size() -> None:
    stored = Image.new("RGB", (40, 20), RED)  # stored 40 wide, 20 high: left half red, right half blue
    stored.paste(BLUE, (20, 0, 40, 20))
    exif = stored.getexif()
    exif[0x0112] = 6  # shown turned 90 degrees clockwise: 20 wide, 40 high, the left half on top
    data = saved(stored, "JPEG", exif=exif, quality=95)
    item = encode(entry(20, 40), [box(0, 0, 20, 20)], NAMES, data, EncodeOptions(include_masks=True))
    assert item.reencoded and item.format == "jpeg" and (item.width, item.height) == (20, 40)
    upright = opened(item.image)
    assert upright.format == "JPEG" and upright.size == (20, 40)
    assert upright.getexif().get(0x0112) in (None, 1)  # nothing left to turn it again
    top, bottom = np.asarray(upright.convert("RGB"))[5, 10], np.asarray(upright.convert("RGB"))[35, 10]
    assert top[0] > 200 > top[2] and bottom[2] > 200 > bottom[0]
    assert (item.xmin, item.ymin, item.xmax, item.ymax) == ([0.0], [0.0], [1.0], [0.5])
    assert mask_of(item).shape == (40, 20)


@pytest.mark.parametrize("kind", ["WEBP", "BMP", "GIF", "TIFF"])
def test_other_formats_are_reencoded_to_jpeg(kind: str) -> None:
    data = saved(Image.new("RGB", (64, 48), BLUE), kind)
    item = encode(entry(64, 48), [box(8, 8, 16, 16)], NAMES, data, EncodeOptions())
    assert item.reencoded and item.format == "jpeg" and item.image != data
    picture = opened(item.image)
    assert (picture.format, picture.mode, picture.size) == ("JPEG", "RGB", (64, 48))
    assert (item.width, item.height) == (64, 48)


def test_an_rgba_png_becomes_an_rgb_jpeg_only_when_it_must_change() -> None:
    data = saved(Image.new("RGBA", (200, 100), (*RED, 128)), "PNG")
    assert encode(entry(200, 100), [], NAMES, data, EncodeOptions()).image == data
    item = encode(entry(200, 100), [], NAMES, data, EncodeOptions(max_side=100))
    assert opened(item.image).mode == "RGB" and item.format == "jpeg"


def test_max_side_shrinks_the_image_and_keeps_boxes_and_masks_in_step() -> None:
    data = GtImage("a.jpg", 200, 100, seed=2).jpeg()
    objects = [box(20, 10, 60, 40), box(150, 50, 50, 50, category=2)]
    full = encode(entry(200, 100), objects, NAMES, data, EncodeOptions(include_masks=True))
    small = encode(entry(200, 100), objects, NAMES, data, EncodeOptions(include_masks=True, max_side=50))
    assert small.reencoded and (small.width, small.height) == (50, 25)
    assert opened(small.image).size == (50, 25)
    for key in ("xmin", "xmax", "ymin", "ymax", "labels", "texts", "crowd", "areas"):
        assert getattr(small, key) == getattr(full, key), key
    assert mask_of(small).shape == (25, 50)
    bitmap = mask_of(small)  # the first box, a quarter the size: x 5..20, y 2.5..12.5
    assert bitmap[3:12, 5:20].all() and bitmap.sum() == pytest.approx(15 * 10, abs=15 + 10)


def test_a_size_that_disagrees_with_the_coco_entry_is_skipped_naming_both() -> None:
    data = GtImage("a.jpg", 64, 48, seed=3).jpeg()
    with pytest.raises(SkipImage, match=r"64x48.*100x48"):
        encode(entry(100, 48), [], NAMES, data, EncodeOptions())


def test_an_exif_rotated_jpeg_is_checked_at_its_displayed_size() -> None:
    stored = Image.new("RGB", (40, 20))
    exif = stored.getexif()
    exif[0x0112] = 8
    with pytest.raises(SkipImage, match=r"20x40.*40x20"):
        encode(entry(40, 20), [], NAMES, saved(stored, "JPEG", exif=exif), EncodeOptions())


JPEG = GtImage("a.jpg", 120, 90, seed=4).jpeg()


@pytest.mark.parametrize(
    "data",
    [b"", b"not an image at all", b"\xff\xd8\xff\xe0 a jpeg header, nothing more", JPEG[:200], JPEG[: len(JPEG) // 2]],
    ids=["empty", "text", "bare-header", "cut-in-header", "cut-in-scan"],
)
def test_unreadable_bytes_are_skipped(data: bytes) -> None:
    # A JPEG cut inside its scan data has a readable header; it must still be refused, since TensorFlow's
    # decode_image fails on it ("Invalid JPEG data") and would stop training, not skip the image.
    with pytest.raises(SkipImage, match="not a readable image"):
        encode(entry(120, 90), [], NAMES, data, EncodeOptions())


def photo(width: int = 160, height: int = 120, seed: int = 9) -> Image.Image:
    """Smooth colour plus grain: entropy data throughout, as in a photograph."""
    rng = np.random.default_rng(seed)
    coarse = Image.fromarray(rng.integers(0, 256, size=(6, 8, 3), dtype=np.uint8)).resize((width, height))
    grain = rng.normal(0, 12, size=(height, width, 3))
    return Image.fromarray(np.clip(np.asarray(coarse, dtype=np.int16) + grain, 0, 255).astype(np.uint8))


JPEG_KINDS = {
    "baseline": {"quality": 90},
    "progressive": {"quality": 90, "progressive": True},
    "optimized-huffman": {"quality": 90, "optimize": True},
    "restart-markers": {"quality": 90, "restart_marker_blocks": 4},
    "4:4:4": {"quality": 90, "subsampling": 0},
    "grey": {"quality": 90, "mode": "L"},
}


def jpeg_of(kind: str) -> bytes:
    params = dict(JPEG_KINDS[kind])
    return saved(photo().convert(params.pop("mode", "RGB")), "JPEG", **params)


@pytest.mark.parametrize("kind", JPEG_KINDS)
@pytest.mark.parametrize("kept", [0.5, 0.9])
def test_verify_pixels_refuses_a_jpeg_cut_short_with_its_end_marker_put_back(kind: str, kept: float) -> None:
    data = jpeg_of(kind)
    cut = data[: int(len(data) * kept)] + b"\xff\xd9"
    opened(cut)  # why only a full check can tell: Pillow (and TensorFlow) decode it, the rest of it grey
    assert not encode(entry(160, 120), [], NAMES, cut, EncodeOptions()).reencoded  # the end marker is all it checks
    with pytest.raises(SkipImage, match="not a readable image"):
        encode(entry(160, 120), [], NAMES, cut, EncodeOptions(verify_pixels=True))


@pytest.mark.parametrize("kind", JPEG_KINDS)
def test_verify_pixels_keeps_a_whole_jpeg_as_it_is(kind: str) -> None:
    data = jpeg_of(kind)
    item = encode(entry(160, 120), [], NAMES, data + b"\0" * 8, EncodeOptions(verify_pixels=True))
    assert item.image == data + b"\0" * 8 and not item.reencoded
    png = saved(photo(), "PNG")
    assert encode(entry(160, 120), [], NAMES, png, EncodeOptions(verify_pixels=True)).image == png


# --- boxes and per-object fields --------------------------------------------------------------------------------


def test_boxes_are_normalised_by_the_coco_size() -> None:
    width, height = 160, 90
    objects = [
        box(16, 9, 32, 45),
        box(0.5, 1.25, 159.5, 88.75, category=2, iscrowd=1, area=1234.5),
        {"bbox": [10, 20, 30, 40], "category_id": 1},  # no area, no iscrowd
    ]
    data = GtImage("a.jpg", width, height, seed=5).jpeg()
    item = encode(entry(width, height), objects, NAMES, data, EncodeOptions())
    assert item.xmin == [o["bbox"][0] / width for o in objects]
    assert item.ymin == [o["bbox"][1] / height for o in objects]
    assert item.xmax == [(o["bbox"][0] + o["bbox"][2]) / width for o in objects]
    assert item.ymax == [(o["bbox"][1] + o["bbox"][3]) / height for o in objects]
    assert item.labels == [1, 2, 1] and item.texts == ["bottle", "can", "bottle"]
    assert item.crowd == [0, 1, 0]
    assert item.areas == [32 * 45, 1234.5, 30 * 40]
    assert item.masks == []  # only with include_masks


# --- masks ------------------------------------------------------------------------------------------------------


def uncompressed_rle(bitmap: np.ndarray) -> dict[str, Any]:
    """COCO's uncompressed RLE: run lengths over the column-major pixels, starting with a run of zeros."""
    flat = bitmap.flatten(order="F")
    counts, current, run = [], 0, 0
    for value in flat:
        if value != current:
            counts.append(run)
            current, run = value, 0
        run += 1
    counts.append(run)
    return {"size": list(bitmap.shape), "counts": [int(c) for c in counts]}


def blob(width: int, height: int) -> np.ndarray:
    """An irregular shape: a disc with a notch cut out."""
    ys, xs = np.mgrid[:height, :width]
    bitmap = ((xs - width / 2) ** 2 + (ys - height / 2) ** 2 < (min(width, height) / 3) ** 2).astype(np.uint8)
    bitmap[: height // 2, width // 2 : width // 2 + 3] = 0
    return bitmap


def test_a_polygon_mask_is_the_pycocotools_rasterisation() -> None:
    width, height = 80, 64
    polygon = [[10.0, 10.0, 60.0, 15.0, 70.0, 50.0, 30.0, 55.0, 12.5, 40.0], [2.0, 2.0, 8.0, 2.0, 5.0, 7.0]]
    rle = rle_tools.merge(rle_tools.frPyObjects(polygon, height, width))
    shoelace = sum(Polygon(list(zip(r[0::2], r[1::2], strict=True))).area for r in polygon)
    annotation = box(2, 2, 68, 53, segmentation=polygon, area=shoelace)
    item = encode(entry(width, height), [annotation], NAMES, _blank(width, height), EncodeOptions(include_masks=True))
    bitmap = mask_of(item)
    assert bitmap.shape == (height, width)
    assert np.array_equal(bitmap, rle_tools.decode(rle))
    assert bitmap.sum() == rle_tools.area(rle)
    assert bitmap.sum() == pytest.approx(shoelace, rel=0.1)  # the same shape, up to rasterisation


def test_compressed_and_uncompressed_rle_masks_decode_to_the_same_bitmap() -> None:
    width, height = 50, 40
    bitmap = blob(width, height)
    compressed = rle_tools.encode(np.asfortranarray(bitmap))
    as_text = {"size": compressed["size"], "counts": compressed["counts"].decode()}  # how COCO JSON holds it
    objects = [
        box(0, 0, width, height, segmentation=as_text, iscrowd=1),
        box(0, 0, width, height, segmentation=uncompressed_rle(bitmap), iscrowd=1),
    ]
    item = encode(entry(width, height), objects, NAMES, _blank(width, height), EncodeOptions(include_masks=True))
    for index in range(2):
        assert np.array_equal(mask_of(item, index), bitmap)
        assert mask_of(item, index).sum() == rle_tools.area(compressed)
    assert item.crowd == [1, 1]


@pytest.mark.parametrize("segmentation", [None, []], ids=["absent", "empty"])
def test_a_box_without_a_shape_is_its_own_mask(segmentation: list[Any] | None) -> None:
    width, height = 60, 40
    annotation = box(5, 6, 20, 10) if segmentation is None else box(5, 6, 20, 10, segmentation=segmentation)
    item = encode(entry(width, height), [annotation], NAMES, _blank(width, height), EncodeOptions(include_masks=True))
    bitmap = mask_of(item)
    assert bitmap.sum() == 20 * 10 and bitmap[6:16, 5:25].all()


def test_a_box_mask_past_the_image_edge_is_clipped_to_the_image() -> None:
    width, height = 60, 40
    objects = [box(-5, -4, 15, 10), box(50, 30, 20, 20), box(-30, 5, 10, 10)]  # the last lies wholly outside
    item = encode(entry(width, height), objects, NAMES, _blank(width, height), EncodeOptions(include_masks=True))
    top_left, bottom_right, outside = (mask_of(item, i) for i in range(3))
    assert top_left.sum() == 10 * 6 and top_left[:6, :10].all()
    assert bottom_right.sum() == 10 * 10 and bottom_right[30:, 50:].all()
    assert outside.sum() == 0


def test_one_mask_per_object_in_annotation_order() -> None:
    width, height = 60, 40
    objects = [box(0, 0, 10, 10), box(30, 20, 5, 5), box(1, 1, 2, 2)]
    item = encode(entry(width, height), objects, NAMES, _blank(width, height), EncodeOptions(include_masks=True))
    assert [mask_of(item, i).sum() for i in range(3)] == [100, 25, 4]


def _blank(width: int, height: int) -> bytes:
    return saved(Image.new("RGB", (width, height)), "PNG")


# --- label map --------------------------------------------------------------------------------------------------

ITEM = re.compile(r'item \{\n  id: (\d+)\n  name: ("(?:[^"\\\n]|\\.)*")\n  display_name: ("(?:[^"\\\n]|\\.)*")\n\}\n')
ESCAPE = re.compile(rb"\\([0-7]{1,3}|x[0-9a-fA-F]{1,2}|.)")
SIMPLE = {b"n": b"\n", b"t": b"\t", b"r": b"\r", b"a": b"\a", b"b": b"\b", b"f": b"\f", b"v": b"\v"}


def unquote(literal: str) -> str:
    """A protobuf text-format string literal's value (C escapes, octal and hex bytes; the text as UTF-8)."""

    def one(match: re.Match[bytes]) -> bytes:
        code = match.group(1)
        if code[:1].isdigit():
            return bytes([int(code, 8)])
        if code[:1] == b"x":
            return bytes([int(code[1:], 16)])
        return SIMPLE.get(code, code)

    assert literal[0] == literal[-1] == '"'
    return ESCAPE.sub(one, literal[1:-1].encode("utf-8")).decode("utf-8")


def parse_label_map(text: str) -> list[tuple[int, str, str]]:
    items = [(int(m[1]), unquote(m[2]), unquote(m[3])) for m in ITEM.finditer(text)]
    assert "".join(m[0] for m in ITEM.finditer(text)) == text  # nothing the pattern did not account for
    return items


CATEGORIES: list[dict[str, Any]] = [
    {"id": 3, "name": 'say "hi"'},
    {"id": 1, "name": "bottle"},
    {"id": 2, "name": "back\\slash and 'single' quotes"},
    {"id": 4, "name": "café 瓶 🍺 tab\there"},
]
EXPECTED = [(c["id"], c["name"], c["name"]) for c in sorted(CATEGORIES, key=lambda c: c["id"])]


def test_label_map_parses_back_with_ids_in_order_and_names_escaped() -> None:
    text = label_map(CATEGORIES)
    assert parse_label_map(text) == EXPECTED
    assert 'name: "say \\"hi\\""' in text and 'name: "back\\\\slash' in text
    assert text.isascii()  # any reader's encoding will do
    assert label_map([]) == ""


def test_label_map_is_what_protobuf_reads() -> None:
    pytest.importorskip("google.protobuf")
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format

    # object_detection's StringIntLabelMap, declared here: the OD API is not installed.
    proto = descriptor_pb2.FileDescriptorProto(name="label_map_test.proto", package="label_map_test")
    item = proto.message_type.add(name="StringIntLabelMapItem")
    for number, (field_name, kind) in enumerate(
        [("name", "TYPE_STRING"), ("id", "TYPE_INT32"), ("display_name", "TYPE_STRING")], start=1
    ):
        item.field.add(name=field_name, number=number, type=getattr(descriptor_pb2.FieldDescriptorProto, kind))
    items = proto.message_type.add(name="StringIntLabelMap")
    items.field.add(
        name="item",
        number=1,
        type=descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE,
        label=descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED,
        type_name=".label_map_test.StringIntLabelMapItem",
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    message = message_factory.GetMessageClass(pool.FindMessageTypeByName("label_map_test.StringIntLabelMap"))()
    text_format.Parse(label_map(CATEGORIES), message)
    assert [(i.id, i.name, i.display_name) for i in message.item] == EXPECTED
