"""Labelbox's legacy JSON export (Export V1): a JSON array with one object per label.

Two generations share the file. Since 2019 `Label` is `{objects, classifications}` in pixels from the top-left.
The 2018 editors wrote `Label` as class name -> geometry (WKT text or x/y lists), with y measured up from the bottom
of the image until 2018-10-15 and from the top since (`labelbox_origin` decides per row); those shapes keep their
frame here and `build` flips the bottom-left ones once it knows each image's height.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from transferline.errors import InvalidInput
from transferline_converter.dataset import (
    Frame,
    ImageIds,
    LabeledImage,
    MaskRef,
    Point,
    Problems,
    ReadResult,
    Shape,
    Where,
)
from transferline_converter.readers import ReadOptions
from transferline_converter.readers.common import (
    RowError,
    answers,
    field,
    first_array_item,
    json_kind,
    load_array,
    optional,
    url_file_name,
    xy_points,
)
from transferline_converter.readers.labelbox_origin import Origins
from transferline_converter.sources import ExportSource

FORMAT = "labelbox-json"
BOX_KEYS = ("left", "top", "width", "height")  # a Shape's box order
PLAIN_NUMBERS = {float, int}
OBJECT_FORM_KEYS = {"objects", "classifications", "relationships"}
# A 2018 label value is WKT only when it starts with a geometry type; other text is a classification answer.
WKT_START = re.compile(r"\s*(MULTI)?(POINT|LINESTRING|POLYGON)\b|\s*(GEOMETRYCOLLECTION|LINEARRING)\b", re.I)
NAN_WORD = re.compile(r"\b(nan|inf|infinity)\b", re.I)


def sniff(source: ExportSource) -> bool:
    """One .json file holding an array whose first element is a label row (only that element is parsed)."""
    file = source.single
    first = first_array_item(file) if file is not None and file.suffix == ".json" else None
    return isinstance(first, dict) and "Label" in first and ("Labeled Data" in first or "ID" in first)


def read(source: ExportSource, options: ReadOptions, problems: Problems) -> ReadResult:
    file = source.one_file("Labelbox JSON export", ".json")
    rows = load_array(file, "Labelbox JSON export is an array of label rows")
    origins = Origins(options.legacy_y_origin, problems)
    start = len(problems.items)
    images: list[LabeledImage] = []
    for index, row in enumerate(rows, start=1):
        where = _row_where(index, row)
        try:
            images.append(_read_row(row, index, where, origins, problems))
        except RowError as err:
            err.record(problems)
    if not images:
        raise InvalidInput(f"{file.name}: no label row could be read{first_problem(problems, start)}")
    notes = [note] if (note := origins.note(len(rows))) else []
    categories = list(dict.fromkeys(shape.category for image in images for shape in image.shapes))
    return ReadResult(FORMAT, images, categories, notes)


def tlhw_box(obj: dict[str, Any], key: str, where: Where) -> Shape:
    """A `{top, left, height, width}` box (both Labelbox exports) as a top-left-frame box shape, class unset."""
    at = where.at(key)
    value = obj.get(key)
    box = plain_numbers(value, BOX_KEYS) if type(value) is dict else None
    if box is None:  # something is off: read it field by field, so the error names the field
        value = field(obj, key, dict, where)
        box = tuple(field(value, name, float, at) for name in BOX_KEYS)
    return Shape("", "box", at, box=box)  # type: ignore[arg-type]  # four numbers, in BOX_KEYS order


def plain_numbers(value: dict[str, Any], keys: tuple[str, ...]) -> tuple[float, ...] | None:
    """`value[key]` for each key as floats when every one is a plain finite JSON number, checked in one go (the
    usual case: boxes are most of a large export); None when any is not, for the caller's checked reading."""
    raw: list[Any] = list(map(value.get, keys))
    if not set(map(type, raw)) <= PLAIN_NUMBERS:  # type(), not isinstance: bool and HugeNumber are not plain
        return None
    try:
        numbers = tuple(map(float, raw))
    except OverflowError:
        return None
    return numbers if math.isfinite(sum(numbers)) else None


def nested_answers(
    container: dict[str, Any],
    where: Where,
    problems: Problems,
    read_answers: Callable[[list[Any], Where, Problems], dict[str, Any]],
) -> dict[str, Any]:
    """The `classifications` of an object or a label, read by `read_answers`; {} when there are none."""
    items = optional(container, "classifications", list, where)
    return read_answers(items, where.at("classifications"), problems) if items else {}


def point_shape(obj: dict[str, Any], key: str, where: Where) -> Shape:
    """An `{x, y}` point as a point shape (kept so `build` can report it as unsupported), class unset."""
    at = where.at(key)
    value = field(obj, key, dict, where)
    return Shape("", "point", at, polygons=[[(field(value, "x", float, at), field(value, "y", float, at))]])


