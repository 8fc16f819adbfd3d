"""COCO splits -> sharded TFRecords, a label map, per-split stats and sample pictures; shared by the stage and
`transferline records`. Each shard is written whole to a local file by one process (`shard.ShardWriter`); once
every shard of a split is written and the split has passed its bad-image limit, they are handed to `publish` in
order."""

from __future__ import annotations

import math
import multiprocessing
import os
import tempfile
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transferline import keys
from transferline.errors import InvalidInput, WorkFailed
from transferline_recorder.encode import EncodeOptions
from transferline_recorder.label_map import label_map
from transferline_recorder.shard import ShardJob, ShardResult, ShardWriter, SplitStats, Task, exit_quickly
from transferline_recorder.source import ImageSource

Publish = Callable[[Path, str, int, int], None]  # (local shard, split, index, count)
IN_PROCESS_BELOW = 32  # images; starting workers costs more than it saves for small splits


@dataclass(frozen=True)
class RecordOptions:
    encode: EncodeOptions = field(default_factory=EncodeOptions)
    num_shards: int | None = None
    shard_mb: int = 128
    max_bad_fraction: float = 0.05
    samples: int = 4
    workers: int | None = None


@dataclass
class Records:
    stats: dict[str, SplitStats]
    label_map: str
    samples: dict[str, list[bytes]]


@dataclass
class _Split:
    name: str
    tasks: list[Task]
    jobs: list[ShardJob]  # one per shard, in shard order
    stats: SplitStats = field(default_factory=SplitStats)
    skipped: set[int] = field(default_factory=set)  # positions

    def written(self) -> list[Task]:
        return [task for task in self.tasks if task.position not in self.skipped]


def build_records(
    splits: dict[str, dict[str, Any]], source: ImageSource, options: RecordOptions, publish: Publish
) -> Records:
    """Every split's shards are written (one pool for all) and every split passes its bad-image limit before
    anything is published."""
    categories: list[dict[str, Any]] = next((coco["categories"] for coco in splits.values()), [])
    writer = ShardWriter(source, {c["id"]: c["name"] for c in categories}, options.encode)
    with tempfile.TemporaryDirectory(prefix="records-") as scratch:
        plans = [_plan(split, coco, source, options, Path(scratch)) for split, coco in splits.items()]
        results = iter(_run(writer, [job for plan in plans for job in plan.jobs], options.workers))
        for plan in plans:
            plan.stats, plan.skipped = _merge([next(results) for _ in plan.jobs])
            _check_skipped(plan.name, plan.stats, options.max_bad_fraction)
        for plan in plans:
            for index, job in enumerate(plan.jobs):
                publish(job.path, plan.name, index, len(plan.jobs))
                plan.stats.shards.append(job.path.name)
                job.path.unlink(missing_ok=True)
    samples = {plan.name: writer.samples(plan.written(), options.samples) for plan in plans}
    return Records({plan.name: plan.stats for plan in plans}, label_map(categories), samples)


def shard_count(coco: dict[str, Any], options: RecordOptions, source: ImageSource) -> int:
    if options.num_shards:
        return options.num_shards
    total_bytes = source.total_bytes([image["file_name"] for image in coco["images"]])
    return max(1, min(len(coco["images"]), math.ceil(total_bytes / (options.shard_mb * 2**20))))


def _plan(split: str, coco: dict[str, Any], source: ImageSource, options: RecordOptions, scratch: Path) -> _Split:
    """Shard i holds the images at positions i, i + n, i + 2n, ...: the same input, the same shards."""
    by_image: defaultdict[Any, list[dict[str, Any]]] = defaultdict(list)
    for annotation in coco["annotations"]:
        by_image[annotation["image_id"]].append(annotation)
    tasks = [Task(position, image, by_image[image["id"]]) for position, image in enumerate(coco["images"])]
    count = shard_count(coco, options, source)
    paths = [scratch / keys.shard_name(split, index, count) for index in range(count)]
    return _Split(split, tasks, [ShardJob(path, tasks[index::count]) for index, path in enumerate(paths)])


def _run(writer: ShardWriter, jobs: list[ShardJob], workers: int | None) -> list[ShardResult]:
    """Every shard written, in spawned worker processes (image work is CPU-bound: the GIL would serialise it)
    when there is enough of it for more than one. A worker killed by a signal (a crash in an image library, the
    kernel's out-of-memory killer) fails the run: multiprocessing.Pool would wait for its result forever."""
    workers = min(workers or os.cpu_count() or 1, len(jobs))
    if workers == 1 or sum(len(job.tasks) for job in jobs) < IN_PROCESS_BELOW:
        return [writer(job) for job in jobs]
    try:
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=spawn, initializer=exit_quickly) as pool:
            return list(pool.map(writer, jobs))
    except BrokenProcessPool:
        raise WorkFailed(
            "a worker process writing shards died (killed by a signal: a crash or out of memory); nothing was published"
        ) from None


def _merge(results: list[ShardResult]) -> tuple[SplitStats, set[int]]:
    """A split's stats from its shards', skipped images in input order; and the skipped positions."""
    stats = SplitStats()
    for result in results:
        stats.add(result.stats)
    skipped = sorted((entry for result in results for entry in result.skipped), key=lambda entry: entry[0])
    stats.skipped = [reason for _, reason in skipped]
    return stats, {position for position, _ in skipped}


def _check_skipped(split: str, stats: SplitStats, limit: float) -> None:
    total = stats.images + len(stats.skipped)
    if total and len(stats.skipped) / total > limit:
        first = "; ".join(f"{s['file_name']}: {s['reason']}" for s in stats.skipped[:3])
        raise InvalidInput(
            f"{split}: {len(stats.skipped)} of {total} images could not be used, over the {limit:.0%} limit "
            f"(first: {first})"
        )
