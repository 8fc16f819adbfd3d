"""Shape geometry in COCO pixels: frame conversion, validation, clipping, boxes, areas and RLE masks; and the one
policy for polygons that cross themselves, which convert, validate-coco and its --repair all follow."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from transferline_converter.dataset import Frame, Point, Shape

if TYPE_CHECKING:  # shapely, numpy and pycocotools load with the first polygon or mask: boxes need none of them
    import numpy as np
    from shapely.geometry import MultiPolygon, Polygon
    from shapely.geometry.base import BaseGeometry

EDGE = 1e-6  # coordinates this close outside the image are on its edge (float noise), not out of it
TINY_AREA = 1e-6  # square pixels: a polygon thinner than this is a line, whatever its float noise says
# A polygon that crosses itself is repaired when its valid parts' area is within 1 % (or 1 px²) of the area its
# outline encloses as drawn. Readings of such a ring differ only in its turned-back loops (the drawn, signed area
# counts them negative, pycocotools' even-odd fill and shapely's make_valid count them positive), so inside this
# the loops are slivers: the box, the mask and the COCO size bucket stay the annotator's, far inside COCOeval's
# strictest match (IoU 0.95). A bow tie's lobes are not slivers: which shape was meant is for a person to say.
REPAIR_SHARE = 0.01
REPAIR_FLOOR = 1.0  # square pixels: under one pixel, which no mask can show


Note = tuple[str, str]  # (problem code, message)


class ShapeError(ValueError):
    """A shape that cannot become a COCO annotation; `code` is one of dataset.CODES."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Annotation:
    """A shape in COCO terms: bbox [x, y, w, h] from the top-left, segmentation (polygons or RLE), area."""

    bbox: tuple[float, float, float, float]
    segmentation: list[list[float]] | dict[str, Any] | None
    area: float
    clipped: bool = False
    notes: tuple[Note, ...] = ()  # what was changed to make the shape sound: a warning each


def to_pixels(points: list[Point], frame: Frame, width: int, height: int) -> list[Point]:
    if frame == "normalized":
        return [(x * width, y * height) for x, y in points]
    if frame == "bottom-left":
        return [(x, height - y) for x, y in points]
    return list(points)


def box_to_pixels(value: tuple[float, float, float, float], frame: Frame, width: int, height: int) -> tuple:
    x, y, w, h = value
    if frame == "normalized":
        return (x * width, y * height, w * width, h * height)
    if frame == "bottom-left":
        return (x, height - y - h, w, h)  # (x, y) was the bottom-left corner measured up from the bottom
    return (x, y, w, h)


def from_box(shape: Shape, width: int, height: int, clip: bool) -> Annotation:
    assert shape.box is not None
    x, y, w, h = box_to_pixels(shape.box, shape.frame, width, height)
    if w <= 0 or h <= 0:
        raise ShapeError("degenerate-shape", f"box is {w:g} x {h:g} pixels")
    outside = x < -EDGE or y < -EDGE or x + w > width + EDGE or y + h > height + EDGE
    if outside and not clip:
        raise ShapeError("out-of-bounds", f"box {_fmt((x, y, w, h))} leaves the {width}x{height} image")
    x0, y0 = max(x, 0.0), max(y, 0.0)
    x1, y1 = min(x + w, float(width)), min(y + h, float(height))
    if x1 - x0 <= 0 or y1 - y0 <= 0:
        raise ShapeError("out-of-bounds", f"box {_fmt((x, y, w, h))} lies wholly outside the {width}x{height} image")
    return Annotation((x0, y0, x1 - x0, y1 - y0), None, (x1 - x0) * (y1 - y0), clipped=outside)


def from_polygons(shape: Shape, width: int, height: int, clip: bool) -> Annotation:
    from shapely.geometry import box

    rings = [to_pixels(ring, shape.frame, width, height) for ring in shape.polygons]
    geometry, notes = _valid_polygons(rings)
    image = box(0, 0, width, height)
    x0, y0, x1, y1 = geometry.bounds  # inside a rectangle exactly when its bounds are
    outside = x0 < -EDGE or y0 < -EDGE or x1 > width + EDGE or y1 > height + EDGE
    if outside and not clip:
        raise ShapeError("out-of-bounds", f"polygon with bounds {_fmt(geometry.bounds)} leaves the image")
    if outside:
        geometry = geometry.intersection(image)
    parts = polygon_parts(geometry)
    if not parts and outside:  # only a sliver (or nothing) of it is inside
        raise ShapeError("out-of-bounds", "polygon lies wholly outside the image")
    if not parts:
        raise ShapeError("degenerate-shape", "polygon is thinner than a line (zero area)")
    # Points within EDGE of the border are put on it, so nothing is ever (even by 1e-17) outside the image.
    segmentation = [
        [c for x, y in p.exterior.coords[:-1] for c in (_within(x, width), _within(y, height))] for p in parts
    ]
    xs, ys = [v for ring in segmentation for v in ring[0::2]], [v for ring in segmentation for v in ring[1::2]]
    x0, y0, x1, y1 = min(xs), min(ys), max(xs), max(ys)
    area = float(sum(p.area for p in parts))
    return Annotation((x0, y0, x1 - x0, y1 - y0), segmentation, area, clipped=outside, notes=notes)


