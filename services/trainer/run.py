"""One training run end to end, shared by the stage and `transferline train`: configure, transfer, fit,
export, evaluate with pycocotools, draw predictions. Inputs arrive as local files; outputs leave through `Outputs`."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from transferline.contracts import LabelCategory, Split
from transferline.errors import InvalidInput
from transferline_trainer import evaluate
from transferline_trainer.base_checkpoint import BaseCheckpoint
from transferline_trainer.catalogue import ModelSpec, lookup
from transferline_trainer.config import Hardware, TrainingData, build_config, save_config
from transferline_trainer.export import Detector, export_saved_model, export_tflite
from transferline_trainer.fit import FitHooks, FitResult, Progress, fit
from transferline_trainer.request import TrainRequested
from transferline_trainer.transfer import TransferPlan

PICTURES = 6


@dataclass(frozen=True)
class RunInputs:
    """What a run reads: local shards per split, the COCO categories, ground truth to evaluate and pictures."""

    shards: Mapping[Split, list[Path]]
    train_images: int  # images in the train shards (sizes the shuffle buffer)
    categories: list[LabelCategory]
    evaluation: dict[str, Any] | None  # COCO of the split to evaluate (val, else test)
    read_image: Callable[[str], bytes]  # COCO file_name -> image bytes
    fetch_base: Callable[[str, str | None], BaseCheckpoint]  # (URL or store URI, sha256) -> local checkpoint


class Outputs(Protocol):
    """Where a run's files go (`name` is relative to the run: 'checkpoints/ckpt-200.index')."""

    def publish(self, path: Path, name: str) -> None: ...

    def restore(self, folder: str, into: Path) -> None: ...


@dataclass
class RunResult:
    fit: FitResult
    metrics: dict[str, Any]


def train_run(
    request: TrainRequested,
    inputs: RunInputs,
    workdir: Path,
    outputs: Outputs,
    progress: Progress,
    stopping: Callable[[], bool],
) -> RunResult:
    spec = lookup(request.model)
    check_classes(request, inputs.categories)
    data = training_data(inputs)
    config = build_config(spec, request, data, detect_hardware())
    outputs.publish(save_config(config, workdir), "params.yaml")
    model_dir = workdir / "model"
    outputs.restore("checkpoints", model_dir)  # a restarted run resumes from its last published checkpoint
    plan = None if _has_checkpoint(model_dir) else base_plan(request, spec, inputs)
    hooks = FitHooks(progress, CheckpointSync(outputs), stopping)
    result = fit(config, spec, plan, model_dir, hooks, request.max_wall_seconds)
    checkpoint = _latest(model_dir)
    saved_model = export_saved_model(config, checkpoint, workdir / "export", request.export_input)
    _publish_tree(outputs, saved_model, "saved_model")
    if request.tflite:
        outputs.publish(export_tflite(config, checkpoint, workdir / "export-tflite"), "model.tflite")
    detector = Detector(saved_model, request.export_input)
    metrics = _evaluate(request, inputs, detector, workdir, outputs, progress)
    metrics["training"] = _training_summary(result, config)
    _write_json(workdir / "eval" / "metrics.json", metrics)
    outputs.publish(workdir / "eval" / "metrics.json", "eval/metrics.json")
    _publish_tree(outputs, model_dir / "train", "summaries/train")
    return RunResult(result, metrics)


def check_classes(request: TrainRequested, categories: list[LabelCategory]) -> None:
    names = [c.name for c in sorted(categories, key=lambda c: c.id)]
    if request.classes is not None and sorted(request.classes) != sorted(names):
        raise InvalidInput(f"the request's classes {request.classes} do not match the label map's {names}")


def base_plan(request: TrainRequested, spec: ModelSpec, inputs: RunInputs) -> TransferPlan | None:
    """What to start from: the request's base, else the catalogue's COCO checkpoint; None to train from scratch."""
    if request.from_scratch:
        return None
    source = request.base_checkpoint or spec.checkpoint_url
    if source is None:
        raise InvalidInput(
            f"{spec.name} has no published COCO checkpoint: name one with base_checkpoint, or set from_scratch"
        )
    base = inputs.fetch_base(source, request.base_checkpoint_sha256)
    classes = base.num_classes or spec.checkpoint_classes
    class_map = {}
    if request.class_warm_start:
        class_map = {c.id: c.coco_id for c in inputs.categories if c.coco_id is not None and c.coco_id < classes}
    return TransferPlan(base.prefix, classes, class_map)


