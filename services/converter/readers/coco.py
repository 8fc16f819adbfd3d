"""COCO as an input export: one or more .json files, merged by image file name and category name.

Each file is checked first and its problems reported, except those the build step finds itself on the shapes it
gets (so none is reported twice). Shapes keep the file's geometry: polygons and masks, not bboxes, so the build
step measures every bbox and area from the shape, which also undoes flipped or stale bboxes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar

from transferline.errors import InvalidInput
from transferline_converter.checks import check_coco
from transferline_converter.coco_fields import good_id, is_key, numbers, points_of, read_bbox, read_rle, row_name
from transferline_converter.dataset import ImageIds, LabeledImage, MaskRef, Point, Problems, ReadResult, Shape, Where
from transferline_converter.readers import ReadOptions
from transferline_converter.readers.common import RowError, load_json, loads
from transferline_converter.sources import ExportFile, ExportSource

T = TypeVar("T")
FORMAT = "coco"
REBUILT = "the conversion rebuilds the bbox from the segmentation, so the output is consistent"
# Codes whose problem the conversion itself fixes: reported as warnings that say how.
FIXED_BY_CONVERSION = {
    "bbox-flipped": REBUILT,
    "bbox-polygon-mismatch": REBUILT,
    "bad-id": "the conversion numbers images and annotations itself",
    "area-mismatch": "the conversion measures the area from the shape",
}
# The build step checks the shapes it gets for these, and reports them there.
FOUND_BY_BUILD = {"degenerate-shape", "self-intersecting", "out-of-bounds", "image-unlabeled"}
SHAPE = "a JSON object with 'images' and 'annotations' lists"
Sized = tuple[LabeledImage, int, int]


def sniff(source: ExportSource) -> bool:
    try:
        return any(_is_coco(_parse(file)) for file in source.with_suffix(".json"))
    except Exception:  # sniffing never raises, whatever the files hold
        return False


def read(source: ExportSource, options: ReadOptions, problems: Problems) -> ReadResult:
    files, notes = [], []
    for file in source.with_suffix(".json"):
        data = load_json(file)
        if _is_coco(data):
            files.append((file.name, data))
        else:
            notes.append(f"{file.name} skipped: not a COCO file (an object with images and annotations lists)")
    if not files:
        raise InvalidInput(
            f"export {source.name} holds no COCO .json file (an object with images and annotations lists)"
        )
    images: dict[str, LabeledImage] = {}
    categories: list[str] = []
    for name, data in files:
        prefix = f"{name}: " if len(files) > 1 else ""
        _report_checks(data, prefix, problems)
        _add_file(data, prefix, images, categories, problems)
    return ReadResult(FORMAT, list(images.values()), categories, notes)


def _parse(file: ExportFile) -> Any:
    try:
        return loads(file.data.decode("utf-8-sig"))
    except (ValueError, RecursionError):
        return None


def _is_coco(data: Any) -> bool:
    return isinstance(data, dict) and isinstance(data.get("images"), list) and isinstance(data.get("annotations"), list)


def _report_checks(data: dict, prefix: str, problems: Problems) -> None:
    """`check_coco`'s problems, each row named with its file when there are several."""
    found = Problems(problems.keep)
    check_coco(data, found)
    for item in found.items:
        if item.code in FOUND_BY_BUILD:
            continue
        severity, message = item.severity, item.message
        if item.code in FIXED_BY_CONVERSION:
            severity, message = "warning", f"{message} ({FIXED_BY_CONVERSION[item.code]})"
        problems.add(severity, item.code, message, Where(prefix + item.row, item.field))
    listed = Counter(item.code for item in found.items)
    for code, count in found.counts.items():  # those past `keep` are counted, not listed
        if code not in FOUND_BY_BUILD:
            problems.counts[code] += count - listed[code]


