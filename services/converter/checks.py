"""Checks a COCO dict before training: structure, ids, references, geometry, areas. Any input, however wrong its
types, becomes problems naming the row and field; nothing here raises on bad data.

The geometry readers (`read_bbox`, `read_ring`, `read_rle`, ...) raise `RowError` and are shared with repair and
the COCO reader, so all three agree on what is usable.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeGuard, TypeVar

from pycocotools import mask as rle_tools
from shapely.geometry import Polygon
from shapely.validation import explain_validity

from services.converter.dataset import Point, Problems, Where
from services.converter.readers.common import RowError

T = TypeVar("T")
Box = tuple[float, float, float, float]
TABLES = {"image": "images", "annotation": "annotations", "category": "categories"}
MAX_COUNT = 2**32 - 1  # pycocotools keeps RLE counts as uint32


@dataclass
class CocoSummary:
    images: int = 0
    annotations: int = 0
    categories: int = 0
    per_category: dict[str, int] = field(default_factory=dict)
    errors: int = 0
    warnings: int = 0

    def describe(self) -> str:
        return (
            f"{self.images} images, {self.annotations} annotations, {self.categories} categories; "
            f"{self.errors} errors, {self.warnings} warnings"
        )


def check_coco(coco: Any, problems: Problems, *, tolerance: float = 1.0) -> CocoSummary:
    """Every problem in `coco` recorded in `problems`; the summary counts this call's errors and warnings."""
    found = Problems(problems.keep)
    summary = CocoSummary()
    if not isinstance(coco, dict):
        found.error("malformed-row", f"COCO must be a JSON object, got {type(coco).__name__}", Where("top level"))
    else:
        tables = {kind: table(coco, kind, found) for kind in TABLES}
        summary.images, summary.annotations, summary.categories = (len(tables[k]) for k in TABLES)
        sizes = _check_images(tables["image"], found)
        names = _check_categories(tables["category"], found)
        labelled = _check_annotations(tables["annotation"], sizes, names, found, tolerance, summary)
        for key, (_, _, where) in sizes.items():
            if key not in labelled:
                found.info("image-unlabeled", "no annotation refers to this image", where)
    summary.errors, summary.warnings = found.count("error"), found.count("warning")
    problems.extend(found)
    return summary


def table(coco: dict, kind: str, problems: Problems) -> list:
    value = coco.get(TABLES[kind])
    if not isinstance(value, list):
        what = "missing" if value is None else f"a {type(value).__name__}, not a list"
        problems.error("malformed-row", f"'{TABLES[kind]}' is {what}", Where("top level", TABLES[kind]))
        return []
    return value


def row_name(kind: str, value: Any, index: int) -> str:
    """`annotation id 0`, `image id 'a'`; the list position when the id cannot name the row."""
    if isinstance(value, str | int | float) and len(text := short(value)) < 40:
        return f"{kind} id {text}"
    return f"{TABLES[kind]}[{index}]"


def is_key(value: Any) -> bool:
    """Whether an id can be looked up (JSON scalars); lists and objects cannot."""
    return isinstance(value, str | int | float) and not (isinstance(value, float) and math.isnan(value))


