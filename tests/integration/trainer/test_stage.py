"""The train stage on both backends (real Kafka + MinIO, and embedded): chained after the records stage and bad
requests failing fast with a clear message; on real Kafka + MinIO, a service killed mid-training resumes from its
checkpoint."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.platform.test_service import child_env, cli, wait_for
from tests.support.harness import Pipeline, renamed, store_images, unique
from tests.support.http import serve_files
from tests.support.shapes import write_task
from tests.support.training import TINY
from transferline import events, keys, status
from transferline.settings import Settings
from transferline_recorder.stage import RecordsStage
from transferline_trainer.request import TrainRequested
from transferline_trainer.stage import TrainStage

pytestmark = pytest.mark.slow


@pytest.fixture
def pipeline(backend_settings: Settings) -> Iterator[Pipeline]:
    """Clients on the test's backend; every runner started through it is stopped and joined when the test ends."""
    with Pipeline.open(backend_settings) as pipeline:
        yield pipeline


@pytest.fixture
def infra_pipeline(infra_settings: Settings) -> Iterator[Pipeline]:
    """Real Kafka + MinIO only: the heaviest end-to-end test runs once, on the real parts."""
    with Pipeline.open(infra_settings) as pipeline:
        yield pipeline


def put_task(pipeline: Pipeline, job: str, root: Path) -> None:
    """Images stored as the downloader would, COCO splits as the converter would (file names under images/)."""
    folder = root / "images"
    stored = store_images(pipeline.store, job, {p.name: p.read_bytes() for p in sorted(folder.iterdir())})
    for split in ("train", "val"):
        coco = json.loads((root / "labels" / f"coco_{split}.json").read_text())
        for image in coco["images"]:
            image["file_name"] = stored[image["file_name"]].removeprefix(keys.images(job))
        pipeline.store.put_bytes(keys.coco(job, split), json.dumps(coco).encode(), "application/json")


def with_records(pipeline: Pipeline, root: Path) -> str:
    job = unique("job-")
    put_task(pipeline, job, root)
    records = renamed(RecordsStage)
    thread = pipeline.run_in_thread(records, max_events=1)
    pipeline.request(records.name, job, num_shards=2)
    thread.join(180)
    assert status.read_status(pipeline.store, job, records.name).state == "succeeded"
    return job


