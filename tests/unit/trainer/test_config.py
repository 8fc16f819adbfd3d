"""The model catalogue and the request -> Model Garden config translation (Model Garden's own config classes)."""

from __future__ import annotations

import pytest

from transferline.errors import InvalidInput
from transferline_trainer.catalogue import CATALOGUE, lookup
from transferline_trainer.config import Hardware, TrainingData, build_config
from transferline_trainer.request import TrainRequested

pytestmark = pytest.mark.slow  # imports TensorFlow through Model Garden
DATA = TrainingData(train_pattern="/r/train-*", val_pattern="/r/val-*", num_classes=4, train_images=40)


def config(model: str = "retinanet_tiny", gpus: int = 0, **fields):
    request = TrainRequested.model_validate({"model": model, **fields})
    return build_config(lookup(model), request, DATA, Hardware(gpus))


@pytest.mark.parametrize("model", sorted(CATALOGUE))
def test_every_catalogue_model_gets_our_classes_input_and_schedule(model: str) -> None:
    found = config(model, input_size=256, steps=500, batch_size=2)
    assert found.task.model.num_classes == 4
    assert list(found.task.model.input_size) == [256, 256, 3]
    assert found.task.train_data.input_path == "/r/train-*" and found.task.train_data.global_batch_size == 2
    assert found.trainer.train_steps == 500
    assert found.task.init_checkpoint == ""  # the trainer restores the base itself
    assert found.runtime.mixed_precision_dtype == "float32"
    if CATALOGUE[model].masks:
        assert found.task.model.include_mask


def test_a_gpu_trains_in_mixed_precision_with_xla_unless_the_request_says_otherwise() -> None:
    found = config(gpus=1)
    assert (found.runtime.mixed_precision_dtype, found.runtime.enable_xla) == ("mixed_float16", True)
    assert found.task.train_data.dtype == "float16"
    assert config(gpus=1, precision="float32").runtime.mixed_precision_dtype == "float32"


def test_schedules_warmup_and_augmentation_reach_the_optimizer_and_parser() -> None:
    found = config(schedule="stepwise", steps=1000, learning_rate=0.1, warmup_steps=50)
    rate = found.trainer.optimizer_config.learning_rate
    assert rate.type == "stepwise" and list(rate.stepwise.boundaries) == [750, 900]
    assert found.trainer.optimizer_config.warmup.linear.warmup_steps == 50
    assert config(schedule="cosine", steps=300).trainer.optimizer_config.learning_rate.cosine.decay_steps == 300
    parser = config(augmentation={"hflip": False, "scale_min": 0.5}).task.train_data.parser
    assert (parser.aug_rand_hflip, parser.aug_scale_min) == (False, 0.5)


def test_overrides_are_checked_against_model_gardens_config() -> None:
    assert config(overrides={"task": {"model": {"head": {"num_convs": 1}}}}).task.model.head.num_convs == 1
    with pytest.raises(InvalidInput, match="not valid"):
        config(overrides={"task": {"model": {"no_such_field": 1}}})


def test_an_unknown_model_names_the_ones_there_are() -> None:
    with pytest.raises(InvalidInput, match=r"unknown model 'yolo'.*retinanet_resnet50"):
        lookup("yolo")
