"""`transferline train`: the recorder's output folder + the converter's COCO + images -> a fine-tuned, evaluated,
exported detector in a local folder, by the stage's own `handle`. TensorFlow is imported only when it runs."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from transferline import keys
from transferline.oneshot import LOCAL_JOB, parse_assignments, run_stage, validated


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = commands.add_parser("train", help="fine-tune a detector on TFRecords, evaluate it and export it")
    p.add_argument("records", type=Path, help="folder with the recorder's shards and stats.json")
    p.add_argument("--labels", type=Path, required=True, help="folder with coco_train.json (and coco_val.json)")
    p.add_argument("--images", type=Path, required=True, help="folder the COCO file names are relative to")
    p.add_argument("--out", type=Path, required=True, help="folder for checkpoints, saved_model, eval, pictures")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a train request field")
    p.set_defaults(command=train_command)


def train_command(args: argparse.Namespace) -> int:
    from transferline_trainer.request import TrainRequested
    from transferline_trainer.stage import TrainStage

    request = validated(TrainRequested, parse_assignments(args.set))
    inputs = {keys.records(LOCAL_JOB): args.records, keys.labels(LOCAL_JOB): args.labels}
    inputs[keys.images(LOCAL_JOB)] = args.images
    output = keys.model(LOCAL_JOB, request.run)
    counters = run_stage(TrainStage(), request, inputs, output, args.out, _print_progress).counters
    print(json.dumps({"step": int(counters["step"]), **{k: counters.get(k) for k in ("ap", "ap50", "ap75")}}))
    return 0


def _print_progress(done: int, total: int | None, message: str, values: dict[str, float]) -> None:
    if "total_loss" in values:
        message += f": loss {values['total_loss']:.4f}, {values['images_per_second']:.1f} images/s"
        message += f", about {values['eta_seconds']:.0f} s left" if values["eta_seconds"] >= 0 else ""
    print(message, flush=True)
