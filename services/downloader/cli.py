"""`transferline download`: the download stage's own `handle` over a local URL list, writing DIR/images/,
DIR/manifest.jsonl, DIR/outcomes.jsonl and DIR/summary.json (plus labelbox_import.json)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from transferline import keys
from transferline.errors import ConfigurationError, InvalidInput, WorkFailed
from transferline.oneshot import LOCAL_JOB, run_stage, validated


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = commands.add_parser("download", help="download a URL list into validated, content-addressed images")
    p.add_argument("urls", type=Path, help="URL list: JSON lines with a url field, a CSV with a URL column, or text")
    p.add_argument("--out", type=Path, required=True, help="folder for images/, manifest.jsonl, outcomes.jsonl")
    p.add_argument("--workers", type=int, default=16, help="concurrent fetches")
    p.add_argument("--per-host", type=int, default=4, help="concurrent fetches to one host")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds for one fetch, redirects and body included")
    p.add_argument("--max-bytes", type=int, default=32 * 2**20, help="body size cap")
    p.add_argument("--min-side", type=int, default=16, help="images with a shorter side are too-small")
    p.add_argument("--max-pixels", type=int, default=89_478_485, help="width x height cap, read from the header")
    p.add_argument("--retries", type=int, default=3, help="extra tries for 429, 503 and timeouts")
    p.add_argument("--max-failed-fraction", type=float, default=1.0, help="exit 1 when more URLs than this fail")
    p.add_argument(
        "--allow-network", action="append", default=[], metavar="CIDR", help="reach a refused range (repeatable)"
    )
    p.add_argument("--resume", action="store_true", help="keep outcomes already in --out; fetch only the rest")
    p.set_defaults(command=download_command)


def download_command(args: argparse.Namespace) -> int:
    from transferline_downloader.progress import progress_bar
    from transferline_downloader.stage import DownloadStage

    request = _request(args)
    stage = DownloadStage(_settings(args.allow_network))
    out: Path = args.out
    files = {
        keys.image_manifest(LOCAL_JOB): out / "manifest.jsonl",
        keys.download_outcomes(LOCAL_JOB): out / "outcomes.jsonl",
        keys.download_summary(LOCAL_JOB): out / "summary.json",
        keys.labelbox_import(LOCAL_JOB): out / "labelbox_import.json",
    }
    if not args.resume:
        for path in files.values():
            path.unlink(missing_ok=True)
    failed: WorkFailed | None = None
    with progress_bar() as bar:
        try:
            run_stage(stage, request, {keys.urls(LOCAL_JOB): args.urls}, keys.job_prefix(LOCAL_JOB), out, bar, files)
        except WorkFailed as exc:
            failed = exc
    print(_summary_line(out / "summary.json"))
    if failed is not None:
        print(f"error: {failed}", file=sys.stderr)
        return 1
    return 0


def _request(args: argparse.Namespace) -> Any:
    from transferline_downloader.request import DownloadRequested

    fields = {
        "workers": args.workers,
        "per_host": args.per_host,
        "timeout": args.timeout,
        "max_bytes": args.max_bytes,
        "min_side": args.min_side,
        "max_pixels": args.max_pixels,
        "retries": args.retries,
        "max_failed_fraction": args.max_failed_fraction,
        "resume": args.resume,
    }
    return validated(DownloadRequested, fields)


def _settings(allow: list[str]) -> Any:
    """The service's settings from the environment, with --allow-network added to its allow-list."""
    from transferline.settings import listed
    from transferline_downloader.settings import DownloaderSettings

    variable = DownloaderSettings.variables()["download_allow_networks"]
    existing = listed(os.environ.get(variable, ""))
    environ = {**os.environ, variable: ",".join((*existing, *allow))}
    try:
        return DownloaderSettings.from_env(environ)
    except ConfigurationError as exc:  # it names the variable; say the flag too
        raise InvalidInput(f"--allow-network: {exc}") from None


def _summary_line(path: Path) -> str:
    if not path.is_file():
        return "no summary written"
    summary = json.loads(path.read_text())
    reasons = ", ".join(f"{name} {count}" for name, count in summary["reasons"].items()) or "none"
    return (
        f"{summary['ok']} ok ({summary['stored']} stored, {summary['duplicates']} duplicates), "
        f"{summary['failed']} failed ({reasons}); {summary['images_per_second']} images/s -> {path.parent}"
    )