def _row_where(index: int, row: Any) -> Where:
    label_id = row.get("ID") if isinstance(row, dict) else None
    return Where(f"row {index} (ID {label_id})" if isinstance(label_id, str) else f"row {index}")


def _read_row(row: Any, number: int, where: Where, origins: Origins, problems: Problems) -> LabeledImage:
    if not isinstance(row, dict):
        raise RowError(where, f"expected a label object, got {json_kind(row)}")
    url = optional(row, "Labeled Data", str, where)
    external_id = optional(row, "External ID", str, where)
    if not (url or external_id):
        raise RowError(where.at("Labeled Data"), "missing, and no External ID names the image either")
    image = LabeledImage(where, ImageIds(url=url, external_id=external_id, file_name=url_file_name(url)))
    if "Label" not in row:
        raise RowError(where.at("Label"), "missing")
    label, at = row["Label"], where.at("Label")
    if label == "Skip" or optional(row, "Skipped", bool, where):
        image.skipped = True
        return image
    if label is None or label == {}:
        return image  # opened and submitted with nothing drawn: a background image
    if not isinstance(label, dict):
        raise RowError(at, f'expected an object or "Skip", got {json_kind(label)}')
    if OBJECT_FORM_KEYS & label.keys():
        _read_objects(label, at, image, problems)
    else:
        _read_2018(label, at, origins.frame(row, number, where), image, problems)
    return image


def _read_objects(label: dict[str, Any], where: Where, image: LabeledImage, problems: Problems) -> None:
    add_objects(label, where, image, problems, _object, _answers)


def add_objects(
    container: dict[str, Any],
    where: Where,
    image: LabeledImage,
    problems: Problems,
    read_object: Callable[[Any, Where, Problems], Shape],
    read_answers: Callable[[list[Any], Where, Problems], dict[str, Any]],
) -> None:
    """`objects` and `classifications` (both Labelbox exports): a broken object is recorded, the rest kept."""
    for index, obj in enumerate(optional(container, "objects", list, where) or []):
        try:
            image.shapes.append(read_object(obj, where.at(f"objects[{index}]"), problems))
        except RowError as err:
            err.record(problems)
    answers = nested_answers(container, where, problems, read_answers)
    if answers:
        image.attributes["classifications"] = answers


def _object(obj: Any, where: Where, problems: Problems) -> Shape:
    if not isinstance(obj, dict):
        raise RowError(where, f"expected an object, got {json_kind(obj)}")
    # `title` is the class name a person typed in the ontology, `value` its generated slug; title matches the
    # NDJSON export's `name`, so both Labelbox readers name classes alike.
    category = optional(obj, "title", str, where) or optional(obj, "value", str, where)
    if not category:
        raise RowError(where.at("title"), "object has no class name (title or value)", "empty-class")
    shape = _object_geometry(obj, where)
    shape.category = category
    answers = nested_answers(obj, where, problems, _answers)
    if answers:
        shape.attributes["classifications"] = answers
    return shape


def _object_geometry(obj: dict[str, Any], where: Where) -> Shape:
    # Every object carries an instanceURI (Labelbox renders a mask of boxes too): drawn geometry wins.
    if "bbox" in obj:
        return tlhw_box(obj, "bbox", where)
    if "polygon" in obj:
        return Shape("", "polygon", where.at("polygon"), polygons=[xy_points(obj["polygon"], where.at("polygon"))])
    if "line" in obj:
        return Shape("", "line", where.at("line"), polygons=[xy_points(obj["line"], where.at("line"))])
    if "point" in obj:
        return point_shape(obj, "point", where)
    if "instanceURI" in obj:
        return Shape("", "mask", where.at("instanceURI"), mask=MaskRef(url=field(obj, "instanceURI", str, where)))
    keys = ", ".join(sorted(str(k) for k in obj)) or "none"
    raise RowError(where, f"no bbox, polygon, point, line or instanceURI (keys: {keys})", "unknown-geometry")


def _answers(items: list[Any], where: Where, problems: Problems) -> dict[str, Any]:
    """`[{title, answer: {title} | "text"} | {title, answers: [...]}]` as {question: answer or [answers]}."""
    # The title first: reading it checks that the item is an object.
    return answers(items, where, problems, lambda item, at: (_title(item, at), _answer(item, at)))


def _answer(item: dict[str, Any], where: Where) -> Any:
    if "answers" in item:
        return [_title(a, where.at(f"answers[{i}]")) for i, a in enumerate(field(item, "answers", list, where))]
    answer = item.get("answer")
    return answer if isinstance(answer, str) else _title(answer, where.at("answer"))


