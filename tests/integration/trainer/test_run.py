"""Real training on CPU: a tiny RetinaNet from the recorder's shards, evaluated, exported and loaded back; and the
transfer path from a base checkpoint made here (nothing can be downloaded) and served over local HTTP."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.support.http import serve_files
from tests.support.shapes import write_task
from tests.support.training import TINY as TRAINING_TINY
from tests.support.training import archive_checkpoint, tiny_config, write_records
from transferline.cli import main

pytestmark = pytest.mark.slow
TINY = [f"{key}={value}" for key, value in TRAINING_TINY.items()]
TASK_A, TASK_B = ("circle", "square", "triangle"), ("diamond", "circle", "cross")


def train(root: Path, out: Path, *settings: str) -> int:
    args = ["train", str(root / "records"), "--labels", str(root / "labels"), "--images", str(root / "images")]
    return main([*args, "--out", str(out), *(f"--set={s}" for s in [*TINY, *settings])])


@pytest.fixture(scope="module")
def task_a(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = write_task(tmp_path_factory.mktemp("task-a"), TASK_A, train=24, val=6, seed=3)
    write_records(root)
    return root


@pytest.fixture(scope="module")
def base_run(task_a: Path) -> Path:
    out = task_a / "base"
    assert train(task_a, out, "steps=30", "checkpoint_every=10", "from_scratch=true") == 0
    return out


def test_a_tiny_run_trains_evaluates_exports_and_the_saved_model_detects(base_run: Path) -> None:
    import tensorflow as tf

    from transferline_trainer.export import Detector

    metrics = json.loads((base_run / "eval" / "metrics.json").read_text())
    assert metrics["evaluated"] and metrics["images"] == 6
    assert metrics["training"]["step"] == 30 and metrics["training"]["transfer"] is None
    assert set(metrics["per_class"]) == set(TASK_A)
    assert sorted(p.name for p in (base_run / "checkpoints").glob("ckpt-*.index")) == [
        "ckpt-10.index",
        "ckpt-20.index",
        "ckpt-30.index",
    ]
    assert list((base_run / "summaries" / "train").glob("events.out.tfevents.*"))
    assert (base_run / "eval" / "pr_curves.png").read_bytes()[:4] == b"\x89PNG"
    assert len(list((base_run / "predictions").glob("*.jpg"))) == 6
    assert "num_classes: 4" in (base_run / "params.yaml").read_text()

    loaded = tf.saved_model.load(str(base_run / "saved_model"))
    outputs = loaded.signatures["serving_default"](tf.zeros([1, 96, 160, 3], tf.uint8))
    assert outputs["detection_boxes"].shape == (1, 100, 4)
    assert outputs["detection_scores"].shape == (1, 100) and outputs["detection_classes"].shape == (1, 100)
    picture = next((task_a_images(base_run)).iterdir()).read_bytes()
    found = Detector(base_run / "saved_model", "image_tensor").detect(7, picture)
    assert found.image_id == 7 and found.boxes.shape == (len(found.scores), 4)
    assert ((found.boxes >= -1) & (found.boxes <= 129)).all()  # original pixels of a 128 px image


def task_a_images(run: Path) -> Path:
    return run.parent / "images"


def test_a_bad_request_exits_2_with_a_message(task_a: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert train(task_a, tmp_path / "x", "model=yolo9000") == 2
    assert "unknown model 'yolo9000'" in capsys.readouterr().err
    assert train(task_a, tmp_path / "y", "from_scratch=true", 'classes=["circle","cat"]') == 2
    assert "do not match the label map" in capsys.readouterr().err


@pytest.fixture(scope="module")
def task_b(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = write_task(tmp_path_factory.mktemp("task-b"), TASK_B, train=12, val=4, seed=5)
    for split in ("train", "val"):  # the converter's category_map: circle is the base's class 1
        path = root / "labels" / f"coco_{split}.json"
        coco = json.loads(path.read_text())
        for category in coco["categories"]:
            if category["name"] == "circle":
                category["coco_id"] = 1
        path.write_text(json.dumps(coco))
    write_records(root)
    return root


def test_fine_tuning_restores_the_base_and_warm_starts_the_mapped_class(base_run: Path, task_b: Path) -> None:
    import tensorflow as tf

    from transferline_trainer.transfer import TransferPlan, build_model, restore_base, transfer

    config = tiny_config(task_b)
    model = build_model(config)
    plan = TransferPlan(base_run / "checkpoints" / "ckpt-30", base_classes=4, class_map={2: 1})
    report = transfer(model, config, plan, "retinanet")

    reader = tf.train.load_checkpoint(str(plan.prefix))
    assert fingerprint(model.backbone.weights) == fingerprint(backbone_tensors(reader))  # step 0 = the base
    assert report.restored == len(model.weights) - report.reinitialised
    assert report.reinitialised == 2  # the classifier's pointwise kernel and bias: class-sized
    anchors = 9
    classifier = model.head._classifier  # Model Garden keeps it private
    assert classifier.bias.shape[-1] == anchors * 4  # background + 3 new classes
    donor = restore_base(config, plan)
    ours, theirs = classifier.bias.numpy().reshape(anchors, 4), donor.head._classifier.bias.numpy().reshape(anchors, 4)
    np.testing.assert_array_equal(ours[:, 2], theirs[:, 1])  # circle started from the base's circle
    assert not np.array_equal(ours[:, 1], theirs[:, 1])  # diamond did not

    # A checkpoint holding only `model`, as Model Garden's export writes and publishes them.
    model_only = tf.train.Checkpoint(model=donor).save(str(task_b / "model-only" / "ckpt"))
    again = build_model(config)
    transfer(again, config, TransferPlan(Path(model_only), base_classes=4), "retinanet")
    assert fingerprint(again.backbone.weights) == fingerprint(donor.backbone.weights)


def test_fine_tuning_from_a_checkpoint_served_over_http(
    base_run: Path, task_b: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tensorflow as tf

    monkeypatch.setenv("TRANSFERLINE_CHECKPOINT_ALLOW_NETWORKS", "127.0.0.0/8")  # the loopback file server
    served = archive_checkpoint(base_run, tmp_path / "base.tar.gz")
    with serve_files(tmp_path) as url:
        source = f"{url}/{served.name}"
        settings = ("steps=10", "checkpoint_every=10", f"base_checkpoint={source}", "tflite=true")
        assert train(task_b, tmp_path / "tuned", *settings) == 0
    metrics = json.loads((tmp_path / "tuned" / "eval" / "metrics.json").read_text())
    transfer = metrics["training"]["transfer"]
    assert transfer["restored"] > 100 and transfer["reinitialised"] == 2
    assert transfer["warm_started"] == {"2": 1}
    assert metrics["training"]["step"] == 10
    interpreter = tf.lite.Interpreter(model_path=str(tmp_path / "tuned" / "model.tflite"))
    interpreter.allocate_tensors()
    assert [list(d["shape"]) for d in interpreter.get_input_details()] == [[1, 128, 128, 3]]
    assert [1, 100, 4] in [list(d["shape"]) for d in interpreter.get_output_details()]


def backbone_tensors(reader: Any) -> list[np.ndarray]:
    names = [
        name
        for name in reader.get_variable_to_shape_map()
        if name.startswith("backbone/") and name.endswith("VARIABLE_VALUE") and "OPTIMIZER_SLOT" not in name
    ]
    return [reader.get_tensor(name) for name in names]


def fingerprint(values: list[Any]) -> list[tuple[tuple[int, ...], float]]:
    """Order-free identity of a set of tensors: each one's shape and exact sum."""
    arrays = [np.asarray(v) for v in values]
    return sorted((a.shape, float(a.astype(np.float64).sum())) for a in arrays)


