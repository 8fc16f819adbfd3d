"""Transfer learning: start a new detector from a base checkpoint of the same architecture.

Every weight whose shape matches comes from the base (backbone, decoder, and the class-agnostic parts of the
heads: towers, box regressors). Class-sized weights are re-initialised for the new classes, except that with
class-aware warm start a new class mapped to a COCO class (WasteBottle -> bottle) starts from that class's slice.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from transferline.errors import InvalidInput

Layout = Literal["retinanet", "rcnn"]


@dataclass(frozen=True)
class TransferPlan:
    prefix: Path  # local checkpoint prefix of the base
    base_classes: int  # num_classes of the base model (91 for Model Garden's COCO checkpoints)
    class_map: dict[int, int] = field(default_factory=dict)  # new class id -> base class id (empty: no warm start)


@dataclass
class TransferReport:
    restored: int = 0  # weights taken whole from the base
    reinitialised: int = 0  # class-sized weights started fresh
    warm_started: dict[int, int] = field(default_factory=dict)  # new class id -> base class id

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "warm_started": {str(k): v for k, v in self.warm_started.items()}}


def build_weights(model: Any, config: Any) -> None:
    """Create every variable of a Model Garden detector (heads are built lazily) with one dummy inference."""
    import tensorflow as tf
    from official.vision.serving import detection

    height, width = config.task.model.input_size[:2]
    module = detection.DetectionModule(config, batch_size=1, input_image_size=[height, width], model=model)
    module.serve(tf.zeros([1, height, width, 3], tf.uint8))


def build_model(config: Any, num_classes: int | None = None) -> Any:
    """A detector from the config (optionally with another class count), every weight created."""
    from official.core import task_factory

    task_config = copy.deepcopy(config.task)
    if num_classes is not None:
        task_config.model.num_classes = num_classes
    model = task_factory.get_task(task_config).build_model()
    build_weights(model, config)
    return model


def restore_base(config: Any, plan: TransferPlan) -> Any:
    """The base model as it was trained, built from the same config with the base's class count. Trainer
    checkpoints hold the model under `model` and its parts at the root; exported ones only under `model`."""
    import tensorflow as tf

    donor = build_model(config, plan.base_classes)
    problems = []
    for roots in ({"model": donor}, dict(donor.checkpoint_items)):
        status = tf.train.Checkpoint(**roots).read(str(plan.prefix))
        try:
            status.expect_partial().assert_existing_objects_matched()
            return donor
        except AssertionError as exc:
            problems.append(str(exc)[:300])
    raise InvalidInput(
        f"the base checkpoint does not fit {config.task.model.backbone.type} with "
        f"{plan.base_classes} classes: {problems[0]}"
    )


def class_sized(config: Any, model: Any) -> set[int]:
    """Positions in model.weights of the weights whose shape follows the class count (found by changing it)."""
    probe = build_model(config, config.task.model.num_classes + 1)
    return {i for i, (a, b) in enumerate(zip(model.weights, probe.weights, strict=True)) if a.shape != b.shape}


def transfer(model: Any, config: Any, plan: TransferPlan, layout: Layout) -> TransferReport:
    """Copy the base into `model` (already built); returns what was restored, re-initialised and warm-started."""
    donor = restore_base(config, plan)
    ours, theirs = model.weights, donor.weights
    if len(ours) != len(theirs):
        raise InvalidInput(f"the base checkpoint's model has {len(theirs)} weights, this model {len(ours)}")
    heads = class_sized(config, model)
    report = TransferReport()
    classes = config.task.model.num_classes
    for index, (target, source) in enumerate(zip(ours, theirs, strict=True)):
        if index in heads:
            value = warm_start(target.numpy(), source.numpy(), classes, plan.base_classes, plan.class_map, layout)
            if value is None:
                raise InvalidInput(f"base weight {source.name} {tuple(source.shape)} is not class-sized like ours")
            target.assign(value)
            report.reinitialised += 1
        elif tuple(target.shape) == tuple(source.shape):
            target.assign(source)
            report.restored += 1
        else:
            raise InvalidInput(f"base weight {source.name} {tuple(source.shape)} does not fit {tuple(target.shape)}")
    report.warm_started = dict(plan.class_map)
    return report


def warm_start(
    fresh: np.ndarray, base: np.ndarray, classes: int, base_classes: int, class_map: dict[int, int], layout: Layout
) -> np.ndarray | None:
    """`fresh` with the slices of mapped classes taken from `base`; None when the shapes are not class-sized.

    The last axis holds k values per class: RetinaNet orders it anchor-major (anchor * classes + class),
    the R-CNN heads class-major (class * k + coordinate)."""
    if fresh.shape[:-1] != base.shape[:-1] or fresh.shape[-1] % classes or base.shape[-1] % base_classes:
        return None
    per_class = fresh.shape[-1] // classes
    if base.shape[-1] // base_classes != per_class:
        return None
    order = (per_class, classes) if layout == "retinanet" else (classes, per_class)
    base_order = (per_class, base_classes) if layout == "retinanet" else (base_classes, per_class)
    result = fresh.reshape(*fresh.shape[:-1], *order).copy()
    source = base.reshape(*base.shape[:-1], *base_order)
    for new, old in class_map.items():
        if layout == "retinanet":
            result[..., new] = source[..., old]
        else:
            result[..., new, :] = source[..., old, :]
    return result.reshape(fresh.shape)