def good_id(value: Any) -> TypeGuard[int]:
    """A positive integer that fits int64 (pycocotools' arrays, TF's source_id)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63


def rows(entries: list, kind: str, problems: Problems) -> list[tuple[dict, Any, Where]]:
    """(row, id, where) for each object row; records non-objects, missing, bad and duplicate ids."""
    out, seen = [], set()
    for index, row in enumerate(entries):
        where = Where(row_name(kind, row.get("id") if isinstance(row, dict) else None, index))
        if not isinstance(row, dict):
            problems.error("malformed-row", f"expected an object, got {type(row).__name__}", where)
            continue
        ident = row.get("id")
        if ident is None:
            problems.error("malformed-row", "id is missing", where.at("id"))
        elif not good_id(ident):
            problems.error("bad-id", f"id {short(ident)} is not a positive (64-bit) integer", where.at("id"))
        if is_key(ident):
            if ident in seen:
                problems.error("duplicate-id", f"{kind} id {short(ident)} is used more than once", where.at("id"))
            seen.add(ident)
        out.append((row, ident, where))
    return out


def _check_images(entries: list, problems: Problems) -> dict[Any, tuple[int, int, Where]]:
    """Image id -> (width, height, where) for images whose size is usable (first of duplicate ids)."""
    sizes: dict[Any, tuple[int, int, Where]] = {}
    for row, ident, where in rows(entries, "image", problems):
        name = row.get("file_name")
        if not isinstance(name, str) or not name:
            message = f"file_name must be a non-empty string, got {short(name)}"
            problems.error("malformed-row", message, where.at("file_name"))
        width, height = row.get("width"), row.get("height")
        for key, value in (("width", width), ("height", height)):
            if not good_id(value):
                problems.error("malformed-row", f"{key} must be a positive integer, got {short(value)}", where.at(key))
        if is_key(ident) and ident not in sizes and good_id(width) and good_id(height):
            sizes[ident] = (width, height, where)
    return sizes


def _check_categories(entries: list, problems: Problems) -> dict[Any, str]:
    names: dict[Any, str] = {}
    seen: set[str] = set()
    for row, ident, where in rows(entries, "category", problems):
        name = row.get("name")
        if not isinstance(name, str):
            problems.error("malformed-row", f"name must be a string, got {short(name)}", where.at("name"))
            continue
        if not name.strip():
            problems.error("empty-class", "category name is empty", where.at("name"))
        elif name in seen:
            problems.error("duplicate-id", f"category name {short(name)} is used more than once", where.at("name"))
        seen.add(name)
        if is_key(ident):
            names.setdefault(ident, name)
    return names


def _check_annotations(
    entries: list, sizes: dict, names: dict, problems: Problems, tolerance: float, summary: CocoSummary
) -> set:
    """Checks each annotation; returns the image ids that have at least one."""
    labelled: set = set()
    per_category: Counter[str] = Counter()
    for row, _, where in rows(entries, "annotation", problems):
        image, category = row.get("image_id"), row.get("category_id")
        for key, value, known in (("image_id", image, sizes), ("category_id", category, names)):
            if not is_key(value) or value not in known:
                problems.error("bad-reference", f"{key} {short(value)} names no usable {key[:-3]}", where.at(key))
        if is_key(image):
            labelled.add(image)
        if is_key(category) and category in names:
            per_category[names[category]] += 1
        size = sizes[image][:2] if is_key(image) and image in sizes else None
        try:  # a last guard: geometry libraries may refuse values no check above foresaw
            check_geometry(row, size, where, problems, tolerance)
        except Exception as exc:
            problems.error("malformed-row", f"annotation could not be checked: {type(exc).__name__}", where)
    summary.per_category = dict(per_category)
    return labelled


def check_geometry(ann: dict, size: tuple[int, int] | None, where: Where, problems: Problems, tol: float) -> None:
    """bbox, segmentation, their agreement, area and iscrowd of one annotation; `size` is the image's (w, h)."""
    bbox = _recorded(lambda: read_bbox(ann.get("bbox"), where.at("bbox")), problems)
    if bbox is not None:
        x, y, w, h = bbox
        if w <= 0 or h <= 0:
            problems.error("degenerate-shape", f"bbox is {w:g} x {h:g}; width and height must be > 0", where.at("bbox"))
        elif size and (x < -tol or y < -tol or x + w > size[0] + tol or y + h > size[1] + tol):
            problems.error("out-of-bounds", f"bbox {fmt(bbox)} leaves the {size[0]}x{size[1]} image", where.at("bbox"))
    shape = _check_segmentation(ann.get("segmentation"), size, where.at("segmentation"), problems)
    if bbox is not None and shape is not None:
        _compare(bbox, shape[0], size, where.at("bbox"), problems, tol)
    shape_area = shape[1] if shape else (bbox[2] * bbox[3] if bbox else None)
    _check_area(ann, shape_area, where.at("area"), problems)
    if "iscrowd" not in ann:
        problems.warning("missing-field", "iscrowd is missing; pycocotools reads it as 0", where.at("iscrowd"))
    elif ann["iscrowd"] not in (0, 1) or not isinstance(ann["iscrowd"], int):
        problems.error("malformed-row", f"iscrowd must be 0 or 1, got {short(ann['iscrowd'])}", where.at("iscrowd"))


