"""Encoding every image of a split in worker processes (image work is CPU-bound; the GIL would serialise it).

Workers are spawned and never import TensorFlow: they read and encode, and the parent, which holds
TensorFlow, serialises examples and writes shards in the original order.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.recorder.encode import Encoded, EncodeOptions, SkipImage, encode
from transferline.settings import Settings
from transferline.store import Store, open_store

IN_PROCESS_BELOW = 32  # images; starting workers costs more than it saves for small splits


@dataclass(frozen=True)
class ImageSource:
    """Where COCO file names point: a folder of a job's stored images (`prefix` in the store), or a local folder."""

    settings: Settings | None = None
    prefix: str = ""
    folder: Path | None = None

    def total_bytes(self, file_names: list[str]) -> int:
        """Bytes of the images named (missing ones count 0), to size shards before reading anything."""
        if self.folder is not None:
            paths = [self.folder / name for name in file_names]
            return sum(path.stat().st_size for path in paths if path.is_file())
        assert self.settings is not None
        store = open_store(self.settings)
        return sum(found.size for name in file_names if (found := store.stat(self.prefix + name)))

    def read(self, file_name: str, store: Store | None) -> bytes:
        if self.folder is not None:
            path = (self.folder / file_name).resolve()
            if not path.is_relative_to(self.folder.resolve()):
                raise SkipImage(f"file name {file_name!r} leaves the image folder")
            try:
                return path.read_bytes()
            except OSError:
                raise SkipImage(f"missing image {path}") from None
        assert store is not None
        try:
            return store.get_bytes(self.prefix + file_name)
        except KeyError:
            raise SkipImage(f"missing image {self.prefix + file_name}") from None


@dataclass(frozen=True)
class Task:
    image: dict[str, Any]
    annotations: list[dict[str, Any]]


Result = tuple[Task, Encoded | str]  # the encoded example, or why the image was skipped

_source: ImageSource | None = None
_store: Store | None = None
_names: dict[int, str] = {}
_options = EncodeOptions()


def encode_all(
    tasks: list[Task], source: ImageSource, names: dict[int, str], options: EncodeOptions, workers: int | None = None
) -> Iterator[Result]:
    """Results in task order, streamed (a few chunks in flight, never the whole split in memory)."""
    workers = workers or os.cpu_count() or 1
    if len(tasks) < IN_PROCESS_BELOW or workers == 1:
        _init(source, names, options)
        yield from map(_work, tasks)
        return
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers, initializer=_init, initargs=(source, names, options)) as pool:
        yield from pool.imap(_work, tasks, chunksize=8)


def _init(source: ImageSource, names: dict[int, str], options: EncodeOptions) -> None:
    global _source, _store, _names, _options
    _source, _names, _options = source, names, options
    _store = open_store(source.settings) if source.settings is not None else None


def _work(task: Task) -> Result:
    assert _source is not None
    try:
        data = _source.read(task.image["file_name"], _store)
        return task, encode(task.image, task.annotations, _names, data, _options)
    except SkipImage as exc:
        return task, str(exc)