@pytest.fixture(scope="module")
def task(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_task(tmp_path_factory.mktemp("task"), ("circle", "square"), train=12, val=4, seed=11)


@pytest.mark.infra  # runs once: the embedded train stage is covered by test_one_way and the demo's end to end
def test_records_chain_into_training_and_the_run_lands_in_the_store(infra_pipeline: Pipeline, task: Path) -> None:
    pipeline = infra_pipeline
    job = unique("job-")
    put_task(pipeline, job, task)
    records, train = renamed(RecordsStage), renamed(TrainStage)
    threads = [pipeline.run_in_thread(records, 1), pipeline.run_in_thread(train, 1)]
    options = {**TINY, "steps": 10, "checkpoint_every": 5, "from_scratch": True, "run": "first"}
    pipeline.request(records.name, job, num_shards=1, plan=[{"stage": train.name, "options": options}])
    outcomes = pipeline.outcomes(job, 2, timeout=600)
    for thread in threads:
        thread.join(60)
    assert [o["type"] for o in outcomes] == [
        events.event_type(records.name, "completed"),
        events.event_type(train.name, "completed"),
    ], outcomes[-1]["data"]
    data = outcomes[1]["data"]
    assert data["counters"]["step"] == 10 and "ap50" in data["counters"]
    run = keys.model(job, "first")
    for name in ("saved_model/saved_model.pb", "eval/metrics.json", "eval/pr_curves.png", "checkpoints/checkpoint"):
        assert pipeline.store.exists(run + name), name
    assert pipeline.store.exists(run + "checkpoints/ckpt-10.index")
    assert json.loads(pipeline.store.get_bytes(run + "eval/metrics.json"))["training"]["step"] == 10
    progress = [m for m in pipeline.read(events.EVENTS_TOPIC, lambda _: False, timeout=2) if is_progress(m, job)]
    assert progress and progress[-1]["data"]["done"] == 10 and "total_loss" in progress[-1]["data"]["metrics"]


def is_progress(message: dict[str, Any], job: str) -> bool:
    """A training step's progress event (evaluation reports its own, counting images)."""
    return (
        message["subject"] == job
        and message["type"].endswith("progress")
        and "total_loss" in message["data"]["metrics"]
    )


BAD = {
    "unknown model": ({"model": "yolo9000"}, "unknown model 'yolo9000'"),
    "classes": ({"classes": ["circle", "cat"], "from_scratch": True}, "do not match the label map"),
    "404": ({"base_checkpoint": "{url}/missing.tar.gz"}, "404"),
    "corrupt": ({"base_checkpoint": "{url}/corrupt.tar.gz"}, "not a TensorFlow checkpoint"),
    "no published checkpoint": ({"model": "maskrcnn_resnet50"}, "no published COCO checkpoint"),
}


def test_bad_requests_fail_fast_with_a_clear_message(
    pipeline: Pipeline, task: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = with_records(pipeline, task)
    monkeypatch.setenv("TRANSFERLINE_CHECKPOINT_ALLOW_NETWORKS", "127.0.0.0/8")  # the loopback file server
    train = renamed(TrainStage)
    (tmp_path / "corrupt.tar.gz").write_bytes(b"\x1f\x8b not really gzip" * 50)
    with serve_files(tmp_path) as url:
        thread = pipeline.run_in_thread(train, max_events=len(BAD) + 1)
        for options, _ in BAD.values():
            filled = {k: v.format(url=url) if isinstance(v, str) else v for k, v in options.items()}
            pipeline.request(train.name, job, **{**TINY, "steps": 5, **filled})
        pipeline.request(train.name, unique("empty-"), **TINY)  # a job with no records at all
        thread.join(600)
    failed = [o for o in pipeline.read(events.EVENTS_TOPIC, lambda _: False, timeout=3) if o["type"].endswith("failed")]
    messages = [o["data"]["message"] for o in failed if o["data"]["stage"] == train.name]
    assert all(o["data"]["reason"] == "invalid-input" for o in failed if o["data"]["stage"] == train.name)
    for case, (_, expected) in BAD.items():
        assert any(expected in message for message in messages), (case, messages)
    assert any("run the records stage first" in message for message in messages)
    assert not thread.is_alive()


@pytest.mark.infra
@pytest.mark.timeout(600)  # three trainer processes, each importing TensorFlow and tracing the model
def test_a_killed_trainer_resumes_from_its_last_checkpoint(infra_pipeline: Pipeline, task: Path) -> None:
    pipeline = infra_pipeline
    job, stage = with_records(pipeline, task), unique("train")
    events.REGISTRY.register_stage(stage, TrainRequested)
    env = {**child_env(pipeline.settings, stage), "TF_CPP_MIN_LOG_LEVEL": "2"}
    serve = cli("serve", "tests.support.train_stage:NamedTrainStage")
    # Loops of 50 steps. Orbit checkpoints after a fresh run's first loop, then every `checkpoint_every` steps
    # (never, here) and at the end; the trainer also checkpoints whenever SIGTERM asks it to stop.
    options = {**TINY, "steps": 300, "checkpoint_every": 1000, "from_scratch": True, "run": "resumed"}
    pipeline.request(stage, job, **options)
    run = keys.model(job, "resumed", "checkpoints")

    first = subprocess.Popen(serve, env=env, stderr=subprocess.DEVNULL)
    wait_for(lambda: pipeline.store.exists(f"{run}/ckpt-50.index"), 300, "a checkpoint at step 50")
    first.send_signal(signal.SIGKILL)
    first.wait(30)
    assert status.read_status(pipeline.store, job, stage).state == "running"

    second = subprocess.Popen(serve, env=env, stderr=subprocess.PIPE, text=True)
    pipeline.read(events.EVENTS_TOPIC, lambda seen: max(steps_of(seen, job), default=0) >= 150, timeout=300)
    second.send_signal(signal.SIGTERM)  # saves a checkpoint after the running loop and leaves the request uncommitted
    _, stderr = second.communicate(timeout=120)
    assert second.returncode == 0, stderr[-3000:]
    assert pipeline.store.exists(f"{run}/ckpt-200.index")  # neither a first loop nor the end: SIGTERM wrote it
    assert status.read_status(pipeline.store, job, stage).state == "running"

    third = subprocess.run([*serve, "--max-events", "1"], env=env, timeout=600, capture_output=True, text=True)
    assert third.returncode == 0, third.stderr[-3000:]
    assert status.read_status(pipeline.store, job, stage).state == "succeeded"
    steps = steps_of(pipeline.read(events.EVENTS_TOPIC, lambda _: False, timeout=3), job)
    assert steps[-1] == 300
    assert steps == sorted(steps), steps  # never back to 0: each restart went on from a checkpoint


def steps_of(messages: list[dict[str, Any]], job: str) -> list[int]:
    return [m["data"]["done"] for m in messages if is_progress(m, job)]
