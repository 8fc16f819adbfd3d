"""Finding a stage by name ('download') or by import path ('package.module:Class', for custom stages)."""

from __future__ import annotations

import importlib

from transferline.errors import ConfigurationError
from transferline.events import REGISTRY, Registry
from transferline.payloads import StageRequest
from transferline.stage import Stage

# Built-in stage name -> the service that implements it. Services import lazily: shared never needs them.
BUILTIN = {
    "collect": "services.collector.stage:CollectStage",
    "download": "services.downloader.stage:DownloadStage",
    "convert": "services.converter.stage:ConvertStage",
    "records": "services.recorder.stage:RecordsStage",
    "train": "services.trainer.stage:TrainStage",
}


def load_stage(ref: str, registry: Registry = REGISTRY) -> type[Stage]:
    """The stage class behind a name or an import path; registers its request model for validation."""
    path = BUILTIN.get(ref, ref)
    if ":" not in path:
        known = ", ".join(sorted(BUILTIN))
        raise ConfigurationError(f"unknown stage {ref!r}: use one of {known} or an import path module:Class")
    module_name, _, attr = path.partition(":")
    try:
        stage_class = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(f"stage {ref!r} is not installed here ({path}: {exc})") from exc
    if not (isinstance(stage_class, type) and issubclass(stage_class, Stage)):
        raise ConfigurationError(f"{path} is not a transferline Stage")
    registry.register_stage(stage_class.name, stage_class.Request)
    return stage_class


def request_model(ref: str, registry: Registry = REGISTRY) -> tuple[str, type[StageRequest]]:
    """(stage name, request model) for publishing; built-in stages need no service code installed."""
    if ref in BUILTIN:
        return ref, registry.request_model(ref)
    stage_class = load_stage(ref, registry)
    return stage_class.name, stage_class.Request
