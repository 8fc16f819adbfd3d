"""The collect stage: search queries and the job's uploaded URL lists -> urls/urls.jsonl, report, credits."""

from __future__ import annotations

from typing import ClassVar

from transferline import keys
from transferline.stage import Stage, StageContext, StageResult
from transferline_collector.request import CollectRequested
from transferline_collector.settings import CollectorSettings


class CollectStage(Stage[CollectRequested]):
    name: ClassVar[str] = "collect"
    Request: ClassVar[type[CollectRequested]] = CollectRequested
    settings_model: ClassVar[type[CollectorSettings]] = CollectorSettings

    def __init__(self, settings: CollectorSettings | None = None) -> None:
        self.settings = settings or CollectorSettings.from_env()

    def inputs(self, request: CollectRequested, job_id: str) -> list[str]:
        """Its uploaded URL lists (search results are not inputs: a redelivered request is not searched again)."""
        return [keys.url_lists_prefix(job_id)]

    def handle(self, request: CollectRequested, ctx: StageContext) -> StageResult:
        from transferline_collector.job import collect_job  # HTTP clients and yarl: loaded for work only

        return collect_job(request, ctx, self.settings)
