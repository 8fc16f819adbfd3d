"""The health report: what the dataset holds and every problem found, as JSON and as a short text for people."""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import Counter
from itertools import chain
from operator import itemgetter, mul, truediv
from typing import Any

from transferline_converter.dataset import CODES, Problems

# COCO's own size buckets (by area), the ones COCOeval reports AP for.
SMALL, MEDIUM = 32**2, 96**2


def make_report(
    coco: dict[str, Any],
    splits: dict[str, list[int]],
    problems: Problems,
    facts: dict[str, Any],
    classes: dict[int, dict[int, int]],
) -> dict[str, Any]:
    """`classes`: objects per class of each image (splits.classes_per_image), counted once for the splits too."""
    names = {c["id"]: c["name"] for c in coco["categories"]}
    columns = _Columns(coco["annotations"])
    return {
        **facts,
        "images": len(coco["images"]),
        "objects": len(coco["annotations"]),
        "classes": _per_class(columns, classes, names),
        "objects_per_image": _objects_per_image(coco, classes),
        "box_sizes": _box_sizes(coco, columns),
        "splits": _split_summaries(columns, splits, names),
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


class _Columns:
    """The annotations' fields each function here counts, taken out once, in C (map and itemgetter): a large
    dataset's annotations were walked five times in Python, a dict lookup at a time."""

    def __init__(self, annotations: list[dict[str, Any]]) -> None:
        self.image_ids: list[int] = list(map(itemgetter("image_id"), annotations))
        self.category_ids: list[int] = list(map(itemgetter("category_id"), annotations))
        self.areas: list[float] = list(map(float, map(itemgetter("area"), annotations)))
        self.bboxes: list[list[float]] = list(map(itemgetter("bbox"), annotations))


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


def _per_class(
    columns: _Columns, classes: dict[int, dict[int, int]], names: dict[int, str]
) -> dict[str, dict[str, int]]:
    objects = Counter(columns.category_ids)
    images = Counter(chain.from_iterable(classes.values()))  # each image names a class once
    return {names[cid]: {"id": cid, "objects": objects[cid], "images": images[cid]} for cid in names}


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


def _box_sizes(coco: dict[str, Any], columns: _Columns) -> dict[str, Any]:
    areas = sorted(columns.areas) or [0.0]
    sizes = {image["id"]: image["width"] * image["height"] for image in coco["images"]}
    # w * h / image area, each step mapped in C: a Python expression per box was a quarter of the report
    box_areas = map(mul, map(itemgetter(2), columns.bboxes), map(itemgetter(3), columns.bboxes))
    relative = sorted(map(truediv, box_areas, map(sizes.__getitem__, columns.image_ids))) or [0.0]
    small, medium = bisect_left(areas, SMALL), bisect_left(areas, MEDIUM)
    return {
        "small": small if columns.areas else 0,
        "medium": medium - small,
        "large": len(areas) - medium,
        "area_percentiles": {str(p): round(percentile(areas, p), 1) for p in (5, 50, 95)},
        "fraction_of_image_percentiles": {str(p): round(percentile(relative, p), 4) for p in (5, 50, 95)},
    }


def _median(ordered: list[int]) -> float:
    """numpy.median of sorted values: the middle one, or the mean of the middle two."""
    middle = len(ordered) // 2
    return float(ordered[middle]) if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def percentile(ordered: list[float], p: float) -> float:
    """numpy.percentile(values, p) of sorted values, computed as numpy's default (linear) method does, step for
    step, so the report reads the same without loading numpy for it."""
    at = (len(ordered) - 1) * (p / 100)
    below = math.floor(at)
    if below >= len(ordered) - 1:
        return float(ordered[-1])
    a, b, t = float(ordered[below]), float(ordered[below + 1]), at - below
    return b - (b - a) * (1 - t) if t >= 0.5 else a + (b - a) * t


def _split_summaries(
    columns: _Columns, splits: dict[str, list[int]], names: dict[int, str]
) -> dict[str, dict[str, Any]]:
    """Images, objects and objects per class of each split, in one pass over the annotations."""
    split_of = {image_id: name for name, ids in splits.items() for image_id in ids}
    per_class: dict[str, Counter[int]] = {name: Counter() for name in splits}
    # (split, category) pairs counted in C: the split of each annotation's image is looked up by map, not a loop
    for (name, cid), n in Counter(zip(map(split_of.get, columns.image_ids), columns.category_ids, strict=True)).items():
        if name is not None:
            per_class[name][cid] = n
    return {
        name: {
            "images": len(ids),
            "objects": per_class[name].total(),
            "classes": dict(sorted((names[cid], n) for cid, n in per_class[name].items())),
        }
        for name, ids in splits.items()
    }


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
