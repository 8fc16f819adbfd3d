"""The health report's counts and sizes, on a dataset small enough to count by hand (percentiles as numpy's)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from transferline_converter import report
from transferline_converter.dataset import Problems
from transferline_converter.report import make_report
from transferline_converter.tally import tally


def annotation(number: int, image_id: int, category_id: int, w: float, h: float) -> dict[str, object]:
    return {"id": number, "image_id": image_id, "category_id": category_id, "bbox": [0, 0, w, h], "area": w * h}


def test_classes_objects_sizes_and_splits_are_counted_from_the_annotations() -> None:
    images = [
        {"id": 1, "width": 10, "height": 10},
        {"id": 2, "width": 20, "height": 10},
        {"id": 3, "width": 9, "height": 9},
    ]
    annotations = [annotation(1, 1, 1, 2, 5), annotation(2, 1, 2, 4, 4), annotation(3, 2, 1, 40, 50)]
    annotations.append(annotation(4, 2, 1, 100, 100))
    coco = {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": 1, "name": "car"}, {"id": 2, "name": "cup"}],
    }
    report = make_report(coco, {"train": [1, 3], "val": [2], "test": []}, Problems(), {}, tally(coco))

    assert report["classes"] == {
        "car": {"id": 1, "objects": 3, "images": 2},
        "cup": {"id": 2, "objects": 1, "images": 1},
    }
    assert report["objects_per_image"] == {"min": 0, "median": 2.0, "mean": 1.333, "max": 2, "without_objects": 1}
    sizes = report["box_sizes"]
    assert (sizes["small"], sizes["medium"], sizes["large"]) == (2, 1, 1)  # areas 10, 16 | 2000 | 10000
    areas, relative = [10, 16, 2000, 10000], [0.1, 0.16, 10.0, 50.0]
    assert sizes["area_percentiles"] == {str(p): round(float(np.percentile(areas, p)), 1) for p in (5, 50, 95)}
    assert sizes["fraction_of_image_percentiles"] == {
        str(p): round(float(np.percentile(relative, p)), 4) for p in (5, 50, 95)
    }
    assert report["splits"] == {
        "train": {"images": 2, "objects": 2, "classes": {"car": 1, "cup": 1}},
        "val": {"images": 1, "objects": 2, "classes": {"car": 2}},
        "test": {"images": 0, "objects": 0, "classes": {}},
    }


def test_a_dataset_without_annotations_reports_zeros() -> None:
    coco = {"images": [{"id": 1, "width": 4, "height": 4}], "annotations": [], "categories": []}
    report = make_report(coco, {"train": [1], "val": [], "test": []}, Problems(), {}, tally(coco))
    assert report["objects"] == 0 and report["classes"] == {}
    assert (report["box_sizes"]["small"], report["box_sizes"]["medium"], report["box_sizes"]["large"]) == (0, 0, 0)
    assert report["objects_per_image"]["without_objects"] == 1


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(st.integers(0, 40), st.integers(0, 40_000).map(lambda n: n / 1000), st.integers(0, 2**40)),
        min_size=1,
        max_size=300,
    ),
    st.lists(st.floats(0, 2**41), max_size=5),
)
def test_sizes_ranked_by_counting_read_as_sorted_and_as_numpy(values, limits) -> None:
    counted, ordered, chosen = (
        ranked(values) for ranked in (report._Ranked.by_counting, report._Ranked.by_sorting, report._Ranked.of)
    )
    for p in (0, 5, 50, 95, 99.9, 100):
        expected = report.percentile(ordered, p)
        assert report.percentile(counted, p) == report.percentile(chosen, p) == expected
        assert expected == float(np.percentile(values, p))
    for limit in [1024, 9216, *limits]:
        assert counted.below(limit) == ordered.below(limit) == chosen.below(limit) == sum(v < limit for v in values)
    assert len(counted) == len(ordered) == len(values)
