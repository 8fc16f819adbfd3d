"""Label Studio JSON export: a list of tasks, each with `data` naming its image and `annotations` holding regions.

Region coordinates are percents of the image (`original_width` x `original_height`), read as the normalised frame.
A rectangle with `rotation` turns clockwise about its top-left corner; it becomes a polygon, computed in pixels
(percent of width and percent of height are different units). Cancelled annotations (the labeller pressed Skip)
are not used; of several submitted annotations the first is used. Predictions are model output, never labels.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from transferline_converter.dataset import ImageIds, LabeledImage, Point, Problems, ReadResult, Shape, ShapeKind, Where
from transferline_converter.readers import ReadOptions
from transferline_converter.readers.common import (
    RowError,
    field,
    first_array_item,
    load_array,
    number,
    optional,
    turned_rectangle,
)
from transferline_converter.sources import ExportSource

FORMAT = "label-studio"
_REGIONS: dict[str, ShapeKind] = {
    "rectanglelabels": "box",
    "rectangle": "box",
    "polygonlabels": "polygon",
    "polygon": "polygon",
    "keypointlabels": "point",
    "keypoint": "point",
}
_BRUSH = {"brushlabels", "brush"}
_UNREAD = {"ellipselabels", "ellipse", "relation"}
_UPLOADED = re.compile(r"[0-9a-f]{8}-(.+)")  # Label Studio prefixes uploads with 8 hex digits and a dash
Regions = dict[str | int | None, list[Shape]]  # region id -> its shapes (one per label)
Answers = list[tuple[str | int | None, str, Any]]  # (region id, control name, answer)


def sniff(source: ExportSource) -> bool:
    file = source.single
    first = first_array_item(file) if file is not None and file.suffix == ".json" else None
    return isinstance(first, dict) and "data" in first and ("annotations" in first or "predictions" in first)


def read(source: ExportSource, options: ReadOptions, problems: Problems) -> ReadResult:
    file = source.one_file("Label Studio JSON export", ".json")
    tasks = load_array(file, "Label Studio JSON export is a list of tasks")
    images = []
    for index, task in enumerate(tasks):
        where = _task_where(task, index)
        try:
            image = _task(task, where, problems)
        except RowError as exc:
            exc.record(problems)
            continue
        if image is not None:
            images.append(image)
    return ReadResult(FORMAT, images)


def _task_where(task: Any, index: int) -> Where:
    identity = task.get("id") if isinstance(task, dict) else None
    return Where(f"task {identity}" if isinstance(identity, int | str) else f"task [{index}]")


def _task(task: Any, where: Where, problems: Problems) -> LabeledImage | None:
    data = field(task, "data", dict, where)
    image = LabeledImage(where, _image_ids(_image_value(data, where.at("data"))))
    annotations = optional(task, "annotations", list, where) or []
    submitted = [(i, a) for i, a in enumerate(annotations) if not (isinstance(a, dict) and a.get("was_cancelled"))]
    if not submitted:
        if annotations:
            image.skipped = True  # every annotation was cancelled: the labeller pressed Skip
            return image
        has = "only predictions" if task.get("predictions") else "no annotations"
        problems.info("row-skipped", f"task has {has}: never labelled, not used", where)
        return None
    index, chosen = submitted[0]
    if len(submitted) > 1:
        message = f"task has {len(submitted)} submitted annotations; annotations[{index}] was used"
        problems.warning("duplicate-row", message, where)
    _regions(chosen, where.at(f"annotations[{index}]"), image, problems)
    return image


def _image_value(data: dict[str, Any], where: Where) -> str:
    """`data.image`, or the task's only text value when the labelling config names the image otherwise."""
    if "image" in data:
        return field(data, "image", str, where)
    texts = [value for value in data.values() if isinstance(value, str)]
    if len(texts) != 1:
        raise RowError(where.at("image"), "task names no image (data.image)")
    return texts[0]


