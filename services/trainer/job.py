"""The train stage's work over a store: the job's shards, COCO splits and images in, a run's checkpoints,
SavedModel, evaluation and pictures out under models/<run>/ (published as they are written)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from transferline import keys
from transferline.contracts import read_categories, read_records_stats
from transferline.errors import InvalidInput
from transferline.fetch import Fetcher
from transferline.stage import StageContext, StageResult
from transferline.store import Store
from transferline_trainer.base_checkpoint import checkpoint_fetcher, fetch_base
from transferline_trainer.request import TrainRequested
from transferline_trainer.run import RunInputs, RunResult, train_run
from transferline_trainer.settings import TrainerSettings


def train_job(request: TrainRequested, ctx: StageContext, settings: TrainerSettings) -> StageResult:
    job, store = ctx.job_id, ctx.store
    workdir = ctx.scratch(keys.model(job, request.run))
    fetcher = checkpoint_fetcher(settings.allow_networks, settings.checkpoint_fetch_seconds)
    inputs = read_inputs(store, job, workdir / "records", ctx.scratch(keys.checkpoint_cache_prefix()), fetcher)

    def progress(done: int, total: int, message: str, values: dict[str, float]) -> None:
        ctx.progress(done, total, message, **values)

    result = train_run(request, inputs, workdir, StoreOutputs(store, job, request.run), progress, ctx.stopping.is_set)
    return StageResult(outputs(job, request.run, request.tflite), counters(result))


def read_inputs(store: Store, job: str, folder: Path, cache: Path, fetcher: Fetcher) -> RunInputs:
    """A run's inputs; shards the store keeps as local files are read in place, others downloaded to `folder`."""
    try:
        stats = read_records_stats(store.get_bytes(keys.records_stats(job)), keys.records_stats(job))
    except KeyError:
        raise InvalidInput(
            f"no TFRecords for job {job} ({keys.records_stats(job)} missing): run the records stage first"
        ) from None
    shards = {split: _local(store, job, found.shards, folder) for split, found in stats.splits.items()}
    train = _coco(store, job, "train")
    if train is None:
        raise InvalidInput(f"no {keys.coco(job, 'train')}: run the convert stage first")
    images = keys.images(job)
    return RunInputs(
        shards=shards,
        train_images=stats.splits["train"].images if "train" in stats.splits else 0,
        categories=read_categories(train, keys.coco(job, "train")),
        evaluation=_coco(store, job, "val") or _coco(store, job, "test"),
        read_image=lambda name: store.get_bytes(images + name),
        fetch_base=lambda source, sha256: fetch_base(source, store, cache, sha256, fetcher),
    )


class StoreOutputs:
    """A run's files under jobs/<job>/models/<run>/ in the store."""

    def __init__(self, store: Store, job: str, run: str) -> None:
        self.store, self.job, self.run = store, job, run

    def publish(self, path: Path, name: str) -> None:
        self.store.put_file(keys.model(self.job, self.run, *name.split("/")), path)

    def restore(self, folder: str, into: Path) -> None:
        prefix = keys.model(self.job, self.run, folder) + "/"
        for found in self.store.list(prefix):
            self.store.download(found.key, into / found.key.removeprefix(prefix))


def outputs(job: str, run: str, tflite: bool) -> dict[str, str]:
    found = {
        "saved_model": keys.model_saved_model(job, run) + "saved_model.pb",
        "metrics": keys.model_metrics(job, run),
        "params": keys.model(job, run, "params.yaml"),
        "checkpoint_state": keys.model(job, run, "checkpoints", "checkpoint"),
    }
    if tflite:
        found["tflite"] = keys.model_tflite(job, run)
    return found


def counters(result: RunResult) -> dict[str, float]:
    metrics, training = result.metrics, result.metrics["training"]
    found = {"step": float(result.fit.step), "images_per_second": float(training["images_per_second"])}
    for name in ("ap", "ap50", "ap75"):
        if metrics.get(name) is not None:
            found[name] = float(metrics[name])
    return found


def _local(store: Store, job: str, names: list[str], folder: Path) -> list[Path]:
    paths = []
    for name in names:
        key = keys.records_file(job, name)
        found = store.stat(key)
        if found is None:
            raise InvalidInput(f"TFRecord shard {key} is missing: run the records stage again")
        path = store.local_path(key) or folder / name
        if not path.exists() or path.stat().st_size != found.size:  # a restarted run keeps what it has
            store.download(key, path)
        paths.append(path)
    return paths


def _coco(store: Store, job: str, split: str) -> dict[str, Any] | None:
    try:
        return json.loads(store.get_bytes(keys.coco(job, split)))
    except KeyError:
        return None
