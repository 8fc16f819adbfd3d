"""The convert stage: the job's raw label exports (labels/raw/) + its stored images -> COCO, splits, report."""

from __future__ import annotations

from typing import ClassVar

from transferline import keys
from transferline.stage import Stage, StageContext, StageResult
from transferline_converter.request import ConvertRequested
from transferline_converter.settings import ConverterSettings


class ConvertStage(Stage[ConvertRequested]):
    name: ClassVar[str] = "convert"
    Request: ClassVar[type[ConvertRequested]] = ConvertRequested
    settings_model: ClassVar[type[ConverterSettings]] = ConverterSettings

    def __init__(self, settings: ConverterSettings | None = None) -> None:
        self.settings = settings or ConverterSettings.from_env()

    def inputs(self, request: ConvertRequested, job_id: str) -> list[str]:
        """Its exports and split list (under labels/raw/) and the stored images with their manifest."""
        return [keys.raw_labels_prefix(job_id), keys.images(job_id)]

    def handle(self, request: ConvertRequested, ctx: StageContext) -> StageResult:
        from transferline_converter.job import convert_job  # geometry and image libraries: loaded for work only

        return convert_job(request, ctx, self.settings)
