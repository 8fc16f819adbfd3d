"""The annotations read once, for the splits and the report: each image's objects per class, and each box's area
and share of its image.

One plain loop reads every annotation's fields: Python's specialised dict reads, writes and arithmetic take half
the time of counting (image, class) pairs in C and spreading them after, and of five maps in C for the box
shares (each a call per box); and a large dataset's annotations are walked once, not four times.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from typing import Any


@dataclass(frozen=True)
class Tally:
    """What tally() read from a COCO's annotations."""

    per_image: dict[int, dict[int, int]]  # image id -> objects per class, in the order its annotations name them
    objects: Counter[int]  # objects per class in the whole dataset
    areas: list[float]  # each annotation's area, in the annotations' order
    fractions: list[float]  # each box's w * h over its image's, in the same order


def tally(coco: dict[str, Any]) -> Tally:
    annotations = coco["annotations"]
    per_image: dict[int, dict[int, int]] = {}
    of_image: dict[int, tuple[dict[int, int], int]] = {}  # its counts and pixel area: one lookup a box, not two
    for image in coco["images"]:
        found = per_image[image["id"]] = {}
        of_image[image["id"]] = found, image["width"] * image["height"]
    areas: list[float] = []
    fractions: list[float] = []
    add_area, add_fraction = areas.append, fractions.append
    for annotation in annotations:
        category, box = annotation["category_id"], annotation["bbox"]
        found, pixels = of_image[annotation["image_id"]]
        found[category] = found.get(category, 0) + 1
        add_area(annotation["area"])
        add_fraction(box[2] * box[3] / pixels)
    return Tally(per_image, Counter(map(itemgetter("category_id"), annotations)), areas, fractions)


def class_totals(counts: Iterable[dict[int, int]]) -> dict[int, int]:
    """Objects per class of the given counts: their (class, count) pairs counted in C, the few distinct weighed."""
    totals: dict[int, int] = {}
    for (k, n), times in Counter(chain.from_iterable(map(dict.items, counts))).items():
        totals[k] = totals.get(k, 0) + n * times
    return totals
