"""Labelbox export v2 (`project.export()`): NDJSON, one data row per line, pixels from the top-left."""

from __future__ import annotations

import json
from collections import Counter
from itertools import chain
from operator import attrgetter
from typing import Any

import msgspec

from transferline.errors import InvalidInput
from transferline_converter.dataset import ImageIds, LabeledImage, MaskRef, Problems, ReadResult, Shape, Where
from transferline_converter.readers import ReadOptions
from transferline_converter.readers.common import (
    NOT_JSON,
    LongLine,
    RowError,
    answers,
    field,
    is_blank,
    json_kind,
    loads,
    loads_line,
    ndjson_lines,
    optional,
    stream_lines,
    url_file_name,
    xy_points,
)
from transferline_converter.readers.labelbox_legacy import (
    add_objects,
    first_problem,
    nested_answers,
    point_shape,
    tlhw_box,
)
from transferline_converter.readers.labelbox_plain import plain_row
from transferline_converter.sources import ExportFile, ExportSource

FORMAT = "labelbox-ndjson"
KIND_KEYS = {
    "ImageBoundingBox": "bounding_box",
    "ImagePolygon": "polygon",
    "ImagePolyline": "line",
    "ImagePoint": "point",
    "ImageSegmentationMask": "mask",
}
GEOMETRY_KEYS = ("bounding_box", "polygon", "line", "point", "mask", "composite_mask")
SUFFIXES = (".ndjson", ".jsonl", ".json")


