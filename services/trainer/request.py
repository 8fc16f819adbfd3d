"""The train stage's request: what `transferline publish train` and `transferline train` both validate."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, NonNegativeInt, PositiveInt

from transferline.payloads import Payload, StageRequest


class Augmentation(Payload):
    """What the training input pipeline varies (Model Garden's parser options)."""

    hflip: bool = True
    scale_min: float = Field(0.8, gt=0, le=1)
    scale_max: float = Field(1.2, ge=1, le=4)


class TrainRequested(StageRequest):
    model: str = Field("retinanet_mobilenetv2", description="a name from the trainer's model catalogue")
    run: str = Field("run1", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    classes: list[str] | None = Field(None, description="the classes you expect; fails when the label map differs")
    steps: PositiveInt = 1000
    batch_size: PositiveInt = 8
    input_size: int = Field(384, ge=64, le=2048, multiple_of=32, description="square input side in pixels")
    learning_rate: float = Field(0.02, gt=0, le=10)
    schedule: Literal["cosine", "constant", "stepwise"] = "cosine"
    warmup_steps: NonNegativeInt = Field(100, description="linear warm-up from 10% of the rate")
    augmentation: Augmentation = Field(default_factory=Augmentation)
    base_checkpoint: str | None = Field(
        None, description="https URL of a checkpoint archive or a store URI; default: the catalogue's COCO one"
    )
    base_checkpoint_sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    from_scratch: bool = Field(False, description="train without any base checkpoint")
    freeze_backbone: bool = False
    class_warm_start: bool = Field(True, description="start mapped classes from their COCO class's head weights")
    checkpoint_every: PositiveInt = Field(200, description="steps between checkpoints written to the store")
    max_wall_seconds: PositiveInt | None = Field(None, description="stop training after this long, then evaluate")
    precision: Literal["auto", "float32", "mixed_float16", "mixed_bfloat16"] = Field(
        "auto", description="auto: mixed_float16 on a GPU, float32 on CPU"
    )
    export_input: Literal["image_tensor", "image_bytes"] = "image_tensor"
    tflite: bool = False
    min_score: float = Field(0.3, ge=0, le=1, description="score threshold of the prediction pictures")
    overrides: dict[str, Any] = Field(
        default_factory=dict, description="Model Garden params override (nested dict), checked against its config"
    )
