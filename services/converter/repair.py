"""Repairs a COCO dict so that `check_coco` finds no errors in it, recording every change as a warning.

What cannot be fixed is dropped (annotations without usable geometry, with a polygon crossing itself past what
`geometry.read_polygon` accepts, or whose image or category is gone); what can be is rebuilt: bboxes from their
segmentation (which also undoes the legacy Labelbox y-flip), clipped shapes, valid ids, areas and iscrowd. Pass a
Problems of its own: these warnings reuse the codes `check_coco` records as errors.
"""

from __future__ import annotations

import copy
from typing import Any

from shapely.geometry import MultiPolygon, box
from shapely.geometry.base import BaseGeometry

from transferline_converter.coco_fields import (
    TABLES,
    Box,
    area_close,
    compare_bbox,
    copy_row,
    dimension,
    fmt,
    good_iscrowd,
    id_rule,
    is_key,
    number,
    points_of,
    read_bbox,
    read_ring,
    read_rle,
    recorded,
    reference,
    ring_bounds,
    rings_area,
    rle_area,
    rle_bounds,
    row_where,
    short,
    usable_id,
)
from transferline_converter.dataset import Problems, Where
from transferline_converter.geometry import ShapeError, polygon_parts, read_polygon
from transferline_converter.readers.common import RowError

GEOMETRY = ("bbox", "segmentation", "area", "iscrowd")
Segmentation = list[list[float]] | dict[str, Any]


def repair_coco(coco: Any, problems: Problems, *, tolerance: float = 1.0) -> dict:
    """A new, repaired COCO dict; `coco` is left as it was."""
    source = coco if isinstance(coco, dict) else {}
    if not isinstance(coco, dict):
        problems.warning("malformed-row", f"COCO is a {type(coco).__name__}, not an object: made empty", Where("top"))
    categories, category_refs = _categories(_table(source, "category", problems), problems)
    images, image_refs = _images(_table(source, "image", problems), problems)
    sizes = {image["id"]: (image["width"], image["height"]) for image in images}
    annotations = _annotations(_table(source, "annotation", problems), image_refs, category_refs, sizes, problems)
    result = copy_row(source, leave_out=TABLES.values())
    result.update(images=images, annotations=annotations, categories=categories)
    return result


def _table(coco: dict, kind: str, problems: Problems) -> list:
    value = coco.get(TABLES[kind])
    if isinstance(value, list):
        return value
    problems.warning("malformed-row", f"'{TABLES[kind]}' is not a list: made empty", Where("top level", TABLES[kind]))
    return []


def _categories(entries: list, problems: Problems) -> tuple[list[dict], dict[Any, int]]:
    """Categories with a name, merged by name; and old id -> new id (the first category of an id wins)."""
    kept: list[dict] = []
    olds: list[tuple[Any, Where]] = []
    by_name: dict[str, int] = {}
    refs: dict[Any, int] = {}  # old id -> position in kept
    for index, row in enumerate(entries):
        where = row_where("category", row, index)
        name = row.get("name") if isinstance(row, dict) else None
        if not isinstance(row, dict) or not isinstance(name, str) or not name.strip():
            problems.warning("empty-class", f"category without a name ({short(name)}) dropped", where.at("name"))
            continue
        ident = row.get("id")
        if name in by_name:
            problems.warning("duplicate-id", f"{short(name)} listed again: merged into the first", where.at("name"))
        else:
            by_name[name] = len(kept)
            kept.append(copy_row(row))
            olds.append((ident, where))
        if is_key(ident):
            refs.setdefault(ident, by_name[name])
    ids = _renumber(kept, olds, "category", problems)
    return kept, {old: ids[position] for old, position in refs.items()}


def _images(entries: list, problems: Problems) -> tuple[list[dict], dict[Any, int]]:
    """Images with a file name and a usable size; and old id -> new id (the first image of an id wins)."""
    kept: list[dict] = []
    olds: list[tuple[Any, Where]] = []
    refs: dict[Any, int] = {}
    for index, row in enumerate(entries):
        where = row_where("image", row, index)
        image = _image(row, where, problems)
        if image is None:
            continue
        ident = row.get("id")
        if is_key(ident) and ident in refs:
            if kept[refs[ident]]["file_name"] == image["file_name"]:
                problems.warning("duplicate-id", "the same image listed twice: the second was dropped", where.at("id"))
                continue
            message = "id used by an earlier image: annotations with this image_id stay there; this one gets a new id"
            problems.warning("duplicate-id", message, where.at("id"))
        if is_key(ident):
            refs.setdefault(ident, len(kept))
        kept.append(image)
        olds.append((ident, where))
    ids = _renumber(kept, olds, "image", problems)
    return kept, {old: ids[position] for old, position in refs.items()}


