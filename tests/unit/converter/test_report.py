"""The health report's counts and sizes, on a dataset small enough to count by hand (percentiles as numpy's)."""

from __future__ import annotations

from collections import Counter

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


def _counts_as_first_written(coco: dict, splits: dict[str, list[int]]) -> tuple[dict, dict, dict]:
    """Classes, objects per image and split summaries counted annotation by annotation, as first written."""
    names = {c["id"]: c["name"] for c in coco["categories"]}
    objects = Counter(a["category_id"] for a in coco["annotations"])
    images = Counter(c for c, _ in {(a["category_id"], a["image_id"]) for a in coco["annotations"]})
    classes = {names[c]: {"id": c, "objects": objects[c], "images": images[c]} for c in names}
    per_image = Counter(a["image_id"] for a in coco["annotations"])
    counts = sorted(per_image[image["id"]] for image in coco["images"])
    split_of = {image_id: name for name, ids in splits.items() for image_id in ids}
    per_split = {name: Counter() for name in splits}
    for a in coco["annotations"]:
        if a["image_id"] in split_of:
            per_split[split_of[a["image_id"]]][a["category_id"]] += 1
    summaries = {
        name: {
            "images": len(ids),
            "objects": per_split[name].total(),
            "classes": dict(sorted((names[c], n) for c, n in per_split[name].items())),
        }
        for name, ids in splits.items()
    }
    return classes, {"min": counts[0], "max": counts[-1], "without_objects": counts.count(0)}, summaries


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(1, 12), min_size=1, max_size=12),  # image ids, some shared
    st.lists(st.tuples(st.integers(0, 11), st.integers(1, 4)), max_size=50),
    st.lists(st.sampled_from(["train", "val", "test"]), min_size=12, max_size=12),
    st.lists(st.lists(st.integers(1, 14), max_size=6), min_size=3, max_size=3),  # splits that overlap, or miss
    st.booleans(),
)
def test_classes_and_split_counts_read_from_the_tally_as_from_each_annotation(ids, boxes, placed, lists, whole):
    images = [{"id": i, "width": 4, "height": 4} for i in ids]
    annotations = [annotation(n, ids[at % len(ids)], c, 1, 2) for n, (at, c) in enumerate(boxes)]
    categories = [{"id": c, "name": f"class {5 - c}"} for c in range(1, 5)]
    coco = {"images": images, "annotations": annotations, "categories": categories}
    distinct = list(dict.fromkeys(ids))
    if whole:
        split_of = dict(zip(distinct, placed[: len(distinct)], strict=True))  # every image in one split
        splits = {name: [i for i, s in split_of.items() if s == name] for name in ("train", "val", "test")}
    else:
        splits = dict(zip(("train", "val", "test"), lists, strict=True))
    report = make_report(coco, splits, Problems(), {}, tally(coco))
    classes, per_image, summaries = _counts_as_first_written(coco, splits)
    assert report["classes"] == classes and report["splits"] == summaries
    assert {k: report["objects_per_image"][k] for k in per_image} == per_image
