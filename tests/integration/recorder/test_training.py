"""A real Model Garden detector trains one step on the recorder's shards (input pipeline, parser, loss)."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest

from tests.support.labels import make_dataset, truth_coco
from transferline_recorder.records import RecordOptions, build_records
from transferline_recorder.source import ImageSource


def write_shards(tmp_path: Path) -> tuple[Path, int]:
    dataset = make_dataset(seed=1, images=8)
    coco = truth_coco(dataset)
    out = tmp_path / "records"
    out.mkdir()

    def publish(path: Path, split: str, index: int, count: int) -> None:
        shutil.move(path, out / path.name)

    build_records(
        {"train": coco}, ImageSource.folder(dataset.write_images(tmp_path / "images")), RecordOptions(), publish
    )
    return out, len(coco["categories"])


@pytest.mark.slow
def test_a_retinanet_trains_a_step_on_the_shards(tmp_path: Path) -> None:
    from official.core import exp_factory, task_factory
    from official.vision import registry_imports  # noqa: F401 (registers the experiments)

    shards, classes = write_shards(tmp_path)
    config = exp_factory.get_exp_config("retinanet_resnetfpn_coco")
    config.task.init_checkpoint = None
    config.task.model.num_classes = classes + 1  # 0 is the background
    config.task.model.input_size = [128, 128, 3]
    config.task.model.backbone.resnet.model_id = 18
    config.task.train_data.input_path = str(shards / "train-*")
    config.task.train_data.global_batch_size = 2
    config.task.train_data.dtype = "float32"
    config.task.train_data.shuffle_buffer_size = 4
    task = task_factory.get_task(config.task)
    model = task.build_model()
    batch = next(iter(task.build_inputs(config.task.train_data)))
    images, labels = batch
    assert images.shape == (2, 128, 128, 3)
    assert int(labels["cls_targets"]["3"].numpy().max()) <= classes  # the parser matched boxes to anchors

    logs = task.train_step(batch, model, task.create_optimizer(config.trainer.optimizer_config))
    assert math.isfinite(float(logs["loss"])) and float(logs["loss"]) > 0
