"""A whole URL list through a pool of workers, over a store: outcomes and manifest records are appended to a
journal as they come and checkpointed to the store every few seconds, so a killed run resumes where it was and
memory stays flat as the list grows; at the end they are written in input order, with the summary."""

from __future__ import annotations

import json
import queue
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from threading import Event

from transferline import keys
from transferline.errors import Interrupted
from transferline.fanout import ChunkRef
from transferline.store import Store
from transferline_downloader.journal import Journal, Layout
from transferline_downloader.worker import Result

CHECKPOINT_SECONDS = 3.0
PROGRESS_SECONDS = 0.5  # progress reports (a heartbeat for the bus, a bar on a terminal) at most this often
Progress = Callable[[int, int, dict[str, float]], None]


def job_layout(job: str) -> Layout:
    return Layout(keys.download_outcomes(job), keys.image_manifest(job), keys.download_summary(job))


def chunk_layout(job: str, stage: str, chunk: ChunkRef) -> Layout:
    def file(name: str) -> str:
        return keys.chunk_file(job, stage, chunk.group, chunk.index, name)

    return Layout(file("outcomes.jsonl"), file("manifest.jsonl"), file("summary.json"))


def download_urls(
    urls: list[str],
    worker: Callable[[str], Result],
    store: Store,
    layout: Layout,
    scratch: Path,
    *,
    workers: int,
    resume: bool,
    stopping: Event,
    progress: Progress,
) -> dict:
    """Every URL's outcome (those recorded already are kept when resuming); returns the summary written."""
    started = time.monotonic()
    with Journal(urls, scratch) as journal:
        if resume:
            journal.load(store, layout)
        todo = (index for index in range(len(urls)) if not journal.has(index))
        checkpoint = _Checkpoint(journal, store, layout, progress)
        for index, result in _pool(todo, urls, worker, workers, stopping, checkpoint.tick):
            journal.add(index, result.outcome, result.record)
        checkpoint.report()
        if journal.first_missing() is not None:  # stopped
            journal.save(store, layout)
            raise Interrupted(f"stopped with {len(urls) - journal.done} URLs left; they resume on restart")
        tally = journal.write(store, layout, scratch)
        summary = tally.summary(journal.fetched, journal.fetched_ok, time.monotonic() - started)
    store.put_bytes(layout.summary, json.dumps(summary, indent=1).encode(), "application/json")
    return summary


def _pool(
    todo: Iterator[int],
    urls: list[str],
    worker: Callable[[str], Result],
    workers: int,
    stopping: Event,
    tick: Callable[[], None],
) -> Iterator[tuple[int, Result]]:
    """(index, result) for the URLs of `todo` as they finish, with a bounded number in flight (memory stays flat
    as lists grow); `tick` runs between batches and at least every second."""
    finished: queue.SimpleQueue[tuple[int, Future[Result]]] = queue.SimpleQueue()
    in_flight = 0

    def arrives(index: int) -> Callable[[Future[Result]], None]:
        return lambda done: finished.put((index, done))

    with ThreadPoolExecutor(workers, thread_name_prefix="download") as pool:
        while True:
            while in_flight < 2 * workers and not stopping.is_set() and (index := next(todo, None)) is not None:
                future = pool.submit(worker, urls[index])
                future.add_done_callback(arrives(index))
                in_flight += 1
            if not in_flight:
                return
            try:
                index, future = finished.get(timeout=1.0)
                while True:
                    in_flight -= 1
                    yield index, future.result()
                    index, future = finished.get_nowait()
            except queue.Empty:
                pass
            tick()


class _Checkpoint:
    """Progress every PROGRESS_SECONDS; the journal saved to the store at least every CHECKPOINT_SECONDS but
    never more often than 20x the last save took (whole files are copied: as they grow, saving stays a small
    part)."""

    def __init__(self, journal: Journal, store: Store, layout: Layout, progress: Progress) -> None:
        self.journal, self.store, self.layout, self.progress = journal, store, layout, progress
        self.saved_at = time.monotonic()
        self.reported_at = 0.0  # the first batch is reported at once
        self.cost = 0.0

    def tick(self) -> None:
        now = time.monotonic()
        if now - self.reported_at < PROGRESS_SECONDS:
            return
        self.report()
        if now - self.saved_at >= max(CHECKPOINT_SECONDS, 20 * self.cost):
            started = time.monotonic()
            self.journal.save(self.store, self.layout)
            self.saved_at = time.monotonic()
            self.cost = self.saved_at - started

    def report(self) -> None:
        journal, self.reported_at = self.journal, time.monotonic()
        self.progress(journal.done, len(journal.urls), {"fetched": journal.fetched, "ok": journal.fetched_ok})
