"""The download stage's work over a store: read the job's URL list, download it, write the outputs under images/
(and the Labelbox import file), and say how it went."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable

from transferline import keys
from transferline.contracts import ImageRecord, read_stored_rows
from transferline.errors import InvalidInput, WorkFailed
from transferline.fetch import Fetcher
from transferline.stage import StageContext, StageResult
from transferline.store import Store
from transferline_downloader.inputs import read_urls
from transferline_downloader.inspect import Limits
from transferline_downloader.request import DownloadRequested
from transferline_downloader.run import Layout, download_urls
from transferline_downloader.settings import DownloaderSettings
from transferline_downloader.worker import Policy, Worker


def download_job(request: DownloadRequested, ctx: StageContext, settings: DownloaderSettings) -> StageResult:
    job, store = ctx.job_id, ctx.store
    try:
        urls = read_urls(store.get_bytes(keys.urls(job)))
    except KeyError:
        raise InvalidInput(f"no URL list at {keys.urls(job)}: collect URLs or upload a list there first") from None
    layout = Layout.of_job(job)
    worker = make_worker(request, ctx, settings)
    summary = download_urls(
        urls,
        worker,
        store,
        layout,
        workers=request.workers,
        resume=request.resume,
        stopping=ctx.stopping,
        progress=lambda done, total, values: ctx.progress(done, total, "downloading", **values),
    )
    records = _records(store, layout)
    store.put_bytes(keys.labelbox_import(job), labelbox_import(records, store, settings), "application/json")
    outputs = {
        "manifest": layout.manifest,
        "outcomes": layout.outcomes,
        "summary": layout.summary,
        "labelbox_import": keys.labelbox_import(job),
    }
    counters = counters_of(summary)
    if summary["urls"] and summary["failed"] / summary["urls"] > request.max_failed_fraction:
        raise WorkFailed(
            f"{summary['failed']} of {summary['urls']} URLs failed, over the {request.max_failed_fraction:g} "
            f"allowed (reasons: {summary['reasons']}; see {layout.outcomes})"
        )
    return StageResult(outputs, counters)


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
    counters = {name: float(summary[name]) for name in ("urls", "ok", "failed", "stored", "duplicates", "bytes")}
    counters["images_per_second"] = float(summary["images_per_second"])
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


def _records(store: Store, layout: Layout) -> list[ImageRecord]:
    return list(read_stored_rows(store, layout.manifest, ImageRecord))