def _image(row: Any, where: Where, problems: Problems) -> dict | None:
    if not isinstance(row, dict) or not isinstance(row.get("file_name"), str) or not row["file_name"]:
        problems.warning("malformed-row", "image without a file_name dropped, with its annotations", where)
        return None
    width, height = dimension(row.get("width")), dimension(row.get("height"))
    if width is None or height is None:
        message = f"size {short(row.get('width'))} x {short(row.get('height'))} unusable: dropped with its annotations"
        problems.warning("malformed-row", message, where)
        return None
    return {**copy_row(row), "width": width, "height": height}


def _renumber(kept: list[dict], olds: list[tuple[Any, Where]], kind: str, problems: Problems) -> list[int]:
    """Sets and returns the ids of `kept`, whose old ids `olds` holds: valid ones kept (so references from outside
    still hold); bad and repeated ones get fresh ids after the rest."""
    taken = {ident for ident, _ in olds if usable_id(kind, ident)}
    after = max(taken, default=0)
    ids, used = [], set()
    for ident, where in olds:
        if usable_id(kind, ident) and ident not in used:
            ids.append(ident)
        else:
            after += 1
            ids.append(after)
            why = "is taken" if usable_id(kind, ident) else f"is not usable ({id_rule(kind)})"
            message = f"{kind} id {short(ident)} {why}: now {after}"
            problems.warning("bad-id", message, where.at("id"))
        used.add(ids[-1])
    for row, new in zip(kept, ids, strict=True):
        row["id"] = new
    return ids


def _annotations(
    entries: list, images: dict[Any, int], categories: dict[Any, int], sizes: dict[int, tuple[int, int]], p: Problems
) -> list[dict]:
    kept: list[dict] = []
    olds: list[tuple[Any, Where]] = []
    for index, row in enumerate(entries):
        where = row_where("annotation", row, index)
        if not isinstance(row, dict):
            p.warning("malformed-row", f"annotation is a {type(row).__name__}, not an object: dropped", where)
            continue
        image = recorded(lambda: reference(row, "image_id", images, where), p, "dropped")  # noqa: B023 (called at once)
        category = recorded(lambda: reference(row, "category_id", categories, where), p, "dropped")  # noqa: B023
        if image is None or category is None:
            continue
        try:  # a last guard: geometry libraries may refuse values no check foresaw
            fixed = _fix_annotation(row, *sizes[image], where, p)
        except Exception as exc:
            p.warning("malformed-row", f"annotation could not be repaired ({type(exc).__name__}): dropped", where)
            continue
        if fixed is not None:
            kept.append({**fixed, "image_id": image, "category_id": category})
            olds.append((row.get("id"), where))
    _renumber(kept, olds, "annotation", p)
    return kept


def _fix_annotation(
    ann: dict, width: int, height: int, where: Where, problems: Problems, tolerance: float = 1.0
) -> dict | None:
    """`ann` with consistent bbox, segmentation, area and iscrowd inside a width x height image; None to drop it."""
    shape = _shape(ann, width, height, where, problems, tolerance)
    if shape is None:
        return None
    segmentation, bbox, shape_area = shape
    fixed = copy_row(ann, leave_out=GEOMETRY)
    if segmentation is not None or ann.get("segmentation") == []:
        fixed["segmentation"] = segmentation or []
    fixed["bbox"] = list(bbox)
    fixed["area"] = _area(ann.get("area"), shape_area, where.at("area"), problems)
    fixed["iscrowd"] = _iscrowd(ann, isinstance(segmentation, dict), where.at("iscrowd"), problems)
    return fixed


def _shape(
    ann: dict, width: int, height: int, where: Where, problems: Problems, tolerance: float
) -> tuple[Segmentation | None, Box, float] | None:
    """(segmentation, bbox, area): the bbox is rebuilt from a usable segmentation, else clipped to the image."""
    given = ann.get("bbox")
    bbox = None if given is None else recorded(lambda: read_bbox(given, where.at("bbox")), problems, "bbox ignored")
    try:
        found = _segmentation(ann.get("segmentation"), width, height, where.at("segmentation"), problems)
    except RowError as refused:  # a polygon too far from valid to guess at: dropped whole, as convert drops it
        problems.warning(refused.code, f"{refused.message}: annotation dropped", refused.where)
        return None
    if found is not None:
        if bbox is not None:
            _note_rebuilt(bbox, found[1], height, where.at("bbox"), problems, tolerance)
        elif given is None:
            problems.warning("malformed-row", "bbox missing: built from the segmentation", where.at("bbox"))
        return found
    if bbox is None:
        problems.warning("malformed-row", "no usable bbox or segmentation: dropped", where)
        return None
    clipped = _clip(bbox, width, height, where.at("bbox"), problems)
    return None if clipped is None else (None, clipped, clipped[2] * clipped[3])


