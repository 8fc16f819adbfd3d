"""Train/val/test splits: stratified by class, reproducible from a seed, and never separating near-duplicates.

Images that look the same (same digest, or perceptual hashes within a few bits) form one group, and a group
always lands in one split, so a model is never evaluated on a copy of a training image. Groups are placed by
iterative stratification (Sechidis et al., 2011): the group holding the rarest class goes first, to the split
that still wants that class most.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import chain
from operator import itemgetter
from typing import Any

from transferline.errors import InvalidInput
from transferline.keys import SPLITS
from transferline_converter.dataset import Problems, Where
from transferline_converter.request import check_split


@dataclass(frozen=True)
class SplitPlan:
    ratios: dict[str, float]
    seed: int = 0
    near_duplicate_bits: int = 4  # -1 turns the near-duplicate grouping off (identical digests still group)
    assigned: dict[str, str] = field(default_factory=dict)  # image name -> split, from a user's list


def check_ratios(ratios: dict[str, float]) -> dict[str, float]:
    try:
        check_split(ratios)  # the request's own check, for plans built in code
    except ValueError as exc:
        raise InvalidInput(f"split {ratios}: {exc}") from None
    total = sum(ratios.values())
    return {name: ratios.get(name, 0.0) / total for name in SPLITS}


def read_split_list(value: Any) -> dict[str, str]:
    """{"train": [names], "val": [...], "test": [...]} -> name -> split; a name in two splits is an error."""
    if not isinstance(value, dict) or set(value) - set(SPLITS):
        raise InvalidInput(f"split list must be an object with keys among {', '.join(SPLITS)}")
    assigned: dict[str, str] = {}
    for split, names in value.items():
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise InvalidInput(f"split list[{split!r}] must be a list of image names")
        for name in names:
            if assigned.setdefault(name, split) != split:
                raise InvalidInput(f"split list names {name!r} in both {assigned[name]} and {split}")
    return assigned


def near_duplicate_groups(hashes: list[int | None], digests: list[str | None], bits: int) -> list[int]:
    """Group number per image: union of equal digests and pHash Hamming distance <= bits."""
    parent = list(range(len(hashes)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in _pairs(hashes, digests, bits):
        parent[root(i)] = root(j)
    return [root(i) for i in range(len(hashes))]


def assign(
    coco: dict[str, Any],
    groups: list[int],
    plan: SplitPlan,
    problems: Problems,
    classes: dict[int, dict[int, int]],
) -> dict[str, list[int]]:
    """Image ids per split. `groups[i]` is the near-duplicate group of coco['images'][i]; `classes` is
    classes_per_image(coco), counted once for the report too."""
    ratios = check_ratios(plan.ratios)
    members: dict[int, list[dict[str, Any]]] = {}
    for image, group in zip(coco["images"], groups, strict=True):
        members.setdefault(group, []).append(image)
    chosen = _listed(members, plan.assigned, problems) if plan.assigned else {}
    free = [g for g in members if g not in chosen]
    chosen.update(_stratify(free, members, classes, ratios, plan.seed))
    result: dict[str, list[int]] = {name: [] for name in SPLITS}
    for group, images in members.items():
        result[chosen[group]].extend(map(itemgetter("id"), images))
        if len(images) > 1:
            names = ", ".join(i["file_name"] for i in images[:5])
            problems.info(
                "near-duplicate", f"{len(images)} look-alike images kept together in {chosen[group]}: {names}"
            )
    return {name: sorted(ids) for name, ids in result.items()}


def _stratify(
    groups: list[int],
    members: dict[int, list[dict[str, Any]]],
    classes: dict[int, dict[int, int]],
    ratios: dict[str, float],
    seed: int,
) -> dict[int, str]:
    rng = random.Random(seed)
    counts = {g: _merged(members[g], classes) for g in groups}
    totals: dict[int, int] = {}  # objects per class: the (class, count) pairs counted in C, the few distinct weighed
    for (k, n), times in Counter(chain.from_iterable(map(dict.items, counts.values()))).items():
        totals[k] = totals.get(k, 0) + n * times
    n_images = sum(len(members[g]) for g in groups)
    # Plain dicts and lookups by method, not Counters and lambdas: the same numbers, subtracted in the same order,
    # and the same draws from rng, at a third of the time for a large dataset.
    want = {s: {k: r * n for k, n in totals.items()} for s, r in ratios.items()}
    want_images = {s: r * n_images for s, r in ratios.items()}
    rank = {k: (n, k) for k, n in totals.items()}  # a group is placed by its rarest class: fewest objects, lowest id
    rarest = {g: min(counts[g], key=rank.__getitem__, default=None) for g in groups}
    fewest = {g: totals[rare] if (rare := rarest[g]) is not None else 1 << 62 for g in groups}
    order = sorted(groups, key=lambda g: (fewest[g], rng.random()))
    placed: dict[int, str] = {}
    open_splits = [s for s, r in ratios.items() if r > 0]
    for group in order:
        best, best_key, rare = open_splits[0], None, rarest[group]
        for split in open_splits:  # max() by (wanted, want_images, a draw): the first of the greatest
            key = (want[split][rare] if rare is not None else 0.0, want_images[split], rng.random())
            if best_key is None or key > best_key:
                best, best_key = split, key
        placed[group] = best
        wanted = want[best]
        for k, n in counts[group].items():
            wanted[k] -= n
        want_images[best] -= len(members[group])
    return placed


def _listed(members: dict[int, list[dict[str, Any]]], assigned: dict[str, str], problems: Problems) -> dict[int, str]:
    """Groups with a listed image go where the list says; look-alikes listed apart follow the majority."""
    chosen: dict[int, str] = {}
    for group, images in members.items():
        votes = Counter(s for image in images for name in _names(image) if (s := assigned.get(name)))
        if not votes:
            continue
        split = max(SPLITS, key=lambda s: (votes[s], -SPLITS.index(s)))
        chosen[group] = split
        if len(votes) > 1:
            where = Where(f"image {images[0]['file_name']}")
            problems.warning(
                "near-duplicate", f"look-alike images listed in {sorted(votes)}; all put in {split}", where
            )
    return chosen


def classes_per_image(coco: dict[str, Any]) -> dict[int, dict[int, int]]:
    """Objects per class of each image, classes in the order the image's annotations first name them."""
    found: dict[int, dict[int, int]] = {image["id"]: {} for image in coco["images"]}
    annotations = coco["annotations"]
    image_ids, category_ids = map(itemgetter("image_id"), annotations), map(itemgetter("category_id"), annotations)
    pairs = Counter(zip(image_ids, category_ids, strict=True))
    for (image, category), n in pairs.items():  # counted in C, in the order of first appearance
        found[image][category] = n
    return found


