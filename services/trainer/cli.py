"""`transferline train`: the recorder's output folder + the converter's COCO + images -> a fine-tuned, evaluated,
exported detector in a local folder; the same code as the stage. TensorFlow is imported only when it runs."""

from __future__ import annotations

import argparse
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from transferline import jobs
from transferline.errors import InvalidInput
from transferline.payloads import TrainRequested

if TYPE_CHECKING:  # the library imports TensorFlow's helpers lazily; the CLI parser stays light
    from services.trainer.base_checkpoint import BaseCheckpoint
    from services.trainer.run import RunInputs

FetchBase = Callable[[str, "str | None"], "BaseCheckpoint"]


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = commands.add_parser("train", help="fine-tune a detector on TFRecords, evaluate it and export it")
    p.add_argument("records", type=Path, help="folder with the recorder's shards and stats.json")
    p.add_argument("--labels", type=Path, required=True, help="folder with coco_train.json (and coco_val.json)")
    p.add_argument("--images", type=Path, required=True, help="folder the COCO file names are relative to")
    p.add_argument("--out", type=Path, required=True, help="folder for checkpoints, saved_model, eval, pictures")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a train request field")
    p.set_defaults(command=train_command)


def train_command(args: argparse.Namespace) -> int:
    from services.trainer.base_checkpoint import fetch_base
    from services.trainer.run import train_run
    from transferline.settings import Settings
    from transferline.store import open_store

    request = jobs.validated(TrainRequested, jobs.parse_assignments(args.set))
    settings = Settings.from_env()
    store, cache = open_store(settings), settings.data_dir / "cache" / "checkpoints"
    inputs = local_inputs(args.records, args.labels, args.images, lambda url, sha: fetch_base(url, store, cache, sha))
    args.out.mkdir(parents=True, exist_ok=True)
    result = train_run(request, inputs, args.out, _LocalOutputs(args.out), _print_progress, lambda: False)
    print(json.dumps({"step": result.fit.step, **{k: result.metrics.get(k) for k in ("ap", "ap50", "ap75")}}))
    return 0


def local_inputs(records: Path, labels: Path, images: Path, fetch_base: FetchBase) -> RunInputs:
    """A run's inputs from local folders: `transferline records` output, `transferline convert` output, images."""
    from services.trainer.run import RunInputs

    stats = _read_json(records / "stats.json")
    return RunInputs(
        shards={split: [records / Path(key).name for key in found["shards"]] for split, found in stats.items()},
        train_images=int(stats.get("train", {}).get("images", 0)),
        categories=_read_json(labels / "coco_train.json")["categories"],
        evaluation=_optional_json(labels / "coco_val.json") or _optional_json(labels / "coco_test.json"),
        read_image=lambda name: _read_image(images, name),
        fetch_base=fetch_base,
    )


class _LocalOutputs:
    """The run folder is the output: files are linked to their published names (no second copy of the bytes)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def publish(self, path: Path, name: str) -> None:
        target = self.root / name
        if target.resolve() == path.resolve():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        target.unlink(missing_ok=True)  # TensorFlow replaces its state file; link the new one
        try:
            os.link(path, target)
        except OSError:  # another file system
            shutil.copyfile(path, target)

    def restore(self, folder: str, into: Path) -> None:
        """Checkpoints already sit in the run folder's model/ from an earlier run of the same command."""


def _print_progress(done: int, total: int, message: str, values: dict[str, float]) -> None:
    if "total_loss" in values:
        message += f": loss {values['total_loss']:.4f}, {values['images_per_second']:.1f} images/s"
        message += f", about {values['eta_seconds']:.0f} s left" if values["eta_seconds"] >= 0 else ""
    print(message, flush=True)


def _read_json(path: Path) -> dict[str, Any]:
    found = _optional_json(path)
    if found is None:
        raise InvalidInput(f"{path} is missing (run `transferline convert` and `transferline records` first)")
    return found


def _optional_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{path} is not JSON: {exc}") from None


def _read_image(folder: Path, name: str) -> bytes:
    path = (folder / name).resolve()
    if not path.is_relative_to(folder.resolve()) or not path.is_file():
        raise InvalidInput(f"image {name!r} is not in {folder}")
    return path.read_bytes()
