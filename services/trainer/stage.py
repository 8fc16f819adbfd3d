"""The train stage: the job's TFRecords (records/) + COCO splits (labels/) -> a fine-tuned, evaluated, exported
detector under models/<run>/. Checkpoints reach the store while training, so a restarted service resumes."""

from __future__ import annotations

from typing import ClassVar

from transferline import keys
from transferline.stage import Stage, StageContext, StageResult
from transferline_trainer.request import TrainRequested
from transferline_trainer.settings import TrainerSettings


class TrainStage(Stage[TrainRequested]):
    name: ClassVar[str] = "train"
    Request: ClassVar[type[TrainRequested]] = TrainRequested
    settings_model: ClassVar[type[TrainerSettings]] = TrainerSettings

    def __init__(self, settings: TrainerSettings | None = None) -> None:
        self.settings = settings or TrainerSettings.from_env()

    def inputs(self, request: TrainRequested, job_id: str) -> list[str]:
        """The records, the COCO splits, the images (evaluation pictures) and a base checkpoint kept in the store."""
        found = [keys.records(job_id), keys.labels(job_id), keys.images(job_id)]
        if request.base_checkpoint and request.base_checkpoint.startswith(("s3://", "file://")):
            found.append(request.base_checkpoint)  # a URL's content is pinned by base_checkpoint_sha256, if at all
        return found

    def handle(self, request: TrainRequested, ctx: StageContext) -> StageResult:
        from transferline_trainer.job import train_job  # TensorFlow and Model Garden: loaded for work only

        return train_job(request, ctx, self.settings)
