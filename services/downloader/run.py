"""A whole URL list through a pool of workers, over a store: outcomes and the manifest are saved as they grow
(every few seconds), so a killed run resumes where it was; at the end they are rewritten in input order, with the
summary and the Labelbox import file."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from threading import Event

from transferline import keys
from transferline.contracts import DownloadOutcome, ImageRecord, read_stored_rows, rows_jsonl
from transferline.errors import Interrupted
from transferline.fanout import ChunkRef
from transferline.store import Store
from transferline_downloader.worker import Result

CHECKPOINT_SECONDS = 3.0
Progress = Callable[[int, int, dict[str, float]], None]


@dataclass(frozen=True)
class Layout:
    """Where one run's files go (keys from keys.py)."""

    outcomes: str
    manifest: str
    summary: str

    @classmethod
    def of_job(cls, job: str) -> Layout:
        return cls(keys.download_outcomes(job), keys.image_manifest(job), keys.download_summary(job))

    @classmethod
    def of_chunk(cls, job: str, stage: str, chunk: ChunkRef) -> Layout:
        def file(name: str) -> str:
            return keys.chunk_file(job, stage, chunk.group, chunk.index, name)

        return cls(file("outcomes.jsonl"), file("manifest.jsonl"), file("summary.json"))


@dataclass
class Ledger:
    """What is known so far: an outcome per URL handled, a record per stored image."""

    outcomes: dict[str, DownloadOutcome] = field(default_factory=dict)
    records: dict[str, ImageRecord] = field(default_factory=dict)
    fetched: int = 0  # URLs handled by this run (not resumed)
    fetched_ok: int = 0
    saved_at: float = 0.0
    save_cost: float = 0.0  # seconds the last save took

    def add(self, result: Result) -> None:
        self.outcomes[result.outcome.url] = result.outcome
        if result.record is not None:
            self.records.setdefault(result.record.sha256, result.record)
            self.fetched_ok += 1
        self.fetched += 1

    def save(self, store: Store, layout: Layout, urls: Iterable[str] | None = None) -> None:
        outcomes = self.outcomes.values() if urls is None else [self.outcomes[u] for u in urls if u in self.outcomes]
        store.put_bytes(layout.manifest, rows_jsonl(self.records.values()), "application/x-ndjson")
        store.put_bytes(layout.outcomes, rows_jsonl(outcomes), "application/x-ndjson")

    @classmethod
    def load(cls, store: Store, layout: Layout, into: Ledger | None = None) -> Ledger:
        ledger = into if into is not None else cls()
        for outcome in read_stored_rows(store, layout.outcomes, DownloadOutcome):
            ledger.outcomes[outcome.url] = outcome
        for record in read_stored_rows(store, layout.manifest, ImageRecord):
            ledger.records.setdefault(record.sha256, record)
        return ledger


def download_urls(
    urls: list[str],
    worker: Callable[[str], Result],
    store: Store,
    layout: Layout,
    *,
    workers: int,
    resume: bool,
    stopping: Event,
    progress: Progress,
) -> dict:
    """Every URL's outcome (those recorded already are kept when resuming); returns the summary written."""
    started = time.monotonic()
    ledger = Ledger.load(store, layout) if resume else Ledger()
    todo = [url for url in urls if url not in ledger.outcomes]
    _pool(todo, worker, workers, ledger, stopping, lambda: _tick(ledger, store, layout, len(urls), progress))
    if stopping.is_set() and len(ledger.outcomes) < len(urls):
        ledger.save(store, layout)
        raise Interrupted(f"stopped with {len(urls) - len(ledger.outcomes)} URLs left; they resume on restart")
    wanted = {ledger.outcomes[u].sha256 for u in urls if ledger.outcomes[u].sha256}
    ledger.records = {sha: record for sha, record in ledger.records.items() if sha in wanted}
    ledger.save(store, layout, urls)
    summary = summarise(ledger, urls, time.monotonic() - started)
    store.put_bytes(layout.summary, json.dumps(summary, indent=1).encode(), "application/json")
    return summary


def _pool(
    todo: list[str],
    worker: Callable[[str], Result],
    workers: int,
    ledger: Ledger,
    stopping: Event,
    tick: Callable[[], None],
) -> None:
    """Run the worker over `todo` with a bounded number of URLs in flight (memory stays flat as lists grow)."""
    pending: set[Future[Result]] = set()
    queue = iter(todo)
    with ThreadPoolExecutor(workers, thread_name_prefix="download") as pool:
        while True:
            while len(pending) < 2 * workers and not stopping.is_set() and (url := next(queue, None)) is not None:
                pending.add(pool.submit(worker, url))
            if not pending:
                return
            done, pending = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
            for future in done:
                ledger.add(future.result())
            tick()


def _tick(ledger: Ledger, store: Store, layout: Layout, total: int, progress: Progress) -> None:
    progress(len(ledger.outcomes), total, {"fetched": ledger.fetched, "ok": ledger.fetched_ok})
    if time.monotonic() - ledger.saved_at >= max(CHECKPOINT_SECONDS, 20 * ledger.save_cost):
        started = time.monotonic()
        ledger.save(store, layout)
        # whole files are rewritten: as they grow, save less often, so saving stays a small part of the work
        ledger.saved_at, ledger.save_cost = time.monotonic(), time.monotonic() - started


def summarise(ledger: Ledger, urls: list[str], seconds: float) -> dict:
    outcomes = [ledger.outcomes[url] for url in urls]
    reasons: dict[str, int] = {}
    for outcome in outcomes:
        if outcome.reason:
            reasons[outcome.reason] = reasons.get(outcome.reason, 0) + 1
    ok = sum(1 for o in outcomes if o.status == "ok")
    return {
        "urls": len(urls),
        "ok": ok,
        "failed": len(urls) - ok,
        "reasons": dict(sorted(reasons.items())),
        "stored": len(ledger.records),
        "duplicates": ok - len(ledger.records),
        "bytes": sum(record.bytes for record in ledger.records.values()),
        "fetched_this_run": ledger.fetched,
        "fetched_ok": ledger.fetched_ok,
        "wall_seconds": round(seconds, 3),
        "images_per_second": round(ledger.fetched_ok / seconds, 2) if seconds > 0 else 0.0,
    }