def _title(obj: Any, where: Where) -> str:
    name = optional(obj, "title", str, where) or optional(obj, "value", str, where)
    if not name:
        raise RowError(where, "no title or value")
    return name


def _read_2018(label: dict[str, Any], where: Where, origin: Frame, image: LabeledImage, problems: Problems) -> None:
    """`{class: WKT | [shape, ...]}`; text and lists of text that are not geometry are classification answers."""
    answers: dict[str, Any] = {}
    for name, value in label.items():
        at = where.at(name)
        if (isinstance(value, str) and not WKT_START.match(value)) or _texts(value):
            answers[name] = value
        elif not name.strip():
            problems.error("empty-class", "a class with an empty name", at)
        elif isinstance(value, str):  # V2: one MULTIPOLYGON holds every object of the class, one polygon each
            rings = _attempt(problems, _wkt_rings, value, at, problems) or []
            for number, ring in enumerate(rings, start=1):
                part = Where(at.row, f"{at.field} (polygon {number})")
                image.shapes.append(Shape(name, "polygon", part, origin, polygons=[ring]))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                shape = _attempt(problems, _old_shape, item, at.at(f"[{index}]"), problems)
                if shape:
                    shape.category, shape.frame = name, origin
                    image.shapes.append(shape)
        else:
            problems.error("unknown-geometry", f"expected WKT text or a list of shapes, got {json_kind(value)}", at)
    if answers:
        image.attributes["classifications"] = answers


def _old_shape(item: Any, where: Where, problems: Problems) -> Shape:
    """One 2018 object: `[{x, y}, ...]`, `{"geometry": [{x, y}, ...]}`, `{"geometry": "POLYGON ..."}` or a point."""
    if isinstance(item, list):
        return Shape("", "polygon", where, polygons=[xy_points(item, where)])
    geometry = field(item, "geometry", object, where)
    at = where.at("geometry")
    if isinstance(geometry, list):
        return Shape("", "polygon", at, polygons=[xy_points(geometry, at)])
    if isinstance(geometry, str):  # V3: one POLYGON (or MULTIPOLYGON: one object of several parts)
        return Shape("", "polygon", at, polygons=_wkt_rings(geometry, at, problems))
    if isinstance(geometry, dict):
        return point_shape(item, "geometry", where)
    raise RowError(at, f"expected a point list, WKT text or a point, got {json_kind(geometry)}", "unknown-geometry")


def _wkt_rings(text: str, where: Where, problems: Problems) -> list[list[Point]]:
    """The exterior ring of each polygon in a (MULTI)POLYGON; holes are dropped with a warning."""
    if NAN_WORD.search(text):
        raise RowError(where, "WKT holds a NaN or infinite coordinate", "nan-coordinate")
    import shapely.wkt  # loaded with the first WKT: the other forms need no shapely
    from shapely.errors import ShapelyError
    from shapely.geometry import MultiPolygon, Polygon

    try:
        geometry = shapely.wkt.loads(text)
    except (ShapelyError, ValueError, TypeError) as exc:
        raise RowError(where, f"WKT does not parse: {exc}", "invalid-wkt") from None
    if not isinstance(geometry, Polygon | MultiPolygon):
        raise RowError(where, f"a {geometry.geom_type} is not a polygon", "unknown-geometry")
    parts = list(geometry.geoms) if isinstance(geometry, MultiPolygon) else [geometry]
    if geometry.is_empty or not parts:
        raise RowError(where, "WKT geometry is empty", "degenerate-shape")
    holes = sum(len(part.interiors) for part in parts)
    if holes:
        problems.warning("unsupported-shape", f"polygon holes are not supported: {holes} dropped, outline kept", where)
    rings = [[(float(x), float(y)) for x, y, *_ in part.exterior.coords] for part in parts]
    if not all(math.isfinite(v) for ring in rings for point in ring for v in point):
        raise RowError(where, "WKT holds a NaN or infinite coordinate", "nan-coordinate")
    return [ring[:-1] if len(ring) > 1 and ring[0] == ring[-1] else ring for ring in rings]  # WKT rings repeat start


def _attempt(problems: Problems, read_one: Any, *args: Any) -> Any:
    """`read_one(*args)`, or None after recording its RowError: one bad object costs only itself."""
    try:
        return read_one(*args)
    except RowError as err:
        err.record(problems)
        return None


def _texts(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)


def first_problem(problems: Problems, start: int) -> str:
    """The first problem recorded since `start`, with its row and field, for a one-line refusal."""
    new = problems.items[start:]
    if not new:
        return ""
    return f" ({new[0].row}: {new[0].message}" + (f"; field {new[0].field})" if new[0].field else ")")