def sniff(source: ExportSource) -> bool:
    """The first non-empty line of the one file is an object with a `data_row`."""
    file = source.single
    if file is None:
        return False
    line = _first_line(file)
    if isinstance(line, LongLine):  # too long to parse here; read() reports it as over the line limit
        head = line.head[:65536]  # the '"data_row"' looked for here comes after any blank space the line starts with
        return head.lstrip().startswith(b"{") and b'"data_row"' in head
    try:
        value = loads(line.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return False
    return isinstance(value, dict) and "data_row" in value


def read(source: ExportSource, options: ReadOptions, problems: Problems) -> ReadResult:
    file = source.one_file("Labelbox NDJSON export", *SUFFIXES)
    start = len(problems.items)
    images: list[LabeledImage] = []
    for row, line in ndjson_lines(file, problems):
        try:  # the usual row in one step; any other parsed and read field by field, saying what is off
            images.append(plain_row(line, row) or _row(loads_line(line), Where(row), problems))
        except RowError as err:
            err.record(problems)
        except NOT_JSON as exc:
            problems.error("malformed-row", f"not a JSON object: {exc}", Where(row))
    if not images:
        raise InvalidInput(f"{file.name}: no data row could be read{first_problem(problems, start)}")
    categories = list(dict.fromkeys(chain.from_iterable(map(LabeledImage.categories, images))))
    return ReadResult(FORMAT, images, categories, _name_rows(images))


def _name_rows(images: list[LabeledImage]) -> list[str]:
    """Each row's file name: its external_id, else (or when another row has the same external_id) its global key,
    else the storage name that row_data ends in; and a note when that differs from the URL's own name."""
    counts = Counter(map(attrgetter("ids.external_id"), images))
    named: Counter[str] = Counter()
    for image in images:
        ids = image.ids
        key = "external_id" if ids.external_id and counts[ids.external_id] == 1 else "global_key"
        name = getattr(ids, key)
        if name:
            if not (ids.url or "").split("?", 1)[0].endswith("/" + name):  # cheap: no URL parsing
                named[key] += 1
        else:
            name = url_file_name(ids.url)
        image.ids = msgspec.structs.replace(ids, file_name=name)
    if not named:
        return []
    said = " and ".join(f"{n} by data_row.{key}" for key, n in named.items())
    return [
        f"where no stored image gives the file name, rows are named by their Labelbox name ({said}) rather than the "
        "storage name that row_data ends in; row_data is kept as coco_url"
    ]


def _first_line(file: ExportFile) -> bytes | LongLine:
    """The first non-blank line, read from the start of the file only."""
    with file.open() as stream:
        return next((line for line in stream_lines(stream, whole=False) if not is_blank(line)), b"")


def _row(value: Any, where: Where, problems: Problems) -> LabeledImage:
    if not isinstance(value, dict):
        raise RowError(where, f"expected a data row object, got {json_kind(value)}")
    data_row = field(value, "data_row", dict, where)
    row_id = optional(data_row, "id", str, where.at("data_row"))
    where = Where(f"{where.row} (data row {row_id})") if row_id else where
    at = where.at("data_row")
    global_key, url = optional(data_row, "global_key", str, at), optional(data_row, "row_data", str, at)
    external_id = optional(data_row, "external_id", str, at)
    if not (global_key or url or external_id):
        raise RowError(at, "names no image: no global_key, row_data or external_id")
    # file_name is set once every row is read (_name_rows): the name a person gave the row, not the storage name.
    ids = ImageIds(global_key=global_key, url=url, external_id=external_id)
    image = LabeledImage(where, ids, *_size(value, where))
    picked = _pick_label(value, where, problems)
    if picked is not None:
        _read_label(*picked, image, problems)
    return image


def _size(value: dict[str, Any], where: Where) -> tuple[int | None, int | None]:
    media = optional(value, "media_attributes", dict, where) or {}
    at = where.at("media_attributes")
    mime = optional(media, "mime_type", str, at) or ""
    if mime.startswith("video/"):
        raise RowError(at.at("mime_type"), f"video rows are not images ({mime})")
    return _dimension(media, "width", at), _dimension(media, "height", at)


def _dimension(media: dict[str, Any], key: str, where: Where) -> int | None:
    value = optional(media, key, float, where)
    if value is None:
        return None
    if value <= 0 or value != int(value):
        raise RowError(where.at(key), f"expected a positive whole number of pixels, got {value:g}")
    return int(value)


def _pick_label(value: dict[str, Any], where: Where, problems: Problems) -> tuple[dict[str, Any], Where] | None:
    """The first label of the first project that has one; consensus or multi-project extras are reported."""
    found: list[tuple[Any, Where]] = []
    projects = optional(value, "projects", dict, where) or {}
    for project_id, project in projects.items():
        at = where.at("projects").at(project_id)
        found += [(label, at.at(f"labels[{i}]")) for i, label in enumerate(optional(project, "labels", list, at) or [])]
    if len(found) > 1:
        message = f"{len(found)} labels for one data row (consensus or several projects): kept the first, "
        problems.warning("duplicate-row", message + f"ignored {len(found) - 1}", where)
    if not found:
        return None
    label, at = found[0]
    if not isinstance(label, dict):
        raise RowError(at, f"expected a label object, got {json_kind(label)}")
    return label, at


def _read_label(label: dict[str, Any], where: Where, image: LabeledImage, problems: Problems) -> None:
    details = optional(label, "performance_details", dict, where) or {}
    if details.get("skipped") is True:
        image.skipped = True  # a skipped label may carry no annotations at all
        return
    annotations = field(label, "annotations", dict, where)
    at = where.at("annotations")
    if "frames" in annotations:
        raise RowError(at.at("frames"), "video rows are not images")
    add_objects(annotations, at, image, problems, _object, _answers)


def _object(obj: Any, where: Where, problems: Problems) -> Shape:
    if not isinstance(obj, dict):
        raise RowError(where, f"expected an object, got {json_kind(obj)}")
    category = _name(obj, where, "empty-class")
    shape = _geometry(obj, _geometry_key(obj, where), where)
    shape.category = category
    answers = nested_answers(obj, where, problems, _answers)
    if answers:
        shape.attributes["classifications"] = answers
    return shape


def _geometry_key(obj: dict[str, Any], where: Where) -> str:
    kind = optional(obj, "annotation_kind", str, where)
    wanted = KIND_KEYS.get(kind or "")
    if wanted in obj:
        return wanted
    # Lenient: when the kind is missing, unknown or disagrees, the geometry the object carries decides.
    key = next((k for k in GEOMETRY_KEYS if k in obj), None)
    if key is None:
        keys = ", ".join(sorted(str(k) for k in obj))
        raise RowError(
            where, f"annotation_kind {kind!r} with no geometry this reader knows (keys: {keys})", "unknown-geometry"
        )
    return key


def _geometry(obj: dict[str, Any], key: str, where: Where) -> Shape:
    if key == "bounding_box":
        return tlhw_box(obj, key, where)
    at = where.at(key)
    if key in ("polygon", "line"):
        return Shape("", "polygon" if key == "polygon" else "line", at, polygons=[xy_points(obj[key], at)])
    if key == "point":
        return point_shape(obj, key, where)
    value = field(obj, key, dict, where)
    url = field(value, "url", str, at)
    color = _color(field(value, "color_rgb", list, at), at.at("color_rgb")) if key == "composite_mask" else None
    return Shape("", "mask", at, mask=MaskRef(url=url, color=color))


def _color(value: list[Any], where: Where) -> tuple[int, int, int]:
    if len(value) != 3 or not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in value):
        raise RowError(where, f"expected [r, g, b] with each 0-255, got {json.dumps(value)[:40]}")
    return (value[0], value[1], value[2])


def _answers(items: list[Any], where: Where, problems: Problems) -> dict[str, Any]:
    """`[{name, radio_answer | checklist_answers | text_answer}]` as {question: answer or [answers]}."""
    # The name first: reading it checks that the item is an object.
    return answers(items, where, problems, lambda item, at: (_name(item, at), _answer(item, at)))


def _answer(item: dict[str, Any], where: Where) -> Any:
    if "radio_answer" in item:
        return _name(field(item, "radio_answer", dict, where), where.at("radio_answer"))
    if "checklist_answers" in item:
        options = field(item, "checklist_answers", list, where)
        return [_name(option, where.at(f"checklist_answers[{i}]")) for i, option in enumerate(options)]
    if "text_answer" in item:
        return field(field(item, "text_answer", dict, where), "content", str, where.at("text_answer"))
    raise RowError(where, "no radio_answer, checklist_answers or text_answer")


def _name(obj: Any, where: Where, code: str = "malformed-row") -> str:
    name = optional(obj, "name", str, where) or optional(obj, "value", str, where)
    if not name:
        raise RowError(where.at("name"), "no name or value", code)
    return name