def _image_ids(value: str) -> ImageIds:
    """The URL as given, and the image's own file name: uploads lose their 8-digit prefix, local-file URLs
    name the file by its path under the storage root in `?d=` (kept whole: `train/1.jpg` and `val/1.jpg` are two
    images); a plain path is the file name itself."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return ImageIds(file_name=value)
    if "://" not in value and not value.startswith("/data/"):
        return ImageIds(file_name=value)
    if parts.path.startswith("/data/local-files"):
        local = parse_qs(parts.query).get("d", [""])[0].strip("/")  # parse_qs has unquoted it
        if local:
            return ImageIds(url=value, file_name=local)
    name = PurePosixPath(unquote(parts.path)).name
    upload = _UPLOADED.fullmatch(name) if parts.path.startswith("/data/upload/") else None
    return ImageIds(url=value, file_name=(upload.group(1) if upload else name) or None)


def _regions(annotation: Any, where: Where, image: LabeledImage, problems: Problems) -> None:
    """Shapes from region results; other results (choices, text, ratings) become attributes of the region with
    the same id, or of the image when they belong to no region."""
    results = field(annotation, "result", list, where)
    shapes: Regions = {}
    answers: Answers = []
    for index, item in enumerate(results):
        at = where.at(f"result[{index}]")
        try:
            _item(item, at, image, shapes, answers, problems)
        except RowError as exc:
            exc.record(problems)
    for region, name, answer in answers:
        for shape in shapes.get(region, []):
            shape.attributes[name] = answer
        if region is None or region not in shapes:
            image.attributes[name] = answer


def _item(item: Any, at: Where, image: LabeledImage, shapes: Regions, answers: Answers, problems: Problems) -> None:
    kind = field(item, "type", str, at)
    value = field(item, "value", dict, at)
    size = _size(item, at)
    if size and image.width is None:
        image.width, image.height = size
    if kind in _BRUSH:
        message = "brush masks are in Label Studio's own RLE, which is not read; region dropped"
        problems.warning("unsupported-shape", message, at)
        return
    geometry = _REGIONS.get(kind) or (_geometry_of(value) if kind == "labels" else None)
    if geometry is None:
        if kind in _UNREAD:
            raise RowError(at, f"{kind} regions are not read; region dropped", code="unknown-geometry")
        answers.append((_region_id(item), optional(item, "from_name", str, at) or kind, _answer(kind, value)))
        return
    template = _shape(geometry, value, size, at)
    for label in _labels(kind, value, at):
        shape = replace(template, category=label, attributes={})
        image.shapes.append(shape)
        if _region_id(item) is not None:
            shapes.setdefault(_region_id(item), []).append(shape)


def _region_id(item: dict[str, Any]) -> str | int | None:
    """The id tying a region to its per-region answers; anything else is no usable id."""
    value = item.get("id")
    return value if isinstance(value, str | int) and not isinstance(value, bool) else None


def _geometry_of(value: dict[str, Any]) -> ShapeKind | None:
    """What a generic `labels` result draws, from the keys its value carries."""
    if "points" in value:
        return "polygon"
    if "width" in value and "height" in value:
        return "box"
    return "point" if "x" in value and "y" in value else None


def _labels(kind: str, value: dict[str, Any], at: Where) -> list[str]:
    key = kind if kind.endswith("labels") else "labels"
    labels = optional(value, key, list, at.at("value"))
    if not labels:
        raise RowError(at.at(f"value.{key}"), "region has no label", code="empty-class")
    if not all(isinstance(label, str) for label in labels):
        raise RowError(at.at(f"value.{key}"), f"labels must be text, got {labels!r:.60}")
    return labels


def _shape(geometry: ShapeKind, value: dict[str, Any], size: tuple[int, int] | None, at: Where) -> Shape:
    v = at.at("value")
    if geometry == "polygon":
        return Shape("", "polygon", at, "normalized", polygons=[_points(field(value, "points", list, v), v)])
    x, y = field(value, "x", float, v) / 100, field(value, "y", float, v) / 100
    if geometry == "point":
        return Shape("", "point", at, "normalized", polygons=[[(x, y)]])
    w, h = field(value, "width", float, v) / 100, field(value, "height", float, v) / 100
    rotation = optional(value, "rotation", float, v) or 0.0
    if rotation % 360 == 0:
        return Shape("", "box", at, "normalized", box=(x, y, w, h))
    if size is None:
        raise RowError(at.at("original_width"), "a rotated rectangle needs original_width and original_height")
    return Shape("", "polygon", at, "normalized", polygons=[_rotated(x, y, w, h, rotation, size)])


def _rotated(x: float, y: float, w: float, h: float, degrees: float, size: tuple[int, int]) -> list[Point]:
    """A rectangle in normalised units turned about its top-left corner, done in pixels and brought back."""
    width, height = size
    pixels = (x * width, y * height, w * width, h * height)
    return [(px / width, py / height) for px, py in turned_rectangle(pixels, degrees, pixels[:2])]


def _points(value: list[Any], where: Where) -> list[Point]:
    ring = []
    for index, pair in enumerate(value):
        at = where.at(f"points[{index}]")
        if not isinstance(pair, list) or len(pair) != 2:
            raise RowError(at, f"expected an [x, y] pair, got {pair!r:.40}")
        ring.append((number(pair[0], at) / 100, number(pair[1], at) / 100))
    return ring


def _size(item: dict[str, Any], at: Where) -> tuple[int, int] | None:
    width = optional(item, "original_width", float, at)
    height = optional(item, "original_height", float, at)
    return (round(width), round(height)) if width and height and width > 0 and height > 0 else None


def _answer(kind: str, value: dict[str, Any]) -> Any:
    """The answer itself: `choices` for choices, `text` for a text area, `rating` for a rating, ..."""
    for key in (kind, "text"):
        if key in value:
            return value[key]
    return value
