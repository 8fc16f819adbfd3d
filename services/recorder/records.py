"""COCO splits -> sharded TFRecords, a label map, per-split stats and sample pictures; shared by the stage and
`transferline records`. Shards are written to local files one example at a time, then handed to `publish`."""

from __future__ import annotations

import io
import math
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tensorflow as tf
from PIL import Image, ImageDraw

from services.recorder.encode import Encoded, EncodeOptions
from services.recorder.features import to_example
from services.recorder.label_map import label_map
from services.recorder.parallel import ImageSource, Task, encode_all
from transferline.errors import InvalidInput

Publish = Callable[[Path, str, int, int], str]  # (local shard, split, index, count) -> where it went


@dataclass(frozen=True)
class RecordOptions:
    encode: EncodeOptions = field(default_factory=EncodeOptions)
    num_shards: int | None = None
    shard_mb: int = 128
    max_bad_fraction: float = 0.05
    samples: int = 4
    workers: int | None = None


@dataclass
class SplitStats:
    images: int = 0
    objects: int = 0
    bytes: int = 0
    reencoded: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)
    per_class: Counter[str] = field(default_factory=Counter)
    shards: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "skipped_count": len(self.skipped), "per_class": dict(sorted(self.per_class.items()))}


@dataclass
class Records:
    stats: dict[str, SplitStats]
    label_map: str
    samples: dict[str, list[bytes]]


def build_records(
    splits: dict[str, dict[str, Any]], source: ImageSource, options: RecordOptions, publish: Publish
) -> Records:
    categories: list[dict[str, Any]] = next((coco["categories"] for coco in splits.values()), [])
    names = {c["id"]: c["name"] for c in categories}
    stats: dict[str, SplitStats] = {}
    samples: dict[str, list[bytes]] = {}
    with tempfile.TemporaryDirectory(prefix="records-") as scratch:
        for split, coco in splits.items():
            stats[split], samples[split] = _write_split(split, coco, names, source, options, Path(scratch), publish)
    return Records(stats, label_map(categories), samples)


def shard_count(coco: dict[str, Any], options: RecordOptions, total_bytes: int) -> int:
    if options.num_shards:
        return options.num_shards
    return max(1, min(len(coco["images"]), math.ceil(total_bytes / (options.shard_mb * 2**20))))


def _write_split(
    split: str,
    coco: dict[str, Any],
    names: dict[int, str],
    source: ImageSource,
    options: RecordOptions,
    scratch: Path,
    publish: Publish,
) -> tuple[SplitStats, list[bytes]]:
    by_image: defaultdict[Any, list[dict[str, Any]]] = defaultdict(list)
    for annotation in coco["annotations"]:
        by_image[annotation["image_id"]].append(annotation)
    tasks = [Task(image, by_image[image["id"]]) for image in coco["images"]]
    count = shard_count(coco, options, source.total_bytes([task.image["file_name"] for task in tasks]))
    paths = [scratch / f"{split}-{index:05d}-of-{count:05d}.tfrecord" for index in range(count)]
    stats, samples = SplitStats(), list[bytes]()
    writers = [tf.io.TFRecordWriter(str(path)) for path in paths]
    try:
        results = encode_all(tasks, source, names, options.encode, options.workers)
        for number, (task, result) in enumerate(results):
            if isinstance(result, str):
                stats.skipped.append({"file_name": task.image["file_name"], "reason": result})
                continue
            writers[number % count].write(to_example(result))  # by position: the same input, the same shards
            _count(stats, result)
            if len(samples) < options.samples:
                samples.append(draw_boxes(result))
    finally:
        for writer in writers:
            writer.close()
    _check_skipped(split, stats, options.max_bad_fraction)  # before anything is published
    for index, path in enumerate(paths):
        stats.shards.append(publish(path, split, index, count))
        path.unlink(missing_ok=True)  # publish may have moved it
    return stats, samples


def _count(stats: SplitStats, item: Encoded) -> None:
    stats.images += 1
    stats.objects += len(item.labels)
    stats.bytes += len(item.image)
    stats.reencoded += item.reencoded
    stats.per_class.update(item.texts)


def _check_skipped(split: str, stats: SplitStats, limit: float) -> None:
    total = stats.images + len(stats.skipped)
    if total and len(stats.skipped) / total > limit:
        first = "; ".join(f"{s['file_name']}: {s['reason']}" for s in stats.skipped[:3])
        raise InvalidInput(
            f"{split}: {len(stats.skipped)} of {total} images could not be used, over the {limit:.0%} limit "
            f"(first: {first})"
        )


def draw_boxes(item: Encoded, size: int = 320) -> bytes:
    """A small JPEG of the example's image with its boxes and class names, for people to check at a glance."""
    with Image.open(io.BytesIO(item.image)) as picture:
        canvas = picture.convert("RGB")
    canvas.thumbnail((size, size))
    pen = ImageDraw.Draw(canvas)
    w, h = canvas.size
    for x0, x1, y0, y1, text in zip(item.xmin, item.xmax, item.ymin, item.ymax, item.texts, strict=True):
        pen.rectangle([x0 * w, y0 * h, x1 * w, y1 * h], outline=(255, 40, 40), width=2)
        pen.text((x0 * w + 2, y0 * h + 1), text, fill=(255, 255, 0))
    out = io.BytesIO()
    canvas.save(out, "JPEG", quality=85)
    return out.getvalue()
