"""`transferline convert` and `transferline validate-coco`: one-shot commands over local files, the same code as
the stage. Heavy imports wait until a command runs, so `transferline --help` stays fast."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from transferline import keys
from transferline.errors import InvalidInput, WorkFailed
from transferline.oneshot import LOCAL_JOB, run_stage, validated


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = commands.add_parser("convert", help="convert label exports to COCO with splits and a health report")
    p.add_argument("exports", nargs="+", type=Path, help="export files, folders or zips (several are merged)")
    p.add_argument("--out", type=Path, required=True, help="folder for coco*.json, report.json and report.md")
    p.add_argument("--images", type=Path, help="folder of the labelled images (sizes, matching, near-duplicates)")
    p.add_argument("--format", default="auto", help="auto, labelbox-json, labelbox-ndjson, coco, voc, yolo, ...")
    p.add_argument("--split", default="train=0.8,val=0.1,test=0.1", help="ratios, e.g. train=0.9,val=0.1")
    p.add_argument("--split-list", type=Path, help='JSON {"train": [image names], "val": [...], "test": [...]}')
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--classes", help="comma-separated classes to keep (others are reported and dropped)")
    p.add_argument("--rename", action="append", default=[], metavar="OLD=NEW", help="rename a class ('OLD=' drops)")
    p.add_argument("--coco-class", action="append", default=[], metavar="CLASS=COCO", help="e.g. WasteBottle=bottle")
    p.add_argument("--out-of-bounds", choices=["clip", "drop"], default="clip")
    p.add_argument("--legacy-y-origin", choices=["auto", "bottom-left", "top-left"], default="auto")
    p.add_argument("--near-duplicate-bits", type=int, default=4, help="pHash distance counted as a look-alike")
    p.add_argument("--max-error-fraction", type=float, default=0.1)
    p.set_defaults(command=convert_command)

    p = commands.add_parser("validate-coco", help="check a COCO file; exit 1 when it has errors")
    p.add_argument("file", type=Path)
    p.add_argument("--repair", action="store_true", help="write a repaired copy and check that")
    p.add_argument("--out", type=Path, help="where --repair writes (default FILE.repaired.json)")
    p.add_argument("--json", action="store_true", help="print the problems as JSON")
    p.set_defaults(command=validate_command)


def convert_command(args: argparse.Namespace) -> int:
    from transferline_converter.stage import ConvertStage

    request = _request(args)
    _check_out(args.out)
    inputs = {_export_key(path): path for path in args.exports}
    if len(inputs) < len(args.exports):
        raise InvalidInput("two exports have the same name: give each a name of its own")
    if args.split_list is not None:
        inputs[keys.raw_labels(LOCAL_JOB, args.split_list.name)] = args.split_list
    if args.images is not None:
        inputs[keys.images(LOCAL_JOB)] = args.images
    try:
        run_stage(ConvertStage(), request, inputs, keys.labels(LOCAL_JOB), args.out)
    except WorkFailed as exc:
        print(_report_text(args.out), end="")
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(_report_text(args.out), end="")
    print(f"wrote {args.out}/coco.json, coco_train/val/test.json, report.json, report.md")
    return 0


def validate_command(args: argparse.Namespace) -> int:
    from transferline_converter.validate import render_result, validate_file

    result = validate_file(args.file, repair=args.repair, out=args.out)
    if args.json:
        print(json.dumps([problem.as_dict() for problem in result.problems.items], indent=2))
    else:
        print(render_result(args.file, result))
    return result.exit_code


def _request(args: argparse.Namespace) -> Any:
    from transferline_converter.request import ConvertRequested

    fields = {
        "split_list": keys.clean_name(args.split_list.name) if args.split_list else None,
        "format": args.format,
        "split": _ratios(args.split),
        "seed": args.seed,
        "classes": [c.strip() for c in args.classes.split(",")] if args.classes else None,
        "rename_classes": _pairs(args.rename, "--rename"),
        "category_map": _pairs(args.coco_class, "--coco-class"),
        "out_of_bounds": args.out_of_bounds,
        "legacy_y_origin": args.legacy_y_origin,
        "near_duplicate_bits": args.near_duplicate_bits,
        "require_images": args.images is not None,
        "max_error_fraction": args.max_error_fraction,
    }
    return validated(ConvertRequested, fields)


def _ratios(text: str) -> dict[str, float]:
    """`--split train=0.8,val=0.2` as numbers; the request model then checks them (finite, a positive sum)."""
    ratios = {}
    for pair in text.split(","):
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise InvalidInput(f"--split {pair[:40]!r} must look like train=0.8")
        try:
            ratios[name.strip()] = float(value)  # float(), unlike int(), reads any number of digits
        except ValueError:
            raise InvalidInput(f"--split {name.strip()}: {value[:40]!r} is not a number") from None
    return ratios


def _check_out(out: Path) -> None:
    """--out must be a folder this process can write in, or a path one can be made at: said now, naming --out,
    rather than as a traceback from deep inside the run. Nothing is created here."""
    existing = next(path for path in (out, *out.parents) if path.exists())
    if not existing.is_dir():
        raise InvalidInput(f"--out {out}: {existing} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise InvalidInput(f"--out {out}: cannot write in {existing} ({exc.strerror or exc})") from None


def _pairs(values: list[str], flag: str) -> dict[str, str]:
    pairs = {}
    for value in values:
        name, sep, target = value.partition("=")
        if not sep or not name.strip():
            raise InvalidInput(f"{flag} {value!r} must look like NAME=VALUE")
        pairs[name.strip()] = target.strip()
    return pairs


def _export_key(path: Path) -> str:
    key = keys.raw_labels(LOCAL_JOB, path.name)
    return key + "/" if path.is_dir() else key


def _report_text(out: Path) -> str:
    report = out / "report.md"
    return report.read_text() if report.is_file() else ""