def test_the_wall_time_limit_stops_training_then_evaluates_and_exports(task_a: Path, tmp_path: Path) -> None:
    out = tmp_path / "short"
    assert train(task_a, out, "steps=5000", "max_wall_seconds=1", "from_scratch=true") == 0
    metrics = json.loads((out / "eval" / "metrics.json").read_text())
    assert metrics["training"]["stopped_early"] is True
    assert metrics["training"]["step"] == 50  # one loop of steps, then the limit (tracing alone takes longer)
    assert (out / "checkpoints" / "ckpt-50.index").exists() and (out / "saved_model" / "saved_model.pb").exists()
    assert metrics["evaluated"]


def test_faster_rcnn_heads_are_warm_started_class_major(tmp_path: Path) -> None:
    import tensorflow as tf

    from transferline_trainer.catalogue import lookup
    from transferline_trainer.config import Hardware, TrainingData, build_config
    from transferline_trainer.request import TrainRequested
    from transferline_trainer.transfer import TransferPlan, build_model, class_sized, transfer

    small = {"task": {"model": {"backbone": {"resnet": {"model_id": 18}}}}}
    request = TrainRequested(model="fasterrcnn_resnet50", input_size=128, overrides=small)
    data = TrainingData("/r/train-*", None, num_classes=4, train_images=8)
    config = build_config(lookup("fasterrcnn_resnet50"), request, data, Hardware(gpus=0))
    base = build_model(config, num_classes=6)
    prefix = tf.train.Checkpoint(model=base).write(str(tmp_path / "base"))  # as Model Garden exports it

    model = build_model(config)
    report = transfer(model, config, TransferPlan(Path(prefix), base_classes=6, class_map={2: 5}), "rcnn")
    heads = class_sized(config, model)
    assert report.reinitialised == len(heads) == 4  # class logits and per-class box deltas, kernel and bias
    for index in heads:
        ours, theirs = model.weights[index].numpy(), base.weights[index].numpy()
        per_class = ours.shape[-1] // 4
        ours = ours.reshape(*ours.shape[:-1], 4, per_class)
        theirs = theirs.reshape(*theirs.shape[:-1], 6, per_class)
        np.testing.assert_array_equal(ours[..., 2, :], theirs[..., 5, :])
    assert fingerprint(model.backbone.weights) == fingerprint(base.backbone.weights)
