"""One way to run a stage: its one-shot command and its service give the same artifacts for the same input.

The service runs the stage on either backend through the runner; the command runs the same `handle` over local
folders mounted into a filesystem store. Convert and records must give byte-identical files; training is not
bit-reproducible on CPU, so the train case compares the artifact set and the saved config (input paths aside).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.exports import labelbox_ndjson
from tests.support.harness import Pipeline, renamed, unique
from tests.support.labels import make_dataset, truth_coco
from tests.support.shapes import write_task
from tests.support.training import TINY, write_records
from transferline import keys
from transferline.cli import main
from transferline.oneshot import WORKSPACE
from transferline.stage import Stage
from transferline.store import Store
from transferline_converter.stage import ConvertStage
from transferline_recorder.stage import RecordsStage
from transferline_trainer.stage import TrainStage

Inputs = Callable[[str], dict[str, Path]]  # job id -> local file or folder for each key


def served(pipeline: Pipeline, stage_class: type[Stage], inputs: Inputs, **request: object) -> str:
    """Upload local folders and files to the job's keys, serve one request; the job id."""
    stage, job = renamed(stage_class), unique("job-")
    for key, path in inputs(job).items():
        upload(pipeline.store, key, path)
    pipeline.request(stage.name, job, **request)
    pipeline.run_in_thread(stage, max_events=1).join(600)
    [outcome] = pipeline.outcomes(job, 1)
    assert outcome["type"].endswith(".completed"), outcome["data"]
    return job


def upload(store: Store, key: str, path: Path) -> None:
    if path.is_file():
        store.put_bytes(key, path.read_bytes())
        return
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        store.put_bytes(key + file.relative_to(path).as_posix(), file.read_bytes())


def stored(store: Store, prefix: str, skip: tuple[str, ...] = ()) -> dict[str, bytes]:
    return {
        info.key.removeprefix(prefix): store.get_bytes(info.key)
        for info in store.list(prefix)
        if not info.key.removeprefix(prefix).startswith(skip)
    }


def written(out: Path) -> dict[str, bytes]:
    files = (p for p in out.rglob("*") if p.is_file() and WORKSPACE not in p.relative_to(out).parts)
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in files}


def test_convert_command_and_stage_write_the_same_bytes(backend_settings, tmp_path: Path) -> None:
    dataset = make_dataset(seed=21, images=10)
    images = dataset.write_images(tmp_path / "images")
    export = tmp_path / "export.ndjson"
    export.write_bytes(labelbox_ndjson.write(dataset)["export.ndjson"])
    options = {"split": {"train": 0.6, "val": 0.2, "test": 0.2}, "seed": 4}

    pipeline = Pipeline.open(backend_settings)
    job = served(
        pipeline,
        ConvertStage,
        lambda job: {keys.raw_labels(job, "export.ndjson"): export, keys.images(job): images},
        **options,
    )
    args = ["convert", str(export), "--images", str(images), "--out", str(tmp_path / "out"), "--seed", "4"]
    assert main([*args, "--split", "train=0.6,val=0.2,test=0.2"]) == 0

    from_stage = stored(pipeline.store, keys.labels(job), skip=("raw/",))
    splits = [f"coco_{split}.json" for split in ("test", "train", "val")]
    assert sorted(from_stage) == ["coco.json", *splits, "report.json", "report.md"]
    assert written(tmp_path / "out") == from_stage


def test_records_command_and_stage_write_the_same_bytes(backend_settings, tmp_path: Path) -> None:
    dataset = make_dataset(seed=22, images=9)
    images = dataset.write_images(tmp_path / "images")
    labels = tmp_path / "labels"
    labels.mkdir()
    coco = truth_coco(dataset)
    for split, part in (("train", coco["images"][:6]), ("val", coco["images"][6:])):
        ids = {image["id"] for image in part}
        subset = {**coco, "images": part, "annotations": [a for a in coco["annotations"] if a["image_id"] in ids]}
        (labels / keys.coco("x", split).rsplit("/", 1)[-1]).write_text(json.dumps(subset))

    pipeline = Pipeline.open(backend_settings)
    job = served(pipeline, RecordsStage, lambda job: {keys.labels(job): labels, keys.images(job): images}, num_shards=2)
    out = tmp_path / "out"
    assert main(["records", str(labels), "--images", str(images), "--out", str(out), "--num-shards", "2"]) == 0

    from_stage = stored(pipeline.store, keys.records(job))
    assert {"label_map.pbtxt", "stats.json", "train-00001-of-00002.tfrecord", "samples/val-00.jpg"} <= set(from_stage)
    assert written(out) == from_stage


@pytest.mark.slow
def test_train_command_and_stage_write_the_same_artifacts(embedded_settings, tmp_path: Path) -> None:
    root = tmp_path / "task"
    write_task(root, ("circle", "square"), train=8, val=4, seed=3)
    write_records(root)
    fields = {**TINY, "steps": 2, "checkpoint_every": 2, "from_scratch": True}
    pipeline = Pipeline.open(embedded_settings)
    folders = {"records": keys.records, "labels": keys.labels, "images": keys.images}
    job = served(pipeline, TrainStage, lambda job: {key(job): root / name for name, key in folders.items()}, **fields)
    out = tmp_path / "out"
    sets = [f"--set={name}={json.dumps(value)}" for name, value in fields.items()]
    args = [str(root / "records"), "--labels", str(root / "labels"), "--images", str(root / "images")]
    assert main(["train", *args, "--out", str(out), *sets]) == 0

    from_stage = stored(pipeline.store, keys.model(job, "run1"))
    from_command = written(out)
    assert named(from_command) == named(from_stage)
    assert {"params.yaml", "saved_model/saved_model.pb", "eval/metrics.json", "checkpoints/ckpt-2.index"} <= set(
        from_stage
    )
    assert without_paths(from_command["params.yaml"]) == without_paths(from_stage["params.yaml"])


def named(files: dict[str, bytes]) -> list[str]:
    """Artifact names; a TensorBoard event file is named for its host, time and process."""
    return sorted(re.sub(r"events\.out\.tfevents\..*", "events.out.tfevents.*", name) for name in files)


def without_paths(params: bytes) -> list[str]:
    """params.yaml less the lines naming local files (the shards are read where each store keeps them)."""
    return [line for line in params.decode().splitlines() if "/" not in line]
