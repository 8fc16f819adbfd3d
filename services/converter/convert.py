"""The conversion itself, shared by the stage and the one-shot command: read exports, build COCO, split, report."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from transferline_converter import readers
from transferline_converter.build import BuildOptions, Built, build
from transferline_converter.dataset import LabeledImage, Problem, Problems, ReadResult
from transferline_converter.images import ImageIndex, perceptual_hashes
from transferline_converter.masks import MaskSource
from transferline_converter.report import make_report, render
from transferline_converter.request import ConvertRequested
from transferline_converter.sources import ExportSource
from transferline_converter.splits import SplitPlan, assign, near_duplicate_groups
from transferline_converter.tally import tally


@dataclass(frozen=True)
class ConvertOptions:
    format: str = "auto"
    read: readers.ReadOptions = field(default_factory=readers.ReadOptions)
    build: BuildOptions = field(default_factory=BuildOptions)
    split: SplitPlan = field(default_factory=lambda: SplitPlan({"train": 0.8, "val": 0.1, "test": 0.1}))
    max_error_fraction: float = 0.1

    @classmethod
    def from_request(cls, request: ConvertRequested, assigned: dict[str, str] | None = None) -> ConvertOptions:
        return cls(
            format=request.format,
            read=readers.ReadOptions(legacy_y_origin=request.legacy_y_origin),
            build=BuildOptions(
                clip=request.out_of_bounds == "clip",
                classes=frozenset(request.classes) if request.classes is not None else None,
                rename=dict(request.rename_classes),
                category_map=dict(request.category_map),
                require_images=request.require_images,
            ),
            split=SplitPlan(dict(request.split), request.seed, request.near_duplicate_bits, assigned or {}),
            max_error_fraction=request.max_error_fraction,
        )


@dataclass
class Conversion:
    coco: dict[str, Any]
    split_ids: dict[str, list[int]]  # image ids per split; the split files are written from these and `coco`
    report: dict[str, Any]
    report_text: str
    counters: dict[str, float]
    failure: str | None = None  # set when too much of the input was unusable; outputs are still written


def convert(
    sources: Iterable[ExportSource],
    index: ImageIndex,
    masks: MaskSource,
    options: ConvertOptions,
    progress: Callable[[str], None] = lambda _: None,
) -> Conversion:
    with collector_paused():
        return _convert(sources, index, masks, options, progress)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cycle collector off while a conversion builds its rows, shapes and COCO dicts, and while they are
    written: they hold no cycles, yet each collection walks every one of them (a third of a large export's build
    time in the profile, and a sixth of writing it)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _convert(
    sources: Iterable[ExportSource],
    index: ImageIndex,
    masks: MaskSource,
    options: ConvertOptions,
    progress: Callable[[str], None],
) -> Conversion:
    problems = Problems()
    progress("reading the exports")
    exports, results = _read_all(sources, options, problems)
    progress(f"building COCO from {sum(len(r.images) for r in results)} rows against {len(index)} stored images")
    declared = [name for result in results for name in result.categories]
    facts: dict[str, Any] = {
        "formats": sorted({r.format for r in results}),
        "notes": [note for r in results for note in r.notes],
        "exports": exports,
    }
    built = build(_handed_over(results), declared, index, masks, options.build, problems)
    facts["counters"] = built.counters
    _report_unused_images(index, built, problems)
    progress(f"hashing {len(built.stored)} images for near-duplicates")
    counted = tally(built.coco)
    split_ids = assign(built.coco, _groups(built, options.split), options.split, problems, counted)
    report = make_report(built.coco, split_ids, problems, facts, counted)
    counters = {**built.counters, "errors": problems.count("error"), "warnings": problems.count("warning")}
    counters.update({f"images_{name}": len(ids) for name, ids in split_ids.items()})
    failure = _failure(problems, built, options.max_error_fraction, exports)
    return Conversion(built.coco, split_ids, report, render(report), counters, failure)


def _read_all(
    sources: Iterable[ExportSource], options: ConvertOptions, problems: Problems
) -> tuple[list[str], list[ReadResult]]:
    """The exports' names and rows. Given a stream, each export is let go once read: its bytes, as large as the
    rows read from it, are not held through the build."""
    names, results = [], []
    for source in sources:
        names.append(source.name)
        results.append(readers.read(source, options.format, options.read, problems))
    return names, results


def _handed_over(results: list[ReadResult]) -> Iterator[LabeledImage]:
    """Every result's rows in order, each let go as soon as it is built, so the memory of a large export's rows
    goes to the COCO built from them (the results keep their formats, notes and categories, with no rows)."""
    for result in results:
        rows, result.images = result.images, []
        rows.reverse()  # popped from the end, in the export's order
        while rows:
            yield rows.pop()


def _groups(built: Built, plan: SplitPlan) -> list[int]:
    images = built.coco["images"]
    if not built.stored:  # labels alone: no digests or hashes to group by, each image is a group of its own
        return list(range(len(images)))
    stored = [built.stored.get(image["id"]) for image in images]
    known = [s for s in stored if s is not None]
    hashes = perceptual_hashes(known) if plan.near_duplicate_bits >= 0 else {}
    return near_duplicate_groups(
        [hashes.get(s.file_name) if s else None for s in stored],
        [s.sha256 if s else None for s in stored],
        plan.near_duplicate_bits,
    )


def _report_unused_images(index: ImageIndex, built: Built, problems: Problems) -> None:
    used = {image.file_name for image in built.stored.values()}
    for image in index.images:
        if image.file_name not in used:
            problems.info("image-not-in-export", f"stored image {image.file_name} has no row in the export")


def _failure(problems: Problems, built: Built, limit: float, exports: list[str]) -> str | None:
    """Why the conversion fails, in one line naming the exports and the first error's row and field; None if not."""
    errors, rows = problems.count("error"), max(built.counters["rows"], 1)
    named = ", ".join(exports[:3]) + (f" and {len(exports) - 3} more" if len(exports) > 3 else "")
    if built.counters["rows"] == 0:
        return f"{named}: the export holds no rows"
    if errors / rows <= limit:
        return None
    worst = ", ".join(
        f"{n} {code}" for code, n in problems.counts.most_common(3) if problems.severities[code] == "error"
    )
    first = next((item for item in problems.items if item.severity == "error"), None)
    example = f"; first: {_place(first)}: {first.message}" if first else ""
    over = f"{errors} errors in {rows:g} rows is over the {limit:.0%} limit ({worst})"
    return f"{named}: {over}{example}; see the label report"


def _place(problem: Problem) -> str:
    return ", field ".join(part for part in (problem.row, problem.field) if part) or "the export"
