"""The train stage under a name a subprocess test chooses, so services on the shared Kafka never mix."""

from __future__ import annotations

import os

from transferline_trainer.stage import TrainStage


class NamedTrainStage(TrainStage):
    name = os.environ.get("TRANSFERLINE_TEST_STAGE", "train")