def _check_segmentation(value: Any, size: tuple[int, int] | None, where: Where, problems: Problems) -> tuple | None:
    """(bounds, area) of a readable segmentation; None when absent or unreadable (recorded)."""
    if value is None or value == []:
        return None
    if isinstance(value, dict):
        rle = _recorded(lambda: read_rle(value, size, where), problems)
        return (rle_bounds(rle), rle_area(rle)) if rle is not None else None
    if not isinstance(value, list) or not all(isinstance(ring, list) for ring in value):
        message = "expected a list of polygons [[x1, y1, x2, y2, ...], ...] or an RLE object"
        problems.error("malformed-row", f"{message}, got {short(value)}", where)
        return None
    readable, area = [], 0.0
    for index, item in enumerate(value):
        at = where.at(f"[{index}]")
        ring = _recorded(lambda: read_ring(item, at), problems)  # noqa: B023 (called at once)
        if ring is not None:
            area += _check_polygon(ring, at, problems)
            readable.append(ring)
    if len(readable) < len(value):
        return None  # bounds and area of part of the shape would only add false mismatches
    return ring_bounds(readable), area


def _check_polygon(ring: list[Point], where: Where, problems: Problems) -> float:
    """The polygon's area, after recording it when degenerate or self-intersecting."""
    distinct = len(set(ring))
    polygon = Polygon(ring) if distinct >= 3 else None
    if polygon is None or polygon.convex_hull.area <= 0:
        problems.error("degenerate-shape", f"polygon has {distinct} distinct points and zero area", where)
        return 0.0
    if not polygon.is_valid:
        problems.error("self-intersecting", f"polygon is invalid: {explain_validity(polygon)}", where)
    return float(polygon.area)


def _compare(
    bbox: Box, bounds: Box, size: tuple[int, int] | None, where: Where, problems: Problems, tol: float
) -> None:
    verdict = compare_bbox(bbox, bounds, size[1] if size else None, tol)
    if verdict == "flipped":
        fixed = (bbox[0], size[1] - bbox[1] - bbox[3], bbox[2], bbox[3]) if size else bbox
        message = f"bbox {fmt(bbox)} is the segmentation's bounds {fmt(bounds)} mirrored vertically"
        problems.error("bbox-flipped", f"{message}; y should be {fixed[1]:g}", where)
    elif verdict == "mismatch":
        problems.error("bbox-polygon-mismatch", f"bbox {fmt(bbox)} differs from the bounds {fmt(bounds)}", where)


def compare_bbox(bbox: Box, bounds: Box, height: int | None, tol: float) -> Literal["equal", "flipped", "mismatch"]:
    """Whether a bbox is its segmentation's bounds, those bounds mirrored vertically (y = H - ymax), or neither."""
    near = [abs(a - b) <= tol for a, b in zip(bbox, bounds, strict=True)]
    if all(near):
        return "equal"
    if (
        height is not None
        and near[0]
        and near[2]
        and near[3]
        and abs(bbox[1] - (height - bounds[1] - bounds[3])) <= tol
    ):
        return "flipped"
    return "mismatch"


def _check_area(ann: dict, shape_area: float | None, where: Where, problems: Problems) -> None:
    if "area" not in ann:
        problems.error("malformed-row", "area is missing (COCOeval needs it for the size buckets)", where)
        return
    area = _recorded(lambda: number(ann["area"], where), problems)
    if area is not None and area < 0:
        problems.error("malformed-row", f"area {area:g} is negative", where)
    elif area is not None and shape_area is not None and not area_close(area, shape_area):
        problems.warning("area-mismatch", f"area {area:g} but the shape's area is {shape_area:g}", where)


def area_close(area: float, shape_area: float) -> bool:
    """Within 10 % or 1 px² (raster areas of small shapes differ from their polygon areas)."""
    difference = abs(area - shape_area)
    return difference <= 1 or difference <= 0.1 * abs(shape_area)


def number(value: Any, where: Where) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RowError(where, f"expected a number, got {short(value)}")
    try:
        result = float(value)  # an int too large for a float overflows
    except OverflowError:
        result = math.inf
    if not math.isfinite(result):
        raise RowError(where, f"{short(value)} is not a finite number", code="nan-coordinate")
    return result


def numbers(values: list, where: Where) -> list[float]:
    """Finite numbers; the first bad one is named by its index (found in a second pass: most data is clean)."""
    if all(type(v) is int or type(v) is float for v in values):
        try:
            floats = [float(v) for v in values]
        except OverflowError:
            floats = []
        if len(floats) == len(values) and all(map(math.isfinite, floats)):
            return floats
    return [number(v, where.at(f"[{i}]")) for i, v in enumerate(values)]


