"""Shared by the trainer tests and bench: the recorder's shards for a generated task, and a run's checkpoint
packed the way Model Garden publishes its COCO checkpoints."""

from __future__ import annotations

import json
import shutil
import tarfile
from pathlib import Path
from typing import Any

from services.recorder.records import RecordOptions, build_records
from services.recorder.source import ImageSource

# The tiny RetinaNet at 128 px: the real code path at a size a 2-core CPU trains in seconds.
TINY = {"model": "retinanet_tiny", "input_size": 128, "batch_size": 4, "warmup_steps": 5, "learning_rate": 0.05}


def write_records(root: Path, shards: int = 2) -> Path:
    """root/records/: shards and stats.json for the splits under root/labels (see tests.support.shapes)."""
    out = root / "records"
    out.mkdir()
    splits = {split: json.loads((root / "labels" / f"coco_{split}.json").read_text()) for split in ("train", "val")}

    def publish(path: Path, split: str, index: int, count: int) -> str:
        return str(shutil.move(path, out / path.name))

    records = build_records(splits, ImageSource(folder=root / "images"), RecordOptions(num_shards=shards), publish)
    (out / "stats.json").write_text(json.dumps({s: stats.as_dict() for s, stats in records.stats.items()}))
    return out


def tiny_config(root: Path, **fields: Any) -> Any:
    """The Model Garden config `transferline train` builds for the task under `root` (tiny RetinaNet, CPU)."""
    from services.trainer.catalogue import lookup
    from services.trainer.cli import local_inputs
    from services.trainer.config import Hardware, build_config
    from services.trainer.run import training_data
    from transferline.payloads import TrainRequested

    def no_base(source: str, sha256: str | None) -> Any:
        raise AssertionError("a config needs no base checkpoint")

    request = TrainRequested.model_validate({**TINY, **fields})
    inputs = local_inputs(root / "records", root / "labels", root / "images", no_base)
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
