"""`transferline train`: the recorder's output folder + the converter's COCO + images -> a fine-tuned, evaluated,
exported detector in a local folder; the same code as the stage. TensorFlow is imported only when it runs."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from transferline import jobs
from transferline.errors import InvalidInput
from transferline.payloads import TrainRequested


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
    from services.trainer.run import RunInputs, train_run
    from transferline.settings import Settings
    from transferline.store import open_store

    request = _request(jobs.parse_assignments(args.set))
    train = _read_json(args.labels / "coco_train.json")
    stats = _read_json(args.records / "stats.json")
    settings = Settings.from_env()
    store = open_store(settings)
    inputs = RunInputs(
        shards={split: [args.records / Path(key).name for key in found["shards"]] for split, found in stats.items()},
        categories=train["categories"],
        evaluation=_optional_json(args.labels / "coco_val.json") or _optional_json(args.labels / "coco_test.json"),
        read_image=lambda name: _read_image(args.images, name),
        fetch_base=lambda source, sha256: fetch_base(
            source, store, settings.data_dir / "cache" / "checkpoints", sha256
        ),
    )
    args.out.mkdir(parents=True, exist_ok=True)
    result = train_run(request, inputs, args.out, _LocalOutputs(args.out), _print_progress, lambda: False)
    print(json.dumps({"step": result.fit.step, **{k: result.metrics.get(k) for k in ("ap", "ap50", "ap75")}}))
    return 0


class _LocalOutputs:
    """The run folder is the output: files are already where they belong."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def publish(self, path: Path, name: str) -> None:
        target = self.root / name
        if target.resolve() != path.resolve():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)

    def restore(self, folder: str, into: Path) -> None:
        """Checkpoints already sit in the run folder's model/ from an earlier run of the same command."""


def _print_progress(done: int, total: int, message: str, values: dict[str, float]) -> None:
    if "total_loss" in values:
        message += f": loss {values['total_loss']:.4f}, {values['images_per_second']:.1f} images/s"
        message += f", about {values['eta_seconds']:.0f} s left" if values["eta_seconds"] >= 0 else ""
    print(message, flush=True)


def _request(fields: dict[str, Any]) -> TrainRequested:
    try:
        return TrainRequested.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InvalidInput(f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from None


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
