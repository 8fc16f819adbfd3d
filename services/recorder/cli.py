"""`transferline records`: the converter's output folder + images -> TFRecord shards, label map and stats, by the
stage's own `handle` (which never imports TensorFlow); its modules are imported only when the command runs."""

from __future__ import annotations

import argparse
from pathlib import Path

from transferline import keys
from transferline.oneshot import LOCAL_JOB, run_stage, validated


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = commands.add_parser("records", help="write TFRecord shards and a label map from COCO splits")
    p.add_argument("labels", type=Path, help="folder with coco_train.json, coco_val.json, coco_test.json")
    p.add_argument("--images", type=Path, required=True, help="folder the COCO file names are relative to")
    p.add_argument("--out", type=Path, required=True, help="folder for the shards, label_map.pbtxt, stats.json")
    p.add_argument("--num-shards", type=int, help="shards per split (default: from --shard-mb)")
    p.add_argument("--shard-mb", type=int, default=128)
    p.add_argument("--include-masks", action="store_true")
    p.add_argument("--max-side", type=int)
    p.add_argument("--workers", type=int, help="processes (default: one per core)")
    p.add_argument("--verify-pixels", action="store_true", help="decode every image to catch damage inside it")
    p.set_defaults(command=records_command)


def records_command(args: argparse.Namespace) -> int:
    from transferline_recorder.request import RecordsRequested
    from transferline_recorder.stage import RecordsStage

    fields = {
        "num_shards": args.num_shards,
        "shard_mb": args.shard_mb,
        "include_masks": args.include_masks,
        "max_side": args.max_side,
        "workers": args.workers,
        "verify_pixels": args.verify_pixels,
    }
    request = validated(RecordsRequested, fields)
    inputs = {keys.labels(LOCAL_JOB): args.labels, keys.images(LOCAL_JOB): args.images}
    counters = run_stage(RecordsStage(), request, inputs, keys.records(LOCAL_JOB), args.out).counters
    for split in keys.SPLITS:
        if f"{split}_images" in counters:
            found = {name: int(counters[f"{split}_{name}"]) for name in ("images", "objects", "shards", "skipped")}
            print(
                f"{split}: {found['images']} images, {found['objects']} objects, {found['shards']} shards, "
                f"{found['skipped']} skipped, {int(counters[f'{split}_reencoded'])} re-encoded"
            )
    return 0
