"""The train stage: the job's TFRecords (records/) + COCO splits (labels/) -> a fine-tuned, evaluated, exported
detector under models/<run>/. Checkpoints reach the store while training, so a restarted service resumes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

from services.trainer.base_checkpoint import fetch_base
from services.trainer.run import RunInputs, RunResult, train_run
from transferline import keys
from transferline.errors import InvalidInput
from transferline.payloads import TrainRequested
from transferline.stage import Stage, StageContext, StageResult
from transferline.store import Store


class TrainStage(Stage[TrainRequested]):
    name: ClassVar[str] = "train"
    Request: ClassVar[type[TrainRequested]] = TrainRequested

    def handle(self, request: TrainRequested, ctx: StageContext) -> StageResult:
        job, store = ctx.job_id, ctx.store
        workdir = ctx.settings.data_dir / "trainer" / job / request.run
        inputs = read_inputs(store, job, workdir / "records", ctx.settings.data_dir / "cache" / "checkpoints")

        def progress(done: int, total: int, message: str, values: dict[str, float]) -> None:
            ctx.progress(done, total, message, **values)

        result = train_run(
            request, inputs, workdir, StoreOutputs(store, job, request.run), progress, ctx.stopping.is_set
        )
        return StageResult(outputs(job, request.run, request.tflite), counters(result))


def read_inputs(store: Store, job: str, folder: Path, cache: Path) -> RunInputs:
    stats = _stats(store, job)
    shards = {split: _download(store, found.get("shards", []), folder) for split, found in stats.items()}
    train = _coco(store, job, "train")
    if train is None:
        raise InvalidInput(f"no {keys.coco(job, 'train')}: run the convert stage first")
    images = keys.images(job)
    return RunInputs(
        shards=shards,
        train_images=int(stats.get("train", {}).get("images", 0)),
        categories=train["categories"],
        evaluation=_coco(store, job, "val") or _coco(store, job, "test"),
        read_image=lambda name: store.get_bytes(images + name),
        fetch_base=lambda source, sha256: fetch_base(source, store, cache, sha256),
    )


class StoreOutputs:
    """A run's files under jobs/<job>/models/<run>/ in the store."""

    def __init__(self, store: Store, job: str, run: str) -> None:
        self.store, self.job, self.run = store, job, run

    def publish(self, path: Path, name: str) -> None:
        with path.open("rb") as stream:
            self.store.put_stream(keys.model(self.job, self.run, *name.split("/")), stream)

    def restore(self, folder: str, into: Path) -> None:
        prefix = keys.model(self.job, self.run, folder) + "/"
        for found in self.store.list(prefix):
            self.store.download(found.key, into / found.key.removeprefix(prefix))


def outputs(job: str, run: str, tflite: bool) -> dict[str, str]:
    found = {
        "saved_model": keys.model(job, run, "saved_model", "saved_model.pb"),
        "metrics": keys.model(job, run, "eval", "metrics.json"),
        "params": keys.model(job, run, "params.yaml"),
        "checkpoint_state": keys.model(job, run, "checkpoints", "checkpoint"),
    }
    if tflite:
        found["tflite"] = keys.model(job, run, "model.tflite")
    return found


def counters(result: RunResult) -> dict[str, float]:
    metrics, training = result.metrics, result.metrics["training"]
    found = {"step": float(result.fit.step), "images_per_second": float(training["images_per_second"])}
    for name in ("ap", "ap50", "ap75"):
        if metrics.get(name) is not None:
            found[name] = float(metrics[name])
    return found


def _stats(store: Store, job: str) -> dict[str, Any]:
    try:
        return json.loads(store.get_bytes(keys.records_stats(job)))
    except KeyError:
        raise InvalidInput(
            f"no TFRecords for job {job} ({keys.records_stats(job)} missing): run the records stage first"
        ) from None


def _download(store: Store, shard_keys: list[str], folder: Path) -> list[Path]:
    paths = []
    for key in shard_keys:
        found = store.stat(key)
        if found is None:
            raise InvalidInput(f"TFRecord shard {key} is missing: run the records stage again")
        path = folder / key.rsplit("/", 1)[-1]
        if not path.exists() or path.stat().st_size != found.size:  # a restarted run keeps what it has
            store.download(key, path)
        paths.append(path)
    return paths


def _coco(store: Store, job: str, split: str) -> dict[str, Any] | None:
    try:
        return json.loads(store.get_bytes(keys.coco(job, split)))
    except KeyError:
        return None
