"""The records stage: the job's COCO splits (labels/coco_<split>.json) + stored images -> TFRecord shards,
label map, stats and sample pictures under records/."""

from __future__ import annotations

from typing import ClassVar

from transferline import keys
from transferline.stage import Stage, StageContext, StageResult
from transferline_recorder.request import RecordsRequested


class RecordsStage(Stage[RecordsRequested]):
    name: ClassVar[str] = "records"
    Request: ClassVar[type[RecordsRequested]] = RecordsRequested

    def inputs(self, request: RecordsRequested, job_id: str) -> list[str]:
        """The converter's COCO splits and the stored images."""
        return [keys.labels(job_id), keys.images(job_id)]

    def handle(self, request: RecordsRequested, ctx: StageContext) -> StageResult:
        from transferline_recorder.job import records_job  # image and protobuf libraries: loaded for work only

        return records_job(request, ctx)
