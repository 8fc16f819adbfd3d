"""Finding a stage by name ('convert') or by import path ('package.module:Class', for custom stages).

Installed stages announce themselves as entry points in the `transferline.stages` group, so the platform never
names a service. A stage module stays light (its heavy libraries load inside `handle`), so publishing a request or
printing schemas never pulls in TensorFlow.
"""

from __future__ import annotations

import importlib
from importlib.metadata import EntryPoint, entry_points

from transferline.errors import ConfigurationError
from transferline.events import REGISTRY, Registry
from transferline.payloads import StageRequest
from transferline.stage import Stage

STAGES_GROUP = "transferline.stages"
SETTINGS_GROUP = "transferline.settings"  # settings of services that are not stages (the gateway)


def installed() -> dict[str, EntryPoint]:
    """Stage name -> its entry point, for every stage installed here."""
    return {entry.name: entry for entry in entry_points(group=STAGES_GROUP)}


def load_stage(ref: str, registry: Registry = REGISTRY) -> type[Stage]:
    """The stage class behind a name or an import path; registers its request model for validation."""
    found = installed()
    if ref in found:
        path = found[ref].value
    elif ":" in ref:
        path = ref
    else:
        known = ", ".join(sorted(found)) or "none"
        raise ConfigurationError(f"unknown stage {ref!r}: installed stages are {known}; or give module:Class")
    module_name, _, attr = path.partition(":")
    try:
        if module_name.startswith(".") or not attr:
            raise ImportError("give an absolute module path and a class name, module:Class")
        stage_class = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(f"stage {ref!r} cannot be loaded ({path}: {exc})") from exc
    if not (isinstance(stage_class, type) and issubclass(stage_class, Stage)):
        raise ConfigurationError(f"{path} is not a transferline Stage")
    registry.register_stage(stage_class.name, stage_class.Request)
    return stage_class


def load_all(registry: Registry = REGISTRY) -> list[type[Stage]]:
    """Every installed stage, registered (for schemas and for validating whole plans)."""
    return [load_stage(name, registry) for name in sorted(installed())]


def request_model(ref: str, registry: Registry = REGISTRY) -> tuple[str, type[StageRequest]]:
    """(stage name, request model) for publishing."""
    stage_class = load_stage(ref, registry)
    return stage_class.name, stage_class.Request