def _segmentation(
    value: Any, width: int, height: int, where: Where, problems: Problems
) -> tuple[Segmentation, Box, float] | None:
    """(segmentation, bounds, area) of the usable part of a segmentation; None when absent or nothing is usable."""
    if value is None or value == []:
        return None
    if isinstance(value, dict):
        return _rle(value, width, height, where, problems)
    if not isinstance(value, list):
        problems.warning("malformed-row", f"segmentation {short(value)} unreadable: dropped", where)
        return None
    rings = [kept for i, item in enumerate(value) for kept in _ring(item, width, height, where.at(f"[{i}]"), problems)]
    if not rings:
        return None
    points = [points_of(ring) for ring in rings]
    return rings, ring_bounds(points), rings_area(points)


def _rle(value: dict, width: int, height: int, where: Where, problems: Problems) -> tuple[dict, Box, float] | None:
    rle = recorded(lambda: read_rle(value, (width, height), where), problems, "segmentation dropped")
    if rle is None:
        return None
    area = rle_area(rle)
    if area <= 0:
        problems.warning("degenerate-shape", "RLE mask is empty: segmentation dropped", where)
        return None
    return {"size": [height, width], "counts": copy.copy(value["counts"])}, rle_bounds(rle), area


def _ring(value: Any, width: int, height: int, where: Where, problems: Problems) -> list[list[float]]:
    """One COCO polygon as the rings to keep: itself when sound, else its valid parts inside the image; RowError
    when it crosses itself beyond what the repair policy (geometry.read_polygon) accepts."""
    points = recorded(lambda: read_ring(value, where), problems, "polygon dropped")
    if points is None:
        return []
    try:
        ring = read_polygon(points)  # the policy check_coco and convert follow
    except ShapeError as exc:
        if exc.code != "degenerate-shape":
            raise RowError(where, str(exc), code=exc.code) from None  # past repair: the annotation goes
        problems.warning(exc.code, f"{exc}: polygon dropped", where)  # it adds no area: the others stay
        return []
    geometry: BaseGeometry = ring.parts[0] if ring.repair is None else MultiPolygon(ring.parts)
    if ring.repair is not None:
        problems.warning("self-intersecting", f"{ring.repair.describe()}: replaced by its valid parts", where)
    x0, y0, x1, y1 = geometry.bounds
    if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
        geometry = geometry.intersection(box(0, 0, width, height))
        problems.warning("out-of-bounds", f"polygon clipped to the {width}x{height} image", where)
    if geometry is ring.parts[0]:  # sound and inside the image: kept as written
        return [list(value)]
    parts = polygon_parts(geometry)  # their outlines are kept: COCO polygons have no holes
    # GEOS may leave a clipped vertex a hair outside the edge, and TF's converter skips boxes past the edge
    rings = [[(min(max(x, 0.0), width), min(max(y, 0.0), height)) for x, y in p.exterior.coords[:-1]] for p in parts]
    return [[float(c) for point in ring for c in point] for ring in rings]


def _clip(bbox: Box, width: int, height: int, where: Where, problems: Problems) -> Box | None:
    x, y, w, h = bbox
    x0, y0, x1, y1 = max(x, 0.0), max(y, 0.0), min(x + w, float(width)), min(y + h, float(height))
    if x1 <= x0 or y1 <= y0:
        problems.warning("degenerate-shape", f"bbox {fmt(bbox)} has no area inside the image: dropped", where)
        return None
    if (x0, y0, x1, y1) != (x, y, x + w, y + h):
        problems.warning("out-of-bounds", f"bbox {fmt(bbox)} clipped to the {width}x{height} image", where)
    return x0, y0, x1 - x0, y1 - y0


def _note_rebuilt(bbox: Box, bounds: Box, height: int, where: Where, problems: Problems, tolerance: float) -> None:
    verdict = compare_bbox(bbox, bounds, height, tolerance)
    if verdict == "flipped":
        problems.warning("bbox-flipped", f"bbox {fmt(bbox)} was mirrored vertically: now {fmt(bounds)}", where)
    elif verdict == "mismatch":
        problems.warning(
            "bbox-polygon-mismatch", f"bbox {fmt(bbox)} rebuilt from the segmentation: {fmt(bounds)}", where
        )


def _area(value: Any, shape_area: float, where: Where, problems: Problems) -> float:
    try:
        area = number(value, where)
    except RowError:
        problems.warning("malformed-row", f"area {short(value)} unusable: set to {shape_area:g}", where)
        return shape_area
    if area >= 0 and area_close(area, shape_area):
        return value  # as written (an int stays an int)
    problems.warning("area-mismatch", f"area {area:g} set to the shape's area {shape_area:g}", where)
    return shape_area


def _iscrowd(ann: dict, rle: bool, where: Where, problems: Problems) -> int:
    value = ann.get("iscrowd")
    if good_iscrowd(value):
        return int(value)
    if "iscrowd" not in ann:
        problems.warning("missing-field", "iscrowd was missing: set to 0", where)
        return 0
    problems.warning("malformed-row", f"iscrowd {short(value)} is not 0 or 1: set to {int(rle)}", where)
    return int(rle)
