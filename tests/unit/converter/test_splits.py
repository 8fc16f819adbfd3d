"""Splits: stratified, reproducible, and never separating look-alike images."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transferline.errors import InvalidInput
from transferline_converter import splits
from transferline_converter.dataset import Problems
from transferline_converter.splits import SplitPlan, assign, near_duplicate_groups, read_split_list
from transferline_converter.tally import tally

RATIOS = {"train": 0.7, "val": 0.15, "test": 0.15}


def dataset(n_images: int, seed: int = 0) -> dict:
    """Images with one or two objects; class 3 is rare (about 1 image in 12)."""
    rng = random.Random(seed)
    images = [{"id": i, "file_name": f"img_{i}.jpg", "width": 8, "height": 8} for i in range(1, n_images + 1)]
    annotations = []
    for image in images:
        classes = [3] if rng.random() < 0.08 else rng.sample([1, 2], rng.randint(1, 2))
        for category in classes:
            annotations.append(box(len(annotations) + 1, image["id"], category))
    return {"images": images, "annotations": annotations, "categories": [{"id": c} for c in (1, 2, 3)]}


def box(number: int, image_id: int, category_id: int) -> dict:
    return {"id": number, "image_id": image_id, "category_id": category_id, "bbox": [0, 0, 2, 2], "area": 4}


def class_share(coco: dict, ids: list[int], category: int) -> float:
    chosen = set(ids)
    total = sum(1 for a in coco["annotations"] if a["category_id"] == category)
    return sum(1 for a in coco["annotations"] if a["category_id"] == category and a["image_id"] in chosen) / total


def test_every_class_is_split_close_to_the_ratios() -> None:
    coco = dataset(400)
    splits = assign(coco, list(range(400)), SplitPlan(RATIOS, seed=1), Problems(), tally(coco))
    assert sorted(i for ids in splits.values() for i in ids) == list(range(1, 401))
    for category in (1, 2, 3):
        for name, ratio in RATIOS.items():
            assert class_share(coco, splits[name], category) == pytest.approx(ratio, abs=0.05), (category, name)


def test_the_same_seed_gives_the_same_split_and_another_seed_another() -> None:
    coco = dataset(200)
    first = assign(coco, list(range(200)), SplitPlan(RATIOS, seed=7), Problems(), tally(coco))
    again = assign(coco, list(range(200)), SplitPlan(RATIOS, seed=7), Problems(), tally(coco))
    other = assign(coco, list(range(200)), SplitPlan(RATIOS, seed=8), Problems(), tally(coco))
    assert first == again and first != other


@settings(max_examples=40, deadline=None)
@given(st.integers(5, 80), st.integers(0, 2**16), st.lists(st.integers(0, 9), min_size=5, max_size=80))
def test_a_group_of_look_alikes_never_spans_two_splits(n_images, seed, group_of) -> None:
    coco = dataset(n_images, seed)
    groups = [group_of[i % len(group_of)] for i in range(n_images)]
    problems = Problems()
    splits = assign(coco, groups, SplitPlan(RATIOS, seed=seed), problems, tally(coco))
    split_of = {image_id: name for name, ids in splits.items() for image_id in ids}
    for group in set(groups):
        members = [coco["images"][i]["id"] for i in range(n_images) if groups[i] == group]
        assert len({split_of[m] for m in members}) == 1
    assert problems.counts["near-duplicate"] == sum(1 for g in set(groups) if groups.count(g) > 1)


def test_near_duplicates_are_found_by_hamming_distance_and_digest() -> None:
    base = 0x0F0F_0F0F_0F0F_0F0F
    hashes = [base, base ^ 0b111, base ^ 0xFFFF, None, 0x1234]
    digests = [None, None, None, "d" * 64, "d" * 64]
    groups = near_duplicate_groups(hashes, digests, bits=4)
    assert groups[0] == groups[1]  # 3 bits apart
    assert groups[2] != groups[0]  # 16 bits apart
    assert groups[3] == groups[4]  # the same bytes
    assert len(set(near_duplicate_groups(hashes, [None] * 5, bits=-1))) == 5  # grouping off


def test_a_split_list_is_followed_and_the_rest_is_stratified() -> None:
    coco = dataset(50)
    assigned = read_split_list({"val": ["img_1.jpg", "img_2.jpg"], "test": ["img_3.jpg"]})
    splits = assign(coco, list(range(50)), SplitPlan(RATIOS, assigned=assigned), Problems(), tally(coco))
    assert {1, 2} <= set(splits["val"]) and 3 in splits["test"]
    assert len(splits["train"]) > 25


def test_look_alikes_listed_in_two_splits_follow_the_majority_with_a_warning() -> None:
    coco = dataset(6)
    assigned = read_split_list({"train": ["img_1.jpg", "img_2.jpg"], "test": ["img_3.jpg"]})
    problems = Problems()
    splits = assign(coco, [0, 0, 0, 1, 2, 3], SplitPlan(RATIOS, assigned=assigned), problems, tally(coco))
    assert {1, 2, 3} <= set(splits["train"])
    assert any("look-alike images listed in" in p.message for p in problems.items)


@pytest.mark.parametrize(
    "value", [[], {"train": "a.jpg"}, {"holdout": ["a.jpg"]}, {"train": ["a.jpg"], "val": ["a.jpg"]}]
)
def test_a_bad_split_list_is_a_clear_error(value) -> None:
    with pytest.raises(InvalidInput, match="split list"):
        read_split_list(value)


def test_zero_ratio_splits_stay_empty() -> None:
    coco = dataset(30)
    splits = assign(coco, list(range(30)), SplitPlan({"train": 1, "val": 0, "test": 0}), Problems(), tally(coco))
    assert len(splits["train"]) == 30 and splits["val"] == splits["test"] == []
    assert Counter(len(v) for v in splits.values())[0] == 2


def _stratify_as_first_written(groups, members, classes, ratios, seed):
    """The stratification as first written, on Counters and lambdas: the reference the faster one must equal."""
    rng = random.Random(seed)
    counts = {g: sum((Counter(classes.per_image[image["id"]]) for image in members[g]), Counter()) for g in groups}
    totals: Counter[int] = Counter()
    for found in counts.values():
        totals.update(found)
    n_images = sum(len(members[g]) for g in groups)
    want = {s: Counter({k: r * n for k, n in totals.items()}) for s, r in ratios.items()}
    want_images = {s: r * n_images for s, r in ratios.items()}
    order = sorted(groups, key=lambda g: (min((totals[k] for k in counts[g]), default=1 << 62), rng.random()))
    placed = {}
    open_splits = [s for s, r in ratios.items() if r > 0]
    for group in order:
        rarest = min(counts[group], key=lambda k: (totals[k], k), default=None)
        wanted = {s: want[s][rarest] if rarest is not None else 0.0 for s in open_splits}
        best = max(open_splits, key=lambda s: (wanted[s], want_images[s], rng.random()))
        placed[group] = best
        want[best].subtract(counts[group])
        want_images[best] -= len(members[group])
    return placed


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.lists(st.integers(1, 6), max_size=8), min_size=1, max_size=60),
    st.lists(st.integers(0, 40), min_size=60, max_size=60),
    st.sampled_from([(0.8, 0.1, 0.1), (0.5, 0.5, 0.0), (1 / 3, 1 / 3, 1 / 3), (0.7, 0.0, 0.3)]),
    st.integers(0, 3),
    st.booleans(),
)
def test_the_stratification_places_every_group_as_first_written(objects, grouping, ratios, seed, listed) -> None:
    images = [{"id": n + 1, "width": 8, "height": 8} for n in range(len(objects))]
    annotations = [box(0, n + 1, c) for n, found in enumerate(objects) for c in found]
    members: dict[int, list[dict[str, int]]] = {}
    for image, group in zip(images, grouping, strict=False):
        members.setdefault(group, []).append(image)
    classes = tally({"images": images, "annotations": annotations})
    shares = dict(zip(("train", "val", "test"), ratios, strict=True))
    groups = list(members)[::2] if listed else list(members)  # the others as if a split list placed them
    expected = _stratify_as_first_written(groups, members, classes, shares, seed)
    assert splits._stratify(groups, members, classes, shares, seed) == expected


def class_counts(classes: int) -> st.SearchStrategy[list[dict[int, int]]]:
    return st.lists(st.dictionaries(st.integers(1, classes), st.integers(1, 5), max_size=6), min_size=1, max_size=30)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([5, 8, 14]).flatmap(class_counts))
def test_the_rarest_class_of_each_group_is_the_one_of_fewest_objects_then_lowest_id(counts) -> None:
    totals: dict[int, int] = {}
    for found in counts:
        for k, n in found.items():
            totals[k] = totals.get(k, 0) + n
    expected = [min(found, key=lambda k: (totals[k], k), default=None) for found in counts]
    assert splits._rarest(counts, totals) == expected