def training_data(inputs: RunInputs) -> TrainingData:
    train = inputs.shards.get("train")
    if not train:
        raise InvalidInput("no training shards: run the records stage first")
    val = inputs.shards.get("val")
    ids = [c.id for c in inputs.categories]
    if not ids:
        raise InvalidInput("the records' label map has no category")
    return TrainingData(
        train_pattern=",".join(str(path) for path in train),
        val_pattern=",".join(str(path) for path in val) if val else None,
        num_classes=max(ids) + 1,
        train_images=inputs.train_images,
    )


def detect_hardware() -> Hardware:
    import tensorflow as tf

    return Hardware(gpus=len(tf.config.list_physical_devices("GPU")))


def _evaluate(
    request: TrainRequested,
    inputs: RunInputs,
    detector: Detector,
    workdir: Path,
    outputs: Outputs,
    progress: Progress,
) -> dict[str, Any]:
    truth = inputs.evaluation
    if not truth or not truth.get("annotations"):
        return {"evaluated": False, "why": "no validation or test split with objects"}
    names = {int(c["id"]): c["name"] for c in truth["categories"]}
    found = []
    total = len(truth["images"])
    for index, image in enumerate(truth["images"]):
        progress(index + 1, total, f"evaluating image {index + 1} of {total}", {})
        data = inputs.read_image(image["file_name"])
        detections = detector.detect(int(image["id"]), data)
        found.append(detections)
        if index < PICTURES:
            picture = workdir / "predictions" / f"{index:02d}.jpg"
            picture.parent.mkdir(parents=True, exist_ok=True)
            picture.write_bytes(evaluate.draw_predictions(data, detections, names, request.min_score))
            outputs.publish(picture, f"predictions/{index:02d}.jpg")
    result = evaluate.evaluate(truth, evaluate.coco_results(found))
    plot = workdir / "eval" / "pr_curves.png"
    plot.parent.mkdir(parents=True, exist_ok=True)
    plot.write_bytes(evaluate.pr_plot(result))
    outputs.publish(plot, "eval/pr_curves.png")
    return {"evaluated": True, **result.as_dict()}


def _training_summary(result: FitResult, config: Any) -> dict[str, Any]:
    batch = config.task.train_data.global_batch_size
    return {
        "step": result.step,
        "stopped_early": result.stopped_early,
        "seconds": round(result.seconds, 2),
        "steps_per_second": round(result.steps_per_second, 3),
        "images_per_second": round(result.steps_per_second * batch, 2),
        "precision": config.runtime.mixed_precision_dtype,
        "losses": result.losses,
        "transfer": result.transfer.as_dict() if result.transfer else None,
    }


class CheckpointSync:
    """Publishes each checkpoint file once, the `checkpoint` state file last (it names the newest)."""

    def __init__(self, outputs: Outputs) -> None:
        self.outputs = outputs
        self.sent: set[str] = set()

    def __call__(self, model_dir: Path) -> None:
        state = model_dir / "checkpoint"
        if not state.exists():
            return
        fresh = [p for p in sorted(model_dir.glob("ckpt-*")) if p.name not in self.sent]
        for path in fresh:
            self.outputs.publish(path, f"checkpoints/{path.name}")
            self.sent.add(path.name)
        if fresh:
            self.outputs.publish(state, "checkpoints/checkpoint")


def _has_checkpoint(model_dir: Path) -> bool:
    import tensorflow as tf

    return tf.train.latest_checkpoint(str(model_dir)) is not None


def _latest(model_dir: Path) -> str:
    import tensorflow as tf

    latest = tf.train.latest_checkpoint(str(model_dir))
    if latest is None:
        raise InvalidInput(f"training wrote no checkpoint under {model_dir}")
    return latest


def _publish_tree(outputs: Outputs, folder: Path, name: str) -> None:
    for path in _files(folder):
        outputs.publish(path, f"{name}/{path.relative_to(folder).as_posix()}")


def _files(folder: Path) -> Iterator[Path]:
    return (path for path in sorted(folder.rglob("*")) if path.is_file())


def _write_json(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=1))
