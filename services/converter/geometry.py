"""Shape geometry in COCO pixels: frame conversion, validation, clipping, boxes, areas and RLE masks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from pycocotools import mask as rle_tools
from shapely.geometry import MultiPolygon, Polygon, box
from shapely.validation import explain_validity

from transferline_converter.dataset import Frame, Point, Shape

EDGE = 1e-6  # coordinates this close outside the image are on its edge (float noise), not out of it
TINY_AREA = 1e-6  # square pixels: a polygon thinner than this is a line, whatever its float noise says


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
    rings = [to_pixels(ring, shape.frame, width, height) for ring in shape.polygons]
    geometry = _valid_polygons(rings)
    image = box(0, 0, width, height)
    x0, y0, x1, y1 = geometry.bounds  # inside a rectangle exactly when its bounds are
    outside = x0 < -EDGE or y0 < -EDGE or x1 > width + EDGE or y1 > height + EDGE
    if outside and not clip:
        raise ShapeError("out-of-bounds", f"polygon with bounds {_fmt(geometry.bounds)} leaves the image")
    if outside:
        geometry = geometry.intersection(image)
        if geometry.area <= 0:
            raise ShapeError("out-of-bounds", "polygon lies wholly outside the image")
    parts = [p for p in getattr(geometry, "geoms", [geometry]) if isinstance(p, Polygon) and p.area > 0]
    # Points within EDGE of the border are put on it, so nothing is ever (even by 1e-17) outside the image.
    segmentation = [
        [c for x, y in p.exterior.coords[:-1] for c in (_within(x, width), _within(y, height))] for p in parts
    ]
    xs, ys = [v for ring in segmentation for v in ring[0::2]], [v for ring in segmentation for v in ring[1::2]]
    x0, y0, x1, y1 = min(xs), min(ys), max(xs), max(ys)
    return Annotation((x0, y0, x1 - x0, y1 - y0), segmentation, float(sum(p.area for p in parts)), clipped=outside)


def from_mask(bitmap: np.ndarray) -> Annotation:
    """A full-image boolean mask as compressed RLE (counts as text, so it is JSON)."""
    if not bitmap.any():
        raise ShapeError("degenerate-shape", "mask is empty")
    # A bool array is uint8 in memory: viewing it so, a column-major mask is encoded without a copy.
    encoded = rle_tools.encode(np.asfortranarray(bitmap.view(np.uint8) if bitmap.dtype == bool else bitmap, np.uint8))
    x, y, w, h = (float(v) for v in rle_tools.toBbox(encoded))
    area = float(rle_tools.area(encoded))
    return Annotation(
        (x, y, w, h), {"size": [int(s) for s in encoded["size"]], "counts": encoded["counts"].decode()}, area
    )


def _valid_polygons(rings: list[list[Point]]) -> Polygon | MultiPolygon:
    polygons = []
    for ring in rings:
        distinct = list(dict.fromkeys(ring))
        if len(distinct) < 3:
            raise ShapeError("degenerate-shape", f"polygon has {len(distinct)} distinct points; 3 are needed")
        polygon = Polygon(ring)
        if polygon.convex_hull.area <= TINY_AREA:
            raise ShapeError("degenerate-shape", "polygon points lie on one line (zero area)")
        if not polygon.is_valid:
            raise ShapeError("self-intersecting", f"polygon crosses itself: {explain_validity(polygon)}")
        polygons.append(polygon)
    return polygons[0] if len(polygons) == 1 else shapely.union_all(polygons)


def _within(value: float, limit: int) -> float:
    return min(max(value, 0.0), float(limit))


def _fmt(values: tuple[float, ...]) -> str:
    return "(" + ", ".join(f"{v:g}" for v in values) + ")"
