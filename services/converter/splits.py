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
from functools import partial
from itertools import islice
from typing import Any

from transferline.errors import InvalidInput
from transferline.keys import SPLITS
from transferline_converter.dataset import Problems, Where
from transferline_converter.request import check_split
from transferline_converter.tally import Tally, class_totals


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
    counted: Tally,
) -> dict[str, list[int]]:
    """Image ids per split. `groups[i]` is the near-duplicate group of coco['images'][i]; `counted` is
    tally(coco), read once for the report too."""
    ratios = check_ratios(plan.ratios)
    members: dict[int, list[dict[str, Any]]] = {}
    for image, group in zip(coco["images"], groups, strict=True):
        members.setdefault(group, []).append(image)
    chosen = _listed(members, plan.assigned, problems) if plan.assigned else {}
    free = [g for g in members if g not in chosen]
    chosen.update(_stratify(free, members, counted, ratios, plan.seed))
    for group, images in members.items():
        if len(images) > 1:
            names = ", ".join(i["file_name"] for i in images[:5])
            problems.info(
                "near-duplicate", f"{len(images)} look-alike images kept together in {chosen[group]}: {names}"
            )
    result: dict[str, list[int]] = {name: [] for name in SPLITS}
    for image, group in zip(coco["images"], groups, strict=True):  # an image at a time: no map per group
        result[chosen[group]].append(image["id"])
    return {name: sorted(ids) for name, ids in result.items()}


def _stratify(
    groups: list[int],
    members: dict[int, list[dict[str, Any]]],
    counted: Tally,
    ratios: dict[str, float],
    seed: int,
) -> dict[int, str]:
    rng = random.Random(seed)
    images = list(map(members.__getitem__, groups))
    per_image = counted.per_image
    counts = [per_image[found[0]["id"]] if len(found) == 1 else _merged(found, per_image) for found in images]
    sizes = list(map(len, images))
    # every group free to place (no split list): the dataset's own class totals, already counted in C
    totals = counted.objects if len(groups) == len(members) else class_totals(counts)
    rarest = _rarest(counts, totals)  # a group is placed by its rarest class
    order = _order(rarest, totals, rng)
    open_splits = [s for s, r in ratios.items() if r > 0]
    chosen = _place(order, rarest, counts, sizes, [ratios[s] for s in open_splits], totals, rng)
    return dict(zip(map(groups.__getitem__, order), map(open_splits.__getitem__, chosen), strict=True))


def _rarest(counts: list[dict[int, int]], totals: dict[int, int]) -> list[int | None]:
    """Each group's class of fewest objects in all (then lowest id); None for a group without objects."""
    rank = {k: at for at, k in enumerate(sorted(totals, key=lambda k: (totals[k], k)))}  # numbers, not tuples
    return list(map(partial(min, key=rank.__getitem__, default=None), counts))


def _place(
    order: list[int],
    rarest: list[int | None],
    counts: list[dict[int, int]],
    sizes: list[int],
    ratios: list[float],
    totals: dict[int, int],
    rng: random.Random,
) -> list[int]:
    """The open split (by position) each group goes to, in `order`: the one that still wants its rarest class
    most, then images most, then a draw. Plain lists indexed by split and lookups by method, not Counters and
    lambdas: the same numbers, subtracted in the same order, and the same draws, at a fraction of the time."""
    want = {k: [r * n for r in ratios] for k, n in totals.items()}  # objects of each class each split wants
    n_images = sum(sizes)
    want_images = [r * n_images for r in ratios]
    nothing_wanted, firsts = [0.0] * len(ratios), range(0, -len(ratios), -1)
    draws = _draws(rng, len(order) * len(ratios))  # a draw per group and split, used on a tie
    chosen = []
    for at, i in enumerate(order):
        rare = rarest[i]
        wanted = want[rare] if rare is not None else nothing_wanted
        most = max(wanted)
        if wanted.count(most) == 1:  # the usual case, settled by the wanted objects alone
            best = wanted.index(most)
        else:  # max() by (wanted, want_images, draw), the first of the greatest: the negated position last
            tie = draws[at * len(ratios) : (at + 1) * len(ratios)]
            best = -max(zip(wanted, want_images, tie, firsts, strict=True))[3]
        chosen.append(best)
        for k, n in counts[i].items():
            want[k][best] -= n
        want_images[best] -= sizes[i]
    return chosen


def _order(rarest: list[int | None], totals: dict[int, int], rng: random.Random) -> list[int]:
    """Positions of the groups by (objects of their rarest class, a draw), sorted in two stable passes on
    plain numbers (by the draw, then by the objects): the order one sort of (objects, draw) tuples gives."""
    fewest = [totals[rare] if rare is not None else 1 << 62 for rare in rarest]
    drawn = _draws(rng, len(rarest))  # in the groups' order, as a sort's key function draws them
    order = sorted(range(len(rarest)), key=drawn.__getitem__)
    order.sort(key=fewest.__getitem__)
    return order


def _draws(rng: random.Random, n: int) -> list[float]:
    """n draws, called from C: random() is never -1.0, the mark that would end them."""
    return list(islice(iter(rng.random, -1.0), n))


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


def _merged(images: list[dict[str, Any]], per_image: dict[int, dict[int, int]]) -> dict[int, int]:
    """The sum of the counts of a group of look-alikes (`_stratify` uses a lone image's counts as they are)."""
    total: Counter[int] = Counter()
    for image in images:
        total.update(per_image[image["id"]])
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
