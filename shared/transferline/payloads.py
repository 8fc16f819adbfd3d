"""Versioned payload models (the `data` of each event). Requests are per stage; outcomes are shared."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, PositiveInt, field_validator


class Payload(BaseModel):
    """Every payload rejects unknown fields, so a typo is an error instead of a silent default."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    VERSION: ClassVar[int] = 1


class PlanStep(Payload):
    """A stage to run after this one, with the options of its request."""

    stage: str = Field(min_length=1, max_length=200)
    options: dict[str, Any] = Field(default_factory=dict)


class StageRequest(Payload):
    """Base of every stage request: the work to do now and the stages to chain after it."""

    plan: list[PlanStep] = Field(default_factory=list, max_length=20)


class StageOutcome(Payload):
    """What a stage says in answer to one request: completed, failed or progress."""

    stage: str
    request_id: str = Field(description="id of the request event this answers")


class StageCompleted(StageOutcome):
    input_digest: str
    outputs: dict[str, str] = Field(default_factory=dict, description="artifact name -> URI")
    counters: dict[str, float] = Field(default_factory=dict)
    seconds: float = 0.0
    replayed: bool = Field(False, description="true when the work had been done already (redelivery)")


FailureReason = Literal["invalid-input", "retries-exhausted", "internal-error"]


class StageFailed(StageOutcome):
    reason: FailureReason
    message: str
    attempts: NonNegativeInt = 0


class StageProgress(StageOutcome):
    done: NonNegativeInt = 0
    total: NonNegativeInt | None = None
    message: str = ""
    metrics: dict[str, float] = Field(default_factory=dict)


class DeadLetter(Payload):
    """What could not be processed, with why, kept whole so it can be replayed."""

    reason: str
    source_topic: str
    partition: NonNegativeInt
    offset: NonNegativeInt
    service: str
    original: str = Field(description="the original message, decoded as UTF-8 with replacement")


class CollectRequested(StageRequest):
    queries: list[str] = Field(default_factory=list, max_length=100)
    providers: list[str] = Field(default_factory=lambda: ["openverse", "wikimedia"])
    url_list_uri: str | None = Field(None, description="an uploaded list of URLs (one per line)")
    max_per_query: PositiveInt = 200


class DownloadRequested(StageRequest):
    urls_uri: str | None = Field(None, description="defaults to the job's urls/urls.jsonl")
    max_bytes: PositiveInt = 20 * 1024 * 1024
    min_side: PositiveInt = 32


ExportFormat = Literal["auto", "labelbox-ndjson", "labelbox-json", "coco", "label-studio", "cvat", "voc", "yolo"]


class ConvertRequested(StageRequest):
    exports: list[str] = Field(
        default_factory=list, max_length=50, description="file names under the job's labels/raw/ (empty: all of them)"
    )
    format: ExportFormat = "auto"
    split: dict[str, float] = Field(default_factory=lambda: {"train": 0.8, "val": 0.1, "test": 0.1})
    split_list: str | None = Field(None, description='file under labels/raw/: {"train": [image names], "val": [...]}')
    seed: int = 0
    classes: list[str] | None = Field(None, description="the only classes to keep; others are reported unknown")
    rename_classes: dict[str, str] = Field(default_factory=dict, description="class -> new name ('' drops it)")
    category_map: dict[str, str] = Field(default_factory=dict, description="class -> COCO class name (warm start)")
    out_of_bounds: Literal["clip", "drop"] = "clip"
    legacy_y_origin: Literal["auto", "bottom-left", "top-left"] = "auto"
    near_duplicate_bits: int = Field(4, ge=-1, le=32, description="pHash Hamming distance for near-duplicates; -1: off")
    require_images: bool = Field(True, description="drop rows whose image was never downloaded")
    max_error_fraction: float = Field(0.1, ge=0, le=1, description="fail when more rows than this are unusable")

    @field_validator("split")
    @classmethod
    def _ratios(cls, split: dict[str, float]) -> dict[str, float]:
        if set(split) - {"train", "val", "test"} or any(not v >= 0 for v in split.values()) or sum(split.values()) <= 0:
            raise ValueError("give non-negative ratios of train, val and test with a positive sum")
        return split


class RecordsRequested(StageRequest):
    num_shards: PositiveInt | None = Field(None, description="shards per split (default: from shard_mb)")
    shard_mb: PositiveInt = Field(128, description="target shard size when num_shards is not given")
    include_masks: bool = Field(False, description="write one PNG mask per instance (for Mask R-CNN)")
    max_side: PositiveInt | None = Field(None, description="shrink larger images to this longest side")
    max_bad_fraction: float = Field(0.05, ge=0, le=1, description="fail when more images than this are unusable")
    verify_pixels: bool = Field(False, description="decode every image to catch damage inside it (slower)")


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


BUILTIN_REQUESTS: dict[str, type[StageRequest]] = {
    "collect": CollectRequested,
    "download": DownloadRequested,
    "convert": ConvertRequested,
    "records": RecordsRequested,
    "train": TrainRequested,
}
OUTCOMES: dict[str, type[StageOutcome]] = {
    "completed": StageCompleted,
    "failed": StageFailed,
    "progress": StageProgress,
}
