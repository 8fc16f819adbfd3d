"""The records stage: the job's COCO splits (labels/coco_<split>.json) + stored images -> TFRecord shards,
label map, stats and sample pictures under records/."""

from __future__ import annotations

from typing import ClassVar

from transferline.stage import Stage, StageContext, StageResult
from transferline_recorder.request import RecordsRequested


class RecordsStage(Stage[RecordsRequested]):
    name: ClassVar[str] = "records"
    Request: ClassVar[type[RecordsRequested]] = RecordsRequested

    def handle(self, request: RecordsRequested, ctx: StageContext) -> StageResult:
        from transferline_recorder.job import records_job  # image and protobuf libraries: loaded for work only

        return records_job(request, ctx)