def from_mask(bitmap: np.ndarray) -> Annotation:
    """A full-image boolean mask as compressed RLE (counts as text, so it is JSON)."""
    import numpy as np
    from pycocotools import mask as rle_tools

    if not bitmap.any():
        raise ShapeError("degenerate-shape", "mask is empty")
    # A bool array is uint8 in memory: viewing it so, a column-major mask is encoded without a copy.
    encoded = rle_tools.encode(np.asfortranarray(bitmap.view(np.uint8) if bitmap.dtype == bool else bitmap, np.uint8))
    x, y, w, h = (float(v) for v in rle_tools.toBbox(encoded))
    area = float(rle_tools.area(encoded))
    return Annotation(
        (x, y, w, h), {"size": [int(s) for s in encoded["size"]], "counts": encoded["counts"].decode()}, area
    )


@dataclass(frozen=True)
class Repair:
    """A polygon that crosses itself, read as its valid parts: `parts` (outlines only: COCO polygons have no holes)
    cover `repaired` px² where the outline as drawn encloses `drawn` (its signed area)."""

    parts: tuple[Polygon, ...]
    drawn: float
    repaired: float
    why: str

    @property
    def accepted(self) -> bool:
        return self.repaired > 0 and abs(self.repaired - self.drawn) <= self.allowed

    @property
    def allowed(self) -> float:
        return max(REPAIR_FLOOR, REPAIR_SHARE * self.drawn)

    def describe(self) -> str:
        if self.repaired <= 0:
            return f"polygon crosses itself ({self.why}) and has no valid part with an area"
        verdict = "within" if self.accepted else "more than"
        return (
            f"polygon crosses itself ({self.why}): its valid parts cover {self.repaired:g} px² against {self.drawn:g}"
            f" as drawn ({verdict} the {self.allowed:.3g} px² allowed: 1 % or 1 px²)"
        )


def repair_polygon(polygon: Polygon) -> Repair:
    """The policy for an invalid polygon: `.accepted` says whether its valid parts may stand in for it."""
    from shapely.geometry import Polygon
    from shapely.validation import make_valid

    parts = tuple(Polygon(part.exterior) for part in polygon_parts(make_valid(polygon)))
    return Repair(parts, float(polygon.area), float(sum(part.area for part in parts)), _reason(polygon))


def _reason(polygon: Polygon) -> str:
    """GEOS's `Self-intersection[299.195360310974 384.508951624687]` as `self-intersection at (299.2, 384.5)`."""
    from shapely.validation import explain_validity

    text = explain_validity(polygon)
    found = re.fullmatch(r"(.+)\[(\S+) (\S+)\]", text)
    return f"{found[1].lower()} at ({float(found[2]):.1f}, {float(found[3]):.1f})" if found else text


def polygon_parts(geometry: BaseGeometry) -> list[Polygon]:
    """The polygons with area inside any geometry (make_valid and clipping may add lines, points, collections, and
    slivers of 1e-215 px² that the checks, rightly, call lines)."""
    from shapely.geometry import Polygon

    if isinstance(geometry, Polygon):
        return [geometry] if geometry.area > TINY_AREA else []
    return [part for member in getattr(geometry, "geoms", []) for part in polygon_parts(member)]


@dataclass(frozen=True)
class Ring:
    """One polygon as the policy reads it: `parts` is the polygon itself when valid, else its valid parts, with
    `repair` saying how they were found."""

    parts: tuple[Polygon, ...]
    repair: Repair | None = None

    @property
    def area(self) -> float:
        return float(sum(part.area for part in self.parts))


def read_polygon(points: list[Point]) -> Ring:
    """The one reading of a polygon that convert, validate-coco and --repair share. ShapeError when it is
    degenerate (`degenerate-shape`: it adds no area) or crosses itself past the tolerance (`self-intersecting`)."""
    from shapely.geometry import Polygon

    distinct = len(set(points))
    if distinct < 3:
        raise ShapeError("degenerate-shape", f"polygon has {distinct} distinct points; 3 are needed")
    polygon = Polygon(points)
    if polygon.convex_hull.area <= TINY_AREA:
        raise ShapeError("degenerate-shape", "polygon points lie on one line (zero area)")
    if polygon.is_valid:
        return Ring((polygon,))
    repair = repair_polygon(polygon)
    if not repair.accepted:
        raise ShapeError("self-intersecting", f"{repair.describe()}; redraw it")
    return Ring(repair.parts, repair)


def _valid_polygons(rings: list[list[Point]]) -> tuple[Polygon | MultiPolygon, tuple[Note, ...]]:
    """The rings as one valid geometry, with a note for each ring repaired or dropped. A degenerate ring adds no
    area, so it is dropped alone; a ring past repair drops the object, whose outline nobody can tell."""
    import shapely

    polygons: list[Polygon] = []
    notes: list[Note] = []
    degenerate: ShapeError | None = None
    for index, points in enumerate(rings):
        try:
            ring = read_polygon(points)
        except ShapeError as exc:
            if exc.code != "degenerate-shape":
                raise
            degenerate = degenerate or exc
            notes.append((exc.code, f"polygon [{index}] dropped, the others kept: {exc}"))
            continue
        polygons.extend(ring.parts)
        if ring.repair is not None:
            notes.append(("self-intersecting", f"{ring.repair.describe()}: replaced by its valid parts"))
    if not polygons:
        raise degenerate or ShapeError("degenerate-shape", "object has no polygon")
    geometry = polygons[0] if len(polygons) == 1 else shapely.union_all(polygons)
    return geometry, tuple(notes)


def _within(value: float, limit: int) -> float:
    return min(max(value, 0.0), float(limit))


def _fmt(values: tuple[float, ...]) -> str:
    return "(" + ", ".join(f"{v:g}" for v in values) + ")"
