"""The model catalogue: a name a user types -> a Model Garden experiment, its changes, and its COCO checkpoint.

Checkpoint URLs are the public COCO-pretrained ones of Model Garden (official/vision/MODEL_GARDEN.md) that a user
with internet would fetch; models without a published COCO checkpoint need `base_checkpoint` or `from_scratch`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from transferline.errors import InvalidInput

GARDEN = "https://storage.googleapis.com/tf_model_garden/vision"
COCO_CLASSES = 91  # Model Garden's COCO heads: background + the original ids 1..90


@dataclass(frozen=True)
class ModelSpec:
    name: str
    experiment: str  # registered in official.vision's experiment factory
    family: Literal["retinanet", "rcnn"]
    overrides: dict[str, Any] = field(default_factory=dict)  # applied to the experiment's task.model
    checkpoint_url: str | None = None
    checkpoint_classes: int = COCO_CLASSES
    masks: bool = False  # trains on instance masks (the records need include_masks)


def _mobilenet(scale: float, fpn_filters: int, head_filters: int, convs: int) -> dict[str, Any]:
    return {
        "backbone": {"type": "mobilenet", "mobilenet": {"model_id": "MobileNetV2", "filter_size_scale": scale}},
        "decoder": {"type": "fpn", "fpn": {"num_filters": fpn_filters, "use_separable_conv": True}},
        "head": {"num_filters": head_filters, "num_convs": convs, "use_separable_conv": True},
    }


CATALOGUE: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "retinanet_resnet50",
            "retinanet_resnetfpn_coco",
            "retinanet",
            checkpoint_url=f"{GARDEN}/retinanet/retinanet-resnet50fpn.tar.gz",
        ),
        ModelSpec(
            "retinanet_spinenet49_mobile",
            "retinanet_mobile_coco",
            "retinanet",
            checkpoint_url=f"{GARDEN}/retinanet/spinenet49mobile.tar.gz",
        ),
        ModelSpec("retinanet_mobilenetv2", "retinanet_resnetfpn_coco", "retinanet", _mobilenet(1.0, 128, 128, 4)),
        # A small RetinaNet for CPU runs and tests: the same code path at a fraction of the cost.
        ModelSpec("retinanet_tiny", "retinanet_resnetfpn_coco", "retinanet", _mobilenet(0.35, 32, 32, 2)),
        ModelSpec("fasterrcnn_resnet50", "fasterrcnn_resnetfpn_coco", "rcnn"),
        ModelSpec("maskrcnn_resnet50", "maskrcnn_resnetfpn_coco", "rcnn", masks=True),
    )
}


def lookup(name: str) -> ModelSpec:
    try:
        return CATALOGUE[name]
    except KeyError:
        raise InvalidInput(f"unknown model {name!r}: choose one of {', '.join(sorted(CATALOGUE))}") from None