def _add_file(
    data: dict, prefix: str, images: dict[str, LabeledImage], categories: list[str], problems: Problems
) -> None:
    names = _category_names(data.get("categories"))
    categories.extend(name for name in dict.fromkeys(names.values()) if name not in categories)
    by_id = _images(data["images"], prefix, images, problems)
    for index, ann in enumerate(data["annotations"]):
        if not isinstance(ann, dict):
            continue
        image, category = ann.get("image_id"), ann.get("category_id")
        target = by_id.get(image) if is_key(image) else None
        name = names.get(category) if is_key(category) else None
        if target is None or name is None:
            continue  # a bad reference, reported by check_coco
        shape = _shape(ann, name, target[1], target[2], Where(prefix + row_name("annotation", ann.get("id"), index)))
        if shape is not None:
            target[0].shapes.append(shape)


def _category_names(entries: Any) -> dict[Any, str]:
    """Category id -> name for named categories (the first of an id), in id order."""
    named = [
        (index, row["id"], row["name"])
        for index, row in enumerate(entries if isinstance(entries, list) else [])
        if isinstance(row, dict) and is_key(row.get("id")) and isinstance(row.get("name"), str) and row["name"].strip()
    ]
    named.sort(key=lambda item: (0, item[1], 0) if good_id(item[1]) else (1, 0, item[0]))
    names: dict[Any, str] = {}
    for _, ident, name in named:
        names.setdefault(ident, name)
    return names


def _images(entries: list, prefix: str, images: dict[str, LabeledImage], problems: Problems) -> dict[Any, Sized]:
    """Image id -> (image, width, height), merging images of the same file name; unusable images are left out."""
    by_id: dict[Any, Sized] = {}
    for index, row in enumerate(entries):
        if not isinstance(row, dict) or not is_key(ident := row.get("id")) or ident in by_id:
            continue
        name, width, height = row.get("file_name"), row.get("width"), row.get("height")
        if not isinstance(name, str) or not name or not good_id(width) or not good_id(height):
            continue  # reported by check_coco; without a name or size its shapes cannot be placed
        where = Where(prefix + row_name("image", ident, index))
        labeled = images.get(name)
        if labeled is None:
            url = row.get("coco_url") if isinstance(row.get("coco_url"), str) else None
            labeled = images[name] = LabeledImage(where, ImageIds(url=url, file_name=name), width, height)
        elif (labeled.width, labeled.height) != (width, height):
            message = f"{name} is {width}x{height} here but {labeled.width}x{labeled.height} in {labeled.where}"
            problems.warning("image-size-mismatch", message, where)
        by_id[ident] = (labeled, width, height)
    return by_id


def _shape(ann: dict, category: str, width: int, height: int, where: Where) -> Shape | None:
    """The annotation's segmentation as given (a mask or polygons), else its bbox; None when neither is readable
    (check_coco has said why)."""
    crowd = ann.get("iscrowd") == 1
    attributes = ann["attributes"] if isinstance(ann.get("attributes"), dict) else {}
    common: dict[str, Any] = {"iscrowd": crowd, "attributes": attributes, "frame": "top-left"}
    segmentation = ann.get("segmentation")
    if isinstance(segmentation, dict):  # compressed, counts as text, so the build step can decode it
        rle = _readable(lambda: read_rle(segmentation, (width, height), where))
        if rle is not None:
            return Shape(category, "mask", where, mask=MaskRef(rle=rle), **common)
    elif isinstance(segmentation, list):
        rings = [ring for item in segmentation if (ring := _points(item))]
        if rings:
            return Shape(category, "polygon", where, polygons=rings, **common)
    box = _readable(lambda: read_bbox(ann.get("bbox"), where))
    return None if box is None else Shape(category, "box", where, box=box, **common)


def _points(ring: Any) -> list[Point]:
    """A flat ring's points, however few (the build step reports degenerate ones); none when it is not numbers."""
    flat = _readable(lambda: numbers(ring, Where(""))) if isinstance(ring, list) else None
    if not flat or len(flat) % 2:
        return []
    return points_of(flat)


def _readable(read: Callable[[], T]) -> T | None:
    try:
        return read()
    except RowError:
        return None
