"""A train request + the job's records -> a Model Garden ExperimentConfig (validated; saved beside the run)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transferline.errors import InvalidInput
from transferline_trainer.catalogue import ModelSpec
from transferline_trainer.request import TrainRequested

STEPS_PER_LOOP = 50  # progress, stop checks and checkpoint uploads happen between loops


@dataclass(frozen=True)
class TrainingData:
    """The recorder's shards on local disk and what the trainer needs to know about them."""

    train_pattern: str
    val_pattern: str | None
    num_classes: int  # highest label id + 1 (0 is the background)
    train_images: int


@dataclass(frozen=True)
class Hardware:
    gpus: int

    @property
    def precision(self) -> str:
        return "mixed_float16" if self.gpus else "float32"


def build_config(spec: ModelSpec, request: TrainRequested, data: TrainingData, hardware: Hardware) -> Any:
    from official.core import exp_factory
    from official.vision import registry_imports  # noqa: F401 (registers the experiments)

    config = exp_factory.get_exp_config(spec.experiment)
    precision = hardware.precision if request.precision == "auto" else request.precision
    try:
        config.override(_changes(spec, request, data, hardware, precision), is_strict=True)
        if request.overrides:
            config.override(request.overrides, is_strict=True)
        config.validate()
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise InvalidInput(f"the training configuration is not valid: {exc}") from None
    return config


def _changes(spec: ModelSpec, request: TrainRequested, data: TrainingData, hardware: Hardware, precision: str) -> dict:
    size = request.input_size
    dtype = {"mixed_float16": "float16", "mixed_bfloat16": "bfloat16"}.get(precision, "float32")
    loop = min(STEPS_PER_LOOP, request.checkpoint_every, request.steps)
    augment = request.augmentation
    model: dict[str, Any] = {**spec.overrides, "num_classes": data.num_classes, "input_size": [size, size, 3]}
    if spec.masks:
        model["include_mask"] = True
    return {
        "runtime": {
            "mixed_precision_dtype": precision,
            "num_gpus": hardware.gpus,
            "enable_xla": bool(hardware.gpus),
        },
        "task": {
            "init_checkpoint": "",  # the trainer restores the base itself (services/trainer/transfer.py)
            "annotation_file": "",
            "freeze_backbone": request.freeze_backbone,
            "model": model,
            "train_data": {
                "input_path": data.train_pattern,
                "global_batch_size": request.batch_size,
                "dtype": dtype,
                "shuffle_buffer_size": min(1000, max(8, data.train_images)),
                "parser": {
                    "aug_rand_hflip": augment.hflip,
                    "aug_scale_min": augment.scale_min,
                    "aug_scale_max": augment.scale_max,
                },
            },
            "validation_data": {
                "input_path": data.val_pattern or data.train_pattern,
                "global_batch_size": 1,
                "dtype": dtype,
            },
        },
        "trainer": {
            "train_steps": request.steps,
            "steps_per_loop": loop,
            "summary_interval": loop,
            "checkpoint_interval": request.checkpoint_every,
            "validation_interval": request.steps,
            "validation_steps": 1,
            "max_to_keep": 3,
            "optimizer_config": {
                "learning_rate": _schedule(request),
                "warmup": _warmup(request),
            },
        },
    }


def _schedule(request: TrainRequested) -> dict[str, Any]:
    rate, steps = request.learning_rate, request.steps
    if request.schedule == "cosine":
        return {"type": "cosine", "cosine": {"initial_learning_rate": rate, "decay_steps": steps}}
    if request.schedule == "stepwise":
        boundaries = [max(1, int(steps * 0.75)), max(2, int(steps * 0.9))]
        return {"type": "stepwise", "stepwise": {"boundaries": boundaries, "values": [rate, rate / 10, rate / 100]}}
    return {"type": "constant", "constant": {"learning_rate": rate}}


def _warmup(request: TrainRequested) -> dict[str, Any]:
    steps = min(request.warmup_steps, request.steps // 2)
    if not steps:
        return {"type": None}
    return {"type": "linear", "linear": {"warmup_steps": steps, "warmup_learning_rate": request.learning_rate / 10}}


def save_config(config: Any, folder: Path) -> Path:
    """folder/params.yaml, as Model Garden writes it (export and fine-tuning read it back)."""
    from official.core import train_utils

    folder.mkdir(parents=True, exist_ok=True)
    train_utils.serialize_config(config, str(folder))
    return folder / "params.yaml"
