"""The health report: what the dataset holds and every problem found, as JSON and as a short text for people."""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Sequence
from itertools import accumulate, chain, repeat
from operator import itemgetter
from typing import Any

from transferline_converter.dataset import CODES, Problems
from transferline_converter.tally import Tally, class_totals

# COCO's own size buckets (by area), the ones COCOeval reports AP for.
SMALL, MEDIUM = 32**2, 96**2


def make_report(
    coco: dict[str, Any],
    splits: dict[str, list[int]],
    problems: Problems,
    facts: dict[str, Any],
    counted: Tally,
) -> dict[str, Any]:
    """`counted`: tally(coco), read once for the splits too."""
    names = {c["id"]: c["name"] for c in coco["categories"]}
    return {
        **facts,
        "images": len(coco["images"]),
        "objects": len(coco["annotations"]),
        "classes": _per_class(counted, names),
        "objects_per_image": _objects_per_image(coco, counted.per_image),
        "box_sizes": _box_sizes(counted),
        "splits": _split_summaries(counted, splits, names),
        "problems": {
            "errors": problems.count("error"),
            "warnings": problems.count("warning"),
            "by_code": {
                code: {"severity": problems.severities[code], "count": n, "meaning": CODES.get(code, "")}
                for code, n in sorted(problems.counts.items())
            },
            "items": [problem.as_dict() for problem in problems.items],
        },
    }


def render(report: dict[str, Any], limit: int = 30) -> str:
    """A page a person reads in a minute: totals, classes, splits, then the problems."""
    lines = [
        f"# Label report: {report['images']} images, {report['objects']} objects, {len(report['classes'])} classes",
        "",
        "| class | objects | images |",
        "|---|---|---|",
        *(f"| {name} | {c['objects']} | {c['images']} |" for name, c in report["classes"].items()),
        "",
        "| split | images | objects |",
        "|---|---|---|",
        *(f"| {name} | {s['images']} | {s['objects']} |" for name, s in report["splits"].items()),
        "",
        _sizes_line(report),
        "",
        *(f"Note: {note}\n" for note in report.get("notes", [])),
        f"## Problems: {report['problems']['errors']} errors, {report['problems']['warnings']} warnings",
    ]
    for code, found in report["problems"]["by_code"].items():
        lines.append(f"- {found['count']} x {code} ({found['severity']}): {found['meaning']}")
    items = report["problems"]["items"]
    if items:
        lines += ["", "First problems:"]
        lines += [_problem_line(item) for item in items[:limit]]
        if len(items) > limit:
            lines.append(f"... and {len(items) - limit} more in report.json")
    return _encodable("\n".join(lines) + "\n")


