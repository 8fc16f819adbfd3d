"""Shared by the trainer tests and bench: the recorder's shards for a generated task, and a run's checkpoint
packed the way Model Garden publishes its COCO checkpoints."""

from __future__ import annotations

import tarfile
from pathlib import Path
from typing import Any

from transferline import keys
from transferline.oneshot import LOCAL_JOB, run_stage
from transferline.store.filesystem import FilesystemStore, Mount
from transferline_recorder.request import RecordsRequested
from transferline_recorder.stage import RecordsStage

# The tiny RetinaNet at 128 px: the real code path at a size a 2-core CPU trains in seconds.
TINY = {"model": "retinanet_tiny", "input_size": 128, "batch_size": 4, "warmup_steps": 5, "learning_rate": 0.05}


def write_records(root: Path, shards: int = 2) -> Path:
    """root/records/: shards and stats.json for the splits under root/labels (see tests.support.shapes)."""
    inputs = {keys.labels(LOCAL_JOB): root / "labels", keys.images(LOCAL_JOB): root / "images"}
    run_stage(RecordsStage(), RecordsRequested(num_shards=shards), inputs, keys.records(LOCAL_JOB), root / "records")
    return root / "records"


def local_store(root: Path) -> FilesystemStore:
    """The task under `root` (labels/, records/, images/) seen as the one-shot job's store."""
    mounts = {keys.labels(LOCAL_JOB): "labels", keys.records(LOCAL_JOB): "records", keys.images(LOCAL_JOB): "images"}
    return FilesystemStore(root / "store", {at: Mount(root / folder) for at, folder in mounts.items()})


def tiny_config(root: Path, **fields: Any) -> Any:
    """The Model Garden config `transferline train` builds for the task under `root` (tiny RetinaNet, CPU)."""
    from transferline_trainer.base_checkpoint import checkpoint_fetcher
    from transferline_trainer.catalogue import lookup
    from transferline_trainer.config import Hardware, build_config
    from transferline_trainer.job import read_inputs
    from transferline_trainer.request import TrainRequested
    from transferline_trainer.run import training_data

    request = TrainRequested.model_validate({**TINY, **fields})
    store = local_store(root)
    inputs = read_inputs(store, LOCAL_JOB, root / "store" / "shards", root / "store" / "cache", checkpoint_fetcher())
    return build_config(lookup(request.model), request, training_data(inputs), Hardware(gpus=0))


def archive_checkpoint(run: Path, target: Path) -> Path:
    """A run folder's newest checkpoint and params.yaml as a .tar.gz (in a subfolder, as Model Garden's are)."""
    state = (run / "checkpoints" / "checkpoint").read_text()
    newest = state.split('"')[1].rsplit("/", 1)[-1]
    target.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(target, "w:gz") as tar:
        for path in sorted((run / "checkpoints").glob(f"{newest}.*")):
            tar.add(path, arcname=f"base/{path.name}")
        tar.add(run / "params.yaml", arcname="base/params.yaml")
    return target