def _merged(images: list[dict[str, Any]], classes: dict[int, dict[int, int]]) -> dict[int, int]:
    """The sum of a group's counts; a group is mostly one image, whose counts are used as they are (read only)."""
    if len(images) == 1:
        return classes[images[0]["id"]]
    total: Counter[int] = Counter()
    for image in images:
        total.update(classes[image["id"]])
    return total


def _names(image: dict[str, Any]) -> Iterable[str]:
    name = image["file_name"]
    yield from (name, name.rsplit("/", 1)[-1])
    yield from (image[k] for k in ("external_id", "global_key", "sha256") if image.get(k))


def _pairs(hashes: list[int | None], digests: list[str | None], bits: int) -> Iterable[tuple[int, int]]:
    first: dict[str, int] = {}
    for i, digest in enumerate(digests):
        if digest:
            yield i, first.setdefault(digest, i)
    known = [i for i, h in enumerate(hashes) if h is not None]
    if bits < 0 or len(known) < 2:
        return
    import numpy as np  # loaded only when there are hashes to compare

    values = np.array([hashes[i] for i in known], dtype=np.uint64)
    for start in range(0, len(values), 1024):  # 1024 x N at a time keeps memory flat for big datasets
        block = values[start : start + 1024, None] ^ values[None, :]
        rows, cols = np.nonzero(np.bitwise_count(block) <= bits)
        for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
            if start + r < c:
                yield known[start + r], known[c]
