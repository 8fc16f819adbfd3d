"""The train stage: the job's TFRecords (records/) + COCO splits (labels/) -> a fine-tuned, evaluated, exported
detector under models/<run>/. Checkpoints reach the store while training, so a restarted service resumes."""

from __future__ import annotations

from typing import ClassVar

from transferline.stage import Stage, StageContext, StageResult
from transferline_trainer.request import TrainRequested


class TrainStage(Stage[TrainRequested]):
    name: ClassVar[str] = "train"
    Request: ClassVar[type[TrainRequested]] = TrainRequested

    def handle(self, request: TrainRequested, ctx: StageContext) -> StageResult:
        from transferline_trainer.job import train_job  # TensorFlow and Model Garden: loaded for work only

        return train_job(request, ctx)
