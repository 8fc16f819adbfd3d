"""Checks a COCO dict before training: structure, ids, references, geometry, areas. Any input, however wrong its
types, becomes problems naming the row and field; nothing here raises on bad data.

The field readers it uses (`read_bbox`, `read_ring`, `read_rle`, ...) live in `coco_fields`, shared with repair and
the COCO reader, so all three agree on what is usable.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from transferline_converter.coco_fields import (
    TABLES,
    Box,
    area_close,
    compare_bbox,
    fmt,
    good_id,
    good_iscrowd,
    id_rule,
    is_key,
    number,
    read_bbox,
    read_ring,
    read_rle,
    recorded,
    reference,
    ring_bounds,
    rle_area,
    rle_bounds,
    row_where,
    short,
    usable_id,
)
from transferline_converter.dataset import Point, Problems, Where
from transferline_converter.geometry import ShapeError, read_polygon


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


def rows(entries: list, kind: str, problems: Problems) -> list[tuple[dict, Any, Where]]:
    """(row, id, where) for each object row; records non-objects, missing, bad and duplicate ids."""
    out, seen = [], set()
    for index, row in enumerate(entries):
        where = row_where(kind, row, index)
        if not isinstance(row, dict):
            problems.error("malformed-row", f"expected an object, got {type(row).__name__}", where)
            continue
        ident = row.get("id")
        if ident is None:
            problems.error("malformed-row", "id is missing", where.at("id"))
        elif not usable_id(kind, ident):
            problems.error("bad-id", f"id {short(ident)} is not usable: {id_rule(kind)}", where.at("id"))
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
        for key, known in (("image_id", sizes), ("category_id", names)):
            recorded(lambda: reference(row, key, known, where), problems)  # noqa: B023 (called at once)
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
    bbox = recorded(lambda: read_bbox(ann.get("bbox"), where.at("bbox")), problems)
    if bbox is not None:
        x, y, w, h = bbox
        if w <= 0 or h <= 0:
            problems.error("degenerate-shape", f"bbox is {w:g} x {h:g}; width and height must be > 0", where.at("bbox"))
        elif size and (x < -tol or y < -tol or x + w > size[0] + tol or y + h > size[1] + tol):
            problems.error("out-of-bounds", f"bbox {fmt(bbox)} leaves the {size[0]}x{size[1]} image", where.at("bbox"))
    shape = _check_segmentation(ann.get("segmentation"), size, where.at("segmentation"), problems)
    if bbox is not None and shape is not None:
        _compare(bbox, shape[0], size, where.at("bbox"), problems, tol)
    unshaped = ann.get("segmentation") in (None, [])  # an unusable segmentation's area is unknown, not the bbox's
    shape_area = shape[1] if shape else (bbox[2] * bbox[3] if bbox and unshaped else None)
    _check_area(ann, shape_area, where.at("area"), problems)
    if "iscrowd" not in ann:
        problems.warning("missing-field", "iscrowd is missing; pycocotools reads it as 0", where.at("iscrowd"))
    elif not good_iscrowd(ann["iscrowd"]):
        problems.error("malformed-row", f"iscrowd must be 0 or 1, got {short(ann['iscrowd'])}", where.at("iscrowd"))


def _check_segmentation(value: Any, size: tuple[int, int] | None, where: Where, problems: Problems) -> tuple | None:
    """(bounds, area) of a readable segmentation; None when absent or unreadable (recorded)."""
    if value is None or value == []:
        return None
    if isinstance(value, dict):
        rle = recorded(lambda: read_rle(value, size, where), problems)
        return (rle_bounds(rle), rle_area(rle)) if rle is not None else None
    if not isinstance(value, list) or not all(isinstance(ring, list) for ring in value):
        message = "expected a list of polygons [[x1, y1, x2, y2, ...], ...] or an RLE object"
        problems.error("malformed-row", f"{message}, got {short(value)}", where)
        return None
    readable, area = [], 0.0
    for index, item in enumerate(value):
        at = where.at(f"[{index}]")
        ring = recorded(lambda: read_ring(item, at), problems)  # noqa: B023 (called at once)
        ring_area = None if ring is None else _check_polygon(ring, at, problems)
        if ring is not None and ring_area is not None:
            area += ring_area
            readable.append(ring)
    if len(readable) < len(value):
        return None  # bounds and area of part of the shape would only add false mismatches
    return ring_bounds(readable), area


def _check_polygon(ring: list[Point], where: Where, problems: Problems) -> float | None:
    """The polygon's area as convert and --repair would make it; None, recorded, when they would drop it."""
    try:
        found = read_polygon(ring)  # the policy convert and --repair follow, so all three agree
    except ShapeError as exc:
        problems.error(exc.code, str(exc), where)
        return None
    if found.repair is not None:
        message = f"{found.repair.describe()}: --repair and convert replace it by its valid parts"
        problems.warning("self-intersecting", message, where)
    return found.area


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


def _check_area(ann: dict, shape_area: float | None, where: Where, problems: Problems) -> None:
    if "area" not in ann:
        problems.error("malformed-row", "area is missing (COCOeval needs it for the size buckets)", where)
        return
    area = recorded(lambda: number(ann["area"], where), problems)
    if area is not None and area < 0:
        problems.error("malformed-row", f"area {area:g} is negative", where)
    elif area is not None and shape_area is not None and not area_close(area, shape_area):
        problems.warning("area-mismatch", f"area {area:g} but the shape's area is {shape_area:g}", where)
