"""The download stage's work over a store: read the job's URL list, download it (or one chunk of it), write the
outputs under images/ (and the Labelbox import file), and say how it went; merge a fanned-out job's chunks."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable

from transferline import keys, status
from transferline.contracts import ImageRecord, read_stored_rows
from transferline.errors import InvalidInput, WorkFailed
from transferline.fanout import ChunkResult
from transferline.fetch import Fetcher
from transferline.stage import StageContext, StageResult
from transferline.store import Store
from transferline_downloader.inputs import read_urls
from transferline_downloader.inspect import Limits
from transferline_downloader.request import DownloadRequested
from transferline_downloader.run import Layout, Ledger, download_urls, summarise
from transferline_downloader.settings import DownloaderSettings
from transferline_downloader.worker import Policy, Worker


def job_urls(store: Store, job: str) -> list[str]:
    try:
        return read_urls(store.get_bytes(keys.urls(job)))
    except KeyError:
        raise InvalidInput(f"no URL list at {keys.urls(job)}: collect URLs or upload a list there first") from None


def download_job(
    request: DownloadRequested, ctx: StageContext, settings: DownloaderSettings, stage: str
) -> StageResult:
    """The whole list, or the slice of it `request.chunk` names (its files then go under the chunk's keys)."""
    urls, chunk = job_urls(ctx.store, ctx.job_id), request.chunk
    layout = Layout.of_job(ctx.job_id) if chunk is None else Layout.of_chunk(ctx.job_id, stage, chunk)
    if chunk is not None:
        urls = urls[chunk.start : chunk.stop]
    summary = download_urls(
        urls,
        make_worker(request, ctx, settings),
        ctx.store,
        layout,
        workers=request.workers,
        resume=request.resume,
        stopping=ctx.stopping,
        progress=lambda done, total, values: ctx.progress(done, total, "downloading", **values),
    )
    if chunk is not None:
        return StageResult({"outcomes": layout.outcomes, "manifest": layout.manifest}, counters_of(summary))
    return finish(request, ctx, settings, summary)


def merge_job(
    request: DownloadRequested, ctx: StageContext, settings: DownloaderSettings, parts: list[ChunkResult], stage: str
) -> StageResult:
    """The chunks' outcomes and manifests as the job's, in input order, with its summary and Labelbox file."""
    ledger = Ledger()
    for part in parts:
        Ledger.load(ctx.store, Layout(part.outputs["outcomes"], part.outputs["manifest"], ""), into=ledger)
        ledger.fetched += int(part.counters.get("fetched", 0))
        ledger.fetched_ok += int(part.counters.get("fetched_ok", 0))
    urls = job_urls(ctx.store, ctx.job_id)
    missing = [url for url in urls if url not in ledger.outcomes]
    if missing:
        raise InvalidInput(f"{len(missing)} URLs have no outcome in any chunk (first: {missing[0][:200]})")
    layout = Layout.of_job(ctx.job_id)
    ledger.save(ctx.store, layout, urls)
    summary = summarise(ledger, urls, _since_fanned_out(ctx, stage))
    summary["chunks"] = len(parts)
    summary["chunk_seconds"] = round(sum(part.counters.get("wall_seconds", 0.0) for part in parts), 3)
    ctx.store.put_bytes(layout.summary, json.dumps(summary, indent=1).encode(), "application/json")
    return finish(request, ctx, settings, summary)


def _since_fanned_out(ctx: StageContext, stage: str) -> float:
    """Wall time of the whole job: from the status the runner wrote when it split the request, to now."""
    found = status.read_status(ctx.store, ctx.job_id, stage)
    return (status.now() - found.started_at).total_seconds() if found is not None else 0.0


def finish(request: DownloadRequested, ctx: StageContext, settings: DownloaderSettings, summary: dict) -> StageResult:
    job, store, layout = ctx.job_id, ctx.store, Layout.of_job(ctx.job_id)
    records = read_stored_rows(store, layout.manifest, ImageRecord)
    store.put_bytes(keys.labelbox_import(job), labelbox_import(records, store, settings), "application/json")
    outputs = {
        "manifest": layout.manifest,
        "outcomes": layout.outcomes,
        "summary": layout.summary,
        "labelbox_import": keys.labelbox_import(job),
    }
    if summary["urls"] and summary["failed"] / summary["urls"] > request.max_failed_fraction:
        raise WorkFailed(
            f"{summary['failed']} of {summary['urls']} URLs failed, over the {request.max_failed_fraction:g} "
            f"allowed (reasons: {summary['reasons']}; see {layout.outcomes})"
        )
    return StageResult(outputs, counters_of(summary))


def make_worker(request: DownloadRequested, ctx: StageContext, settings: DownloaderSettings) -> Worker:
    fetcher = Fetcher(
        max_bytes=request.max_bytes,
        deadline=request.timeout,
        max_redirects=request.max_redirects,
        allow_networks=settings.allow_networks,
        user_agent=settings.download_user_agent,
    )
    scratch = ctx.scratch(keys.images(ctx.job_id))
    os.makedirs(scratch, exist_ok=True)
    policy = Policy(
        job=ctx.job_id,
        limits=Limits(max_pixels=request.max_pixels, min_side=request.min_side),
        retries=request.retries,
        per_host=request.per_host,
        honour_opt_out=settings.download_honour_opt_out,
        scratch=scratch,
    )
    return Worker(fetcher, ctx.store, policy, ctx.stopping)


def counters_of(summary: dict) -> dict[str, float]:
    names = ("urls", "ok", "failed", "stored", "duplicates", "bytes", "wall_seconds", "images_per_second")
    counters = {name: float(summary[name]) for name in names}
    counters["fetched"], counters["fetched_ok"] = float(summary["fetched_this_run"]), float(summary["fetched_ok"])
    counters.update({f"failed.{reason}": float(count) for reason, count in summary["reasons"].items()})
    return counters


def labelbox_import(records: Iterable[ImageRecord], store: Store, settings: DownloaderSettings) -> bytes:
    """Labelbox data rows: row_data a URL Labelbox can fetch, global_key the digest (what its export gives back)."""
    base = settings.download_public_base_url.rstrip("/")
    seconds = settings.download_presign_seconds
    rows = [
        {
            "row_data": f"{base}/{record.key}" if base else store.presigned_url(record.key, seconds),
            "global_key": record.sha256,
            "external_id": record.url or record.file_name or record.sha256,
        }
        for record in records
    ]
    return json.dumps(rows, indent=1).encode()
