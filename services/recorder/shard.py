"""One shard, the unit of parallel work: its images are read, encoded, serialised and framed into a local file by
one process, in input order. Only counts and the skipped images' positions and reasons go back to the caller,
never image bytes. Runs in spawned worker processes; nothing here imports TensorFlow."""

from __future__ import annotations

import atexit
import io
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from transferline.contracts import SplitRecords
from transferline_recorder.encode import Encoded, EncodeOptions, SkipImage, encode
from transferline_recorder.features import to_example
from transferline_recorder.source import ImageSource
from transferline_recorder.tfrecord import RecordWriter


@dataclass(frozen=True)
class Task:
    position: int  # in the split's COCO image list
    image: dict[str, Any]
    annotations: list[dict[str, Any]]


@dataclass(frozen=True)
class ShardJob:
    path: Path  # the local file to write
    tasks: list[Task]


@dataclass
class SplitStats:
    """Counts of a shard or, added up, of a split."""

    images: int = 0
    objects: int = 0
    bytes: int = 0
    reencoded: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)
    per_class: Counter[str] = field(default_factory=Counter)
    shards: list[str] = field(default_factory=list)

    def contract(self) -> SplitRecords:
        """As records/stats.json carries it."""
        return SplitRecords.model_validate({**self.__dict__, "per_class": dict(sorted(self.per_class.items()))})

    def count(self, item: Encoded) -> None:
        self.images += 1
        self.objects += len(item.labels)
        self.bytes += len(item.image)
        self.reencoded += item.reencoded
        self.per_class.update(item.texts)

    def add(self, other: SplitStats) -> None:
        self.images += other.images
        self.objects += other.objects
        self.bytes += other.bytes
        self.reencoded += other.reencoded
        self.per_class.update(other.per_class)


@dataclass
class ShardResult:
    path: Path
    stats: SplitStats = field(default_factory=SplitStats)  # without `skipped`: that goes by position
    skipped: list[tuple[int, dict[str, str]]] = field(default_factory=list)


@dataclass(frozen=True)
class ShardWriter:
    """Writes one shard per call; picklable, so a process pool can run it."""

    source: ImageSource
    names: dict[int, str]
    options: EncodeOptions

    def __call__(self, job: ShardJob) -> ShardResult:
        result = ShardResult(job.path)
        with RecordWriter(job.path) as out:
            for task in job.tasks:
                try:
                    item = self.encode(task)
                except SkipImage as exc:
                    result.skipped.append((task.position, {"file_name": task.image["file_name"], "reason": str(exc)}))
                    continue
                out.write(to_example(item))
                result.stats.count(item)
        return result

    def encode(self, task: Task) -> Encoded:
        data = self.source.read(task.image["file_name"])
        return encode(task.image, task.annotations, self.names, data, self.options)

    def samples(self, written: list[Task], count: int) -> list[bytes]:
        """Pictures of the first `count` images written, encoded again (a few, rather than sent back by every
        shard); one that cannot be read any more is left out."""
        pictures: list[bytes] = []
        for task in written:
            if len(pictures) == count:
                break
            try:
                pictures.append(draw_boxes(self.encode(task)))
            except SkipImage:
                continue
        return pictures


def draw_boxes(item: Encoded, size: int = 320) -> bytes:
    """A small JPEG of the example's image with its boxes and class names, for people to check at a glance."""
    with Image.open(io.BytesIO(item.image)) as picture:
        scale = size / max(picture.size)
        picture.draft("RGB", (round(picture.width * scale), round(picture.height * scale)))  # a JPEG: fewer pixels
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


def exit_quickly() -> None:
    """A worker process's initializer: once its last result is sent, it ends without tearing its interpreter down
    (freeing NumPy, Pillow and the rest costs tenths of a second per run; multiprocessing.Pool killed its workers
    instead). Nothing is lost: its shards are closed files by then, and results go back through a pipe written
    synchronously (the executor's SimpleQueue)."""
    atexit.register(os._exit, 0)