def read_bbox(value: Any, where: Where) -> Box:
    if not isinstance(value, list) or len(value) != 4:
        raise RowError(where, f"bbox must be a list [x, y, width, height], got {short(value)}")
    x, y, w, h = numbers(value, where)
    return x, y, w, h


def read_ring(value: Any, where: Where) -> list[Point]:
    """A flat [x1, y1, x2, y2, ...] polygon of at least 3 points."""
    if not isinstance(value, list):
        raise RowError(where, f"polygon must be a flat list of numbers, got {short(value)}")
    flat = numbers(value, where)
    if len(flat) == 4:
        raise RowError(where, "4-number polygon: pycocotools reads it as a box", code="degenerate-shape")
    if len(flat) % 2:
        raise RowError(where, f"polygon has an odd count of flat ({len(flat)})")
    if len(flat) < 6:
        raise RowError(where, f"polygon has {len(flat) // 2} points; 3 are needed", code="degenerate-shape")
    return list(zip(flat[::2], flat[1::2], strict=True))


def ring_bounds(rings: list[list[Point]]) -> Box:
    xs = [x for ring in rings for x, _ in ring]
    ys = [y for ring in rings for _, y in ring]
    return min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)


def rings_area(rings: list[list[Point]]) -> float:
    return float(sum(Polygon(ring).area for ring in rings if len(set(ring)) >= 3))


def read_rle(value: dict, size: tuple[int, int] | None, where: Where) -> dict:
    """A COCO RLE checked well enough that pycocotools cannot misread it; returned compressed (counts as text)."""
    hw = value.get("size")
    if not (isinstance(hw, list) and len(hw) == 2 and all(good_id(v) for v in hw)):
        raise RowError(where.at("size"), f"size must be [height, width], got {short(hw)}")
    if size is not None and hw != [size[1], size[0]]:
        raise RowError(where.at("size"), f"size {hw} is not the image's [height, width] [{size[1]}, {size[0]}]")
    counts = value.get("counts")
    if isinstance(counts, str):
        runs = _string_counts(counts, where.at("counts"))
    elif isinstance(counts, list) and all(isinstance(c, int) and not isinstance(c, bool) for c in counts):
        runs = counts
    else:
        raise RowError(where.at("counts"), f"counts must be a list of integers or a string, got {short(counts)}")
    if any(c < 0 or c > MAX_COUNT for c in runs) or sum(runs) != hw[0] * hw[1]:
        raise RowError(where.at("counts"), f"runs must be >= 0 and add up to height x width = {hw[0] * hw[1]}")
    if isinstance(counts, str):
        return {"size": hw, "counts": counts}
    compressed = rle_tools.frPyObjects({"size": hw, "counts": counts}, hw[0], hw[1])
    return {"size": hw, "counts": compressed["counts"].decode()}


def _string_counts(text: str, where: Where) -> list[int]:
    """pycocotools' compressed counts (rleFrString) decoded in Python: its C decoder trusts its input."""
    counts: list[int] = []
    position = 0
    while position < len(text):
        value, shift, more = 0, 0, True
        while more:
            if position >= len(text) or not 48 <= ord(text[position]) < 48 + 64:
                raise RowError(where, "counts is not a valid compressed RLE string")
            char = ord(text[position]) - 48
            value |= (char & 0x1F) << shift
            more = bool(char & 0x20)
            position, shift = position + 1, shift + 5
            if not more and char & 0x10:
                value |= -1 << shift
        counts.append(value + (counts[-2] if len(counts) > 2 else 0))
    return counts


def rle_bounds(rle: dict) -> Box:
    x, y, w, h = (float(v) for v in rle_tools.toBbox(rle))
    return x, y, w, h


def rle_area(rle: dict) -> float:
    return float(rle_tools.area(rle))


def _recorded(read: Callable[[], T], problems: Problems) -> T | None:
    """`read()`, or None after recording the RowError it raised."""
    try:
        return read()
    except RowError as error:
        error.record(problems)
        return None


def fmt(values: tuple[float, ...]) -> str:
    return "[" + ", ".join(f"{v:g}" for v in values) + "]"


def short(value: Any) -> str:
    """A value for a message: never long, never raising (huge ints, deep nesting)."""
    if isinstance(value, list | dict) and len(value) > 8:
        return f"a {type(value).__name__} of {len(value)} items"
    try:
        text = repr(value)
    except (ValueError, RecursionError):
        return f"a {type(value).__name__}"
    return text if len(text) <= 40 else text[:37] + "..."