def _encodable(text: str) -> str:
    """The text with any lone surrogate (JSON lets a class name hold "\\ud800") written as its escape, so the
    page encodes as UTF-8 and is written beside the COCO it describes."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _per_class(counted: Tally, names: dict[int, str]) -> dict[str, dict[str, int]]:
    images = Counter(chain.from_iterable(counted.per_image.values()))  # each image names a class once
    return {names[cid]: {"id": cid, "objects": counted.objects[cid], "images": images[cid]} for cid in names}


def _objects_per_image(coco: dict[str, Any], classes: dict[int, dict[int, int]]) -> dict[str, float]:
    per_image = map(classes.__getitem__, map(itemgetter("id"), coco["images"]))
    counts = sorted(map(sum, map(dict.values, per_image))) or [0]
    return {
        "min": counts[0],
        "median": _median(counts),
        "mean": round(sum(counts) / len(counts), 3),
        "max": counts[-1],
        "without_objects": counts.count(0) if coco["images"] else 0,
    }


def _box_sizes(counted: Tally) -> dict[str, Any]:
    """COCO's area buckets and percentiles of the areas and of each box's share of its image."""
    areas = _Ranked.of(counted.areas or [0.0])
    relative = _Ranked.of(counted.fractions or [0.0])
    small, medium = areas.below(SMALL), areas.below(MEDIUM)
    return {
        "small": small if counted.areas else 0,
        "medium": medium - small,
        "large": len(areas) - medium,
        "area_percentiles": {str(p): round(percentile(areas, p), 1) for p in (5, 50, 95)},
        "fraction_of_image_percentiles": {str(p): round(percentile(relative, p), 4) for p in (5, 50, 95)},
    }


class _Ranked:
    """Values in ascending order, read by rank. A large dataset's sizes mostly repeat (boxes drawn on whole
    pixels: 84k boxes, 831 areas), so each distinct value is sorted once beside how many there are, rather than
    every value (two sorts of 84k values were a third of the report); values that mostly differ are sorted."""

    def __init__(self, ordered: list[float], ends: Sequence[int]) -> None:
        self.ordered = ordered  # the distinct values, or all of them, ascending
        self.ends = ends  # ends[i]: how many values are <= ordered[i]

    @classmethod
    def of(cls, values: list[float]) -> _Ranked:
        sample = values[::16]  # how often values repeat, told from a sixteenth of them: a set of 5k is 0.1 ms
        return cls.by_counting(values) if len(set(sample)) * 2 <= len(sample) else cls.by_sorting(values)

    @classmethod
    def by_sorting(cls, values: list[float]) -> _Ranked:
        return cls(sorted(map(float, values)), range(1, len(values) + 1))  # floats: sorted by the fast compare

    @classmethod
    def by_counting(cls, values: list[float]) -> _Ranked:
        counts = Counter(values)  # 612 and 612.0 are one value, read as float below
        distinct = sorted(counts)
        return cls(distinct, list(accumulate(map(counts.__getitem__, distinct))))

    def __len__(self) -> int:
        return self.ends[-1]

    def __getitem__(self, rank: int) -> float:
        return float(self.ordered[bisect_right(self.ends, rank)])

    def below(self, limit: float) -> int:
        """How many values are under `limit`."""
        at = bisect_left(self.ordered, limit)
        return self.ends[at - 1] if at else 0


def _median(ordered: list[int]) -> float:
    """numpy.median of sorted values: the middle one, or the mean of the middle two."""
    middle = len(ordered) // 2
    return float(ordered[middle]) if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def percentile(ordered: _Ranked, p: float) -> float:
    """numpy.percentile(values, p) of ranked values, computed as numpy's default (linear) method does, step for
    step, so the report reads the same without loading numpy for it."""
    at = (len(ordered) - 1) * (p / 100)
    below = math.floor(at)
    if below >= len(ordered) - 1:
        return ordered[len(ordered) - 1]
    a, b, t = ordered[below], ordered[below + 1], at - below
    return b - (b - a) * (1 - t) if t >= 0.5 else a + (b - a) * t


def _split_summaries(counted: Tally, splits: dict[str, list[int]], names: dict[int, str]) -> dict[str, dict[str, Any]]:
    """Images, objects and objects per class of each split."""
    per_class = _split_classes(counted, splits)
    return {
        name: {
            "images": len(ids),
            "objects": sum(per_class[name].values()),
            "classes": dict(sorted((names[cid], n) for cid, n in per_class[name].items())),
        }
        for name, ids in splits.items()
    }


def _split_classes(counted: Tally, splits: dict[str, list[int]]) -> dict[str, dict[int, int]]:
    """Objects per class of each split, summed from its images' counts in C; an image two splits list counts in
    the last of them, as its annotations always did."""
    split_of = {image_id: name for name, ids in splits.items() for image_id in ids}
    members: dict[str, list[int]] = {name: [] for name in splits}
    for image_id, name in split_of.items():
        members[name].append(image_id)
    return {name: class_totals(map(counted.per_image.get, ids, repeat({}))) for name, ids in members.items()}


def _sizes_line(report: dict[str, Any]) -> str:
    sizes, per_image = report["box_sizes"], report["objects_per_image"]
    return (
        f"Boxes: {sizes['small']} small, {sizes['medium']} medium, {sizes['large']} large (COCO area buckets); "
        f"objects per image: median {per_image['median']:g}, max {per_image['max']}, "
        f"{per_image['without_objects']} images without objects."
    )


def _problem_line(item: dict[str, str]) -> str:
    where = ", ".join(part for part in (item.get("row", ""), item.get("field", "")) if part)
    return f"- {item['severity']} {item['code']}" + (f" [{where}]" if where else "") + f": {item['message']}"
