"""Shape geometry: frames, clipping, degenerate and self-intersecting shapes, masks as RLE."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pycocotools import mask as rle_tools
from shapely.geometry import Polygon

from transferline_converter.dataset import Shape, Where
from transferline_converter.geometry import ShapeError, from_box, from_mask, from_polygons, repair_polygon

HERE = Where("row 1", "objects[0]")


def polygon(points, frame="top-left") -> Shape:
    return Shape("car", "polygon", HERE, frame=frame, polygons=[points])


def test_bottom_left_polygon_is_flipped_and_its_bbox_encloses_it_exactly() -> None:
    # A triangle 10 px above the bottom edge of a 100 px tall image, drawn with y measured upwards.
    shape = polygon([(10, 10), (40, 10), (25, 30)], frame="bottom-left")
    found = from_polygons(shape, width=50, height=100, clip=True)
    assert found.segmentation == [[10, 90, 40, 90, 25, 70]]
    assert found.bbox == (10, 70, 30, 20)
    assert found.area == pytest.approx(300)


def test_normalized_box_scales_to_pixels() -> None:
    shape = Shape("car", "box", HERE, frame="normalized", box=(0.1, 0.2, 0.5, 0.25))
    assert from_box(shape, 200, 100, clip=False).bbox == pytest.approx((20, 20, 100, 25))


def test_bottom_left_box_moves_its_corner() -> None:
    shape = Shape("car", "box", HERE, frame="bottom-left", box=(5, 10, 20, 30))
    assert from_box(shape, 100, 100, clip=False).bbox == (5, 60, 20, 30)


def test_box_leaving_the_image_is_clipped_or_refused() -> None:
    shape = Shape("car", "box", HERE, box=(-5, 10, 20, 200))
    clipped = from_box(shape, 100, 100, clip=True)
    assert clipped.bbox == (0, 10, 15, 90) and clipped.clipped
    with pytest.raises(ShapeError) as refused:
        from_box(shape, 100, 100, clip=False)
    assert refused.value.code == "out-of-bounds" and "100x100" in str(refused.value)


def test_box_on_the_edge_is_not_out_of_bounds() -> None:
    found = from_box(Shape("car", "box", HERE, box=(0, 0, 100, 100)), 100, 100, clip=False)
    assert not found.clipped


@pytest.mark.parametrize(
    ("points", "code"),
    [
        ([(0, 0), (10, 10), (20, 20)], "degenerate-shape"),  # collinear
        ([(0, 0), (10, 0), (0, 0)], "degenerate-shape"),  # two distinct points
        ([(0, 0), (20, 20), (20, 0), (0, 20)], "self-intersecting"),  # a bow tie
    ],
)
def test_bad_polygons_name_their_problem(points, code) -> None:
    with pytest.raises(ShapeError) as found:
        from_polygons(polygon(points), 100, 100, clip=True)
    assert found.value.code == code


def figure_eight(r: float, scale: float = 1.0) -> list[tuple[float, float]]:
    """A 2500 px² triangle whose outline crosses itself at (50, 50) into a turned-back r² px² loop (all x scale²)."""
    return [(x * scale, y * scale) for x, y in [(0, 0), (0, 100), (50 + r, 50 - r), (50 + r, 50 + r)]]


@pytest.mark.parametrize(
    ("points", "accepted"),
    [
        (figure_eight(0.5), True),  # a sliver: drawn 2499.75, repaired 2500.25
        (figure_eight(3), True),  # 18 px² apart, within 1 % of 2491
        (figure_eight(4), False),  # 32 px² apart, past 1 % of 2484
        (figure_eight(10, scale=0.06), True),  # 0.72 px² apart: 8 % of a 8.6 px² shape, but under a pixel
        (figure_eight(50), False),  # a bow tie: its lobes cancel as drawn
    ],
)
def test_a_polygon_crossing_itself_is_repaired_only_within_1_percent_or_1_px(points, accepted) -> None:
    repair = repair_polygon(Polygon(points))
    assert repair.drawn == pytest.approx(abs(Polygon(points).area))
    assert repair.repaired == pytest.approx(sum(part.area for part in repair.parts))
    assert repair.accepted is accepted
    if accepted:
        found = from_polygons(polygon(points), 200, 200, clip=True)
        assert found.area == pytest.approx(repair.repaired) and len(found.segmentation) == 2  # both lobes kept
        [(code, message)] = found.notes
        assert code == "self-intersecting" and message.endswith("replaced by its valid parts")
        return
    with pytest.raises(ShapeError) as refused:
        from_polygons(polygon(points), 200, 200, clip=True)
    assert refused.value.code == "self-intersecting" and "redraw it" in str(refused.value)


def test_a_degenerate_ring_of_several_is_dropped_alone_and_the_object_kept() -> None:
    square, line = [(10, 10), (40, 10), (40, 40), (10, 40)], [(50, 50), (60, 60), (70, 70)]
    found = from_polygons(Shape("car", "polygon", HERE, polygons=[square, line]), 100, 100, clip=True)
    assert found.segmentation == [[10, 10, 40, 10, 40, 40, 10, 40]] and found.area == 900
    assert [code for code, _ in found.notes] == ["degenerate-shape"] and "polygon [1] dropped" in found.notes[0][1]
    with pytest.raises(ShapeError) as alone:
        from_polygons(polygon(line), 100, 100, clip=True)
    assert alone.value.code == "degenerate-shape"


def test_polygon_clipped_to_the_image_keeps_box_and_segmentation_consistent() -> None:
    found = from_polygons(polygon([(-10, 10), (50, 10), (50, 40), (-10, 40)]), 100, 100, clip=True)
    assert found.clipped and found.bbox == (0, 10, 50, 30)
    xs = found.segmentation[0][0::2]
    assert min(xs) == 0 and max(xs) == 50


def test_mask_becomes_rle_with_its_bbox_and_area() -> None:
    bitmap = np.zeros((40, 60), dtype=bool)
    bitmap[5:15, 20:50] = True
    found = from_mask(bitmap)
    assert found.bbox == (20, 5, 30, 10) and found.area == 300
    decoded = rle_tools.decode({"size": found.segmentation["size"], "counts": found.segmentation["counts"].encode()})
    assert (decoded.astype(bool) == bitmap).all()


def test_empty_mask_is_degenerate() -> None:
    with pytest.raises(ShapeError, match="empty"):
        from_mask(np.zeros((4, 4), dtype=bool))


@given(
    st.integers(1, 400),
    st.integers(1, 400),
    st.lists(st.tuples(st.floats(-50, 450), st.floats(-50, 450)), min_size=3, max_size=8),
    st.sampled_from(["top-left", "bottom-left"]),
)
def test_any_valid_polygon_ends_inside_the_image_with_a_matching_box(width, height, points, frame) -> None:
    shape = polygon([(x, y) for x, y in points], frame=frame)
    try:
        found = from_polygons(shape, width, height, clip=True)
    except ShapeError as exc:
        assert exc.code in ("degenerate-shape", "self-intersecting", "out-of-bounds")
        return
    x, y, w, h = found.bbox
    assert x >= 0 and y >= 0 and x + w <= width + 1e-6 and y + h <= height + 1e-6
    xs = [v for ring in found.segmentation for v in ring[0::2]]
    ys = [v for ring in found.segmentation for v in ring[1::2]]
    assert (min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)) == pytest.approx(found.bbox)
    assert found.area > 0


@given(
    st.integers(1, 400),
    st.integers(1, 400),
    st.tuples(st.floats(-100, 500), st.floats(-100, 500), st.floats(0.001, 500), st.floats(0.001, 500)),
    st.sampled_from(["top-left", "bottom-left", "normalized"]),
)
def test_any_box_ends_inside_the_image_or_is_refused(width, height, value, frame) -> None:
    if frame == "normalized":
        value = tuple(v / 400 for v in value)
    try:
        found = from_box(Shape("car", "box", HERE, frame=frame, box=value), width, height, clip=True)
    except ShapeError as exc:
        assert exc.code == "out-of-bounds" and "wholly outside" in str(exc)
        return
    x, y, w, h = found.bbox
    assert x >= 0 and y >= 0 and w > 0 and h > 0 and x + w <= width and y + h <= height
    assert found.area == pytest.approx(w * h)
