"""The download stage's work over a store: read the job's URL list, download it (or one chunk of it), write the
outputs under images/ (and the Labelbox import file), and say how it went; merge a fanned-out job's chunks."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from transferline import keys, status
from transferline.contracts import ImageRecord
from transferline.errors import InvalidInput, WorkFailed
from transferline.fanout import ChunkResult
from transferline.fetch import Fetcher
from transferline.stage import StageContext, StageResult
from transferline.store import Store
from transferline_downloader.decoders import inspect_in_pool
from transferline_downloader.inputs import read_urls
from transferline_downloader.inspect import Limits
from transferline_downloader.journal import Journal, Layout, stored_lines
from transferline_downloader.request import DownloadRequested
from transferline_downloader.run import chunk_layout, download_urls, job_layout
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
    layout = job_layout(ctx.job_id) if chunk is None else chunk_layout(ctx.job_id, stage, chunk)
    if chunk is not None:
        urls = urls[chunk.start : chunk.stop]
    summary = download_urls(
        urls,
        make_worker(request, ctx, settings),
        ctx.store,
        layout,
        scratch(ctx),
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
    urls, layout = job_urls(ctx.store, ctx.job_id), job_layout(ctx.job_id)
    with Journal(urls, scratch(ctx)) as journal:
        for part in parts:
            journal.load(ctx.store, Layout(part.outputs["outcomes"], part.outputs["manifest"], ""))
        missing = journal.first_missing()
        if missing is not None:
            left = len(urls) - journal.done
            raise InvalidInput(f"{left} URLs have no outcome in any chunk (first: {urls[missing][:200]})")
        tally = journal.write(ctx.store, layout, scratch(ctx))
    fetched, fetched_ok = (int(sum(part.counters.get(name, 0) for part in parts)) for name in ("fetched", "fetched_ok"))
    summary = tally.summary(fetched, fetched_ok, _since_fanned_out(ctx, stage))
    summary["chunks"] = len(parts)
    summary["chunk_seconds"] = round(sum(part.counters.get("wall_seconds", 0.0) for part in parts), 3)
    ctx.store.put_bytes(layout.summary, json.dumps(summary, indent=1).encode(), "application/json")
    return finish(request, ctx, settings, summary)


def _since_fanned_out(ctx: StageContext, stage: str) -> float:
    """Wall time of the whole job: from the status the runner wrote when it split the request, to now."""
    found = status.read_status(ctx.store, ctx.job_id, stage)
    return (status.now() - found.started_at).total_seconds() if found is not None else 0.0


def finish(request: DownloadRequested, ctx: StageContext, settings: DownloaderSettings, summary: dict) -> StageResult:
    job, store, layout = ctx.job_id, ctx.store, job_layout(ctx.job_id)
    with tempfile.TemporaryFile(dir=scratch(ctx), prefix="labelbox-") as file:
        write_labelbox_import(file, stored_lines(store, layout.manifest), store, settings)
        file.seek(0)
        store.put_stream(keys.labelbox_import(job), file, "application/json")  # type: ignore[arg-type]
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
    policy = Policy(
        job=ctx.job_id,
        limits=Limits(max_pixels=request.max_pixels, min_side=request.min_side),
        retries=request.retries,
        per_host=request.per_host,
        honour_opt_out=settings.download_honour_opt_out,
        scratch=scratch(ctx),
    )
    return Worker(fetcher, ctx.store, policy, ctx.stopping, inspect_in_pool)


def scratch(ctx: StageContext) -> Path:
    """The job's local working folder: bodies being judged, the journal's temp files."""
    folder = ctx.scratch(keys.images(ctx.job_id))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def counters_of(summary: dict) -> dict[str, float]:
    names = ("urls", "ok", "failed", "stored", "duplicates", "bytes", "wall_seconds", "images_per_second")
    counters = {name: float(summary[name]) for name in names}
    counters["fetched"], counters["fetched_ok"] = float(summary["fetched_this_run"]), float(summary["fetched_ok"])
    counters.update({f"failed.{reason}": float(count) for reason, count in summary["reasons"].items()})
    return counters


def write_labelbox_import(
    file: IO[bytes], manifest: Iterable[bytes], store: Store, settings: DownloaderSettings
) -> None:
    """Labelbox data rows, one a line of a JSON array, from the manifest's lines as they stream by: row_data a URL
    Labelbox can fetch, global_key the digest (what its export gives back)."""
    base = settings.download_public_base_url.rstrip("/")
    seconds = settings.download_presign_seconds
    file.write(b"[")
    for n, line in enumerate(manifest):
        record = ImageRecord.model_validate_json(line)
        row = {
            "row_data": f"{base}/{record.key}" if base else store.presigned_url(record.key, seconds),
            "global_key": record.sha256,
            "external_id": record.url or record.file_name or record.sha256,
        }
        file.write(((",\n" if n else "\n") + json.dumps(row)).encode())
    file.write(b"\n]\n")
