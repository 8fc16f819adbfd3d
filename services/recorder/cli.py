"""`transferline records`: the converter's output folder + images -> TFRecord shards, label map and stats,
the same code as the stage (which never imports TensorFlow); its modules are imported only when the command runs."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from transferline.errors import InvalidInput
from transferline.keys import SPLITS


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
    from services.recorder.encode import EncodeOptions
    from services.recorder.records import RecordOptions, build_records
    from services.recorder.source import ImageSource

    splits = _read_splits(args.labels)
    if not args.images.is_dir():
        raise InvalidInput(f"--images {args.images} is not a folder")
    args.out.mkdir(parents=True, exist_ok=True)

    def publish(path: Path, split: str, index: int, count: int) -> str:
        target = args.out / path.name
        shutil.move(path, target)
        return str(target)

    encode = EncodeOptions(args.include_masks, args.max_side, args.verify_pixels)
    options = RecordOptions(encode, args.num_shards, args.shard_mb, workers=args.workers)
    records = build_records(splits, ImageSource(folder=args.images), options, publish)
    (args.out / "label_map.pbtxt").write_text(records.label_map)
    stats = {split: found.as_dict() for split, found in records.stats.items()}
    (args.out / "stats.json").write_text(json.dumps(stats, indent=1))
    for split, found in records.stats.items():
        print(
            f"{split}: {found.images} images, {found.objects} objects, {len(found.shards)} shards, "
            f"{len(found.skipped)} skipped, {found.reencoded} re-encoded"
        )
    return 0


def _read_splits(folder: Path) -> dict[str, dict]:
    splits = {}
    for split in SPLITS:
        path = folder / f"coco_{split}.json"
        if path.is_file():
            try:
                coco = json.loads(path.read_text())
            except json.JSONDecodeError as exc:
                raise InvalidInput(f"{path} is not JSON: {exc}") from None
            if coco.get("images"):
                splits[split] = coco
    if not splits:
        raise InvalidInput(f"{folder} holds no coco_train/val/test.json with images (run transferline convert)")
    return splits
