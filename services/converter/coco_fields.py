"""Reading COCO's fields defensively: ids, references, numbers, bboxes, polygons and RLE masks raise only RowError."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Collection
from typing import Any, Literal, TypeGuard, TypeVar

from pycocotools import mask as rle_tools
from shapely.geometry import Polygon

from transferline.rle import string_runs
from transferline_converter.dataset import Point, Problems, Where
from transferline_converter.readers.common import RowError

T = TypeVar("T")
Box = tuple[float, float, float, float]
TABLES = {"image": "images", "annotation": "annotations", "category": "categories"}
MAX_COUNT = 2**32 - 1  # pycocotools keeps RLE counts as uint32
LOST = object()  # what copy_value returns for a value it cannot copy
# The lowest id of each table, and why, as checked against pycocotools 2.0.11's COCOeval: it marks a ground truth
# as matched by storing its id, so annotation id 0 reads as never matched (AP 0); image ids are only keys to it
# (image id 0 scores AP 1). Category 0 is fine there too, but TF Model Garden keeps class 0 for the background.
ID_RULES = {
    "image": (0, "image id 0 is fine for pycocotools and TF's source_id"),
    "annotation": (1, "COCOeval reads annotation id 0 as never matched, scoring AP 0"),
    "category": (1, "TF Model Garden keeps class 0 for the background"),
}


def row_name(kind: str, value: Any, index: int) -> str:
    """`annotation id 0`, `image id 'a'`; the list position when the id cannot name the row."""
    if isinstance(value, str | int | float) and len(text := short(value)) < 40:
        return f"{kind} id {text}"
    return f"{TABLES[kind]}[{index}]"


def row_where(kind: str, row: Any, index: int) -> Where:
    """Where the `index`th row of a `kind` table is, named by its id when the row is an object that has one."""
    return Where(row_name(kind, row.get("id") if isinstance(row, dict) else None, index))


def is_key(value: Any) -> bool:
    """Whether an id can be looked up (JSON scalars); lists and objects cannot."""
    return isinstance(value, str | int | float) and not (isinstance(value, float) and math.isnan(value))


def good_id(value: Any, lowest: int = 1) -> TypeGuard[int]:
    """An integer from `lowest` that fits int64 (pycocotools' arrays, TF's source_id)."""
    return isinstance(value, int) and not isinstance(value, bool) and lowest <= value < 2**63


def usable_id(kind: str, value: Any) -> TypeGuard[int]:
    """Whether `value` may be the id of a `kind` row, by the rule ID_RULES states."""
    return good_id(value, ID_RULES[kind][0])


def id_rule(kind: str) -> str:
    lowest, why = ID_RULES[kind]
    return f"{kind} ids are integers from {lowest} to 2**63 - 1 ({why})"


def dimension(value: Any) -> int | None:
    """A positive whole number of pixels (640.0 is read as 640)."""
    if isinstance(value, float) and value.is_integer() and value > 0:
        return int(value)
    return value if good_id(value) else None


def good_iscrowd(value: Any) -> TypeGuard[int]:
    """0 or 1 as an int (so False and True pass, and 1.0 does not)."""
    return value in (0, 1) and isinstance(value, int)


def reference(row: dict, key: str, known: dict[Any, T], where: Where) -> T:
    """`known[row[key]]`: what an image_id or category_id names; RowError when it names nothing in `known`."""
    value = row.get(key)
    if not is_key(value) or value not in known:
        raise RowError(where.at(key), f"{key} {short(value)} names no usable {key[:-3]}", code="bad-reference")
    return known[value]


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
    return points_of(flat)


def points_of(flat: list[float]) -> list[Point]:
    """[x1, y1, x2, y2, ...] as [(x1, y1), (x2, y2), ...]; the count must be even."""
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
    counts = string_runs(text)
    if counts is None:
        raise RowError(where, "counts is not a valid compressed RLE string")
    return counts


def rle_bounds(rle: dict) -> Box:
    x, y, w, h = (float(v) for v in rle_tools.toBbox(rle))
    return x, y, w, h


def rle_area(rle: dict) -> float:
    return float(rle_tools.area(rle))


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


def area_close(area: float, shape_area: float) -> bool:
    """Within 10 % or 1 px² (raster areas of small shapes differ from their polygon areas)."""
    difference = abs(area - shape_area)
    return difference <= 1 or difference <= 0.1 * abs(shape_area)


def recorded(read: Callable[[], T], problems: Problems, outcome: str = "") -> T | None:
    """`read()`, or None after recording the RowError it raised: as an error, or as a warning ending `: outcome`."""
    try:
        return read()
    except RowError as error:
        if outcome:
            problems.warning(error.code, f"{error.message}: {outcome}", error.where)
        else:
            error.record(problems)
        return None


def copy_row(row: dict, leave_out: Collection[Any] = ()) -> dict:
    """The row's fields, but those named in `leave_out`, each copied; those that cannot be copied are left out."""
    return {
        key: copied for key, value in row.items() if key not in leave_out and (copied := copy_value(value)) is not LOST
    }


def copy_value(value: Any) -> Any:
    """A deep copy (what is built shares nothing with the input), or LOST for what cannot be copied."""
    try:
        return copy.deepcopy(value)
    except Exception:  # deep nesting, objects that refuse copying: hostile input must not stop the repair
        return LOST


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
