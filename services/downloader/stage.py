"""The download stage: a job's URL list -> images/ (content-addressed), manifest, outcomes, summary."""

from __future__ import annotations

from typing import ClassVar

from transferline import keys
from transferline.fanout import ChunkedStage, ChunkResult
from transferline.stage import StageContext, StageResult
from transferline_downloader.request import DownloadRequested
from transferline_downloader.settings import DownloaderSettings


class DownloadStage(ChunkedStage[DownloadRequested]):
    name: ClassVar[str] = "download"
    Request: ClassVar[type[DownloadRequested]] = DownloadRequested
    settings_model: ClassVar[type[DownloaderSettings]] = DownloaderSettings

    def __init__(self, settings: DownloaderSettings | None = None) -> None:
        self.settings = settings or DownloaderSettings.from_env()

    def inputs(self, request: DownloadRequested, job_id: str) -> list[str]:
        return [keys.urls(job_id)]

    def count_items(self, request: DownloadRequested, ctx: StageContext) -> int:
        from transferline_downloader.job import job_urls

        return len(job_urls(ctx.store, ctx.job_id))

    def handle(self, request: DownloadRequested, ctx: StageContext) -> StageResult:
        from transferline_downloader.job import download_job  # Pillow and imagehash: loaded for work only

        return download_job(request, ctx, self.settings, self.name)

    def merge(self, request: DownloadRequested, ctx: StageContext, parts: list[ChunkResult]) -> StageResult:
        from transferline_downloader.job import merge_job

        return merge_job(request, ctx, self.settings, parts, self.name)
