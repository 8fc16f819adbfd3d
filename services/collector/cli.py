"""`transferline collect`: the collect stage as a one-shot command over local URL lists, writing DIR/urls.jsonl,
DIR/report.json and DIR/ATTRIBUTION.md. Heavy imports wait until it runs, so `transferline --help` stays fast."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from transferline import keys
from transferline.errors import InvalidInput, WorkFailed
from transferline.oneshot import LOCAL_JOB, run_stage, validated


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = commands.add_parser("collect", help="search image providers and clean URL lists into one URL list")
    p.add_argument("--query", action="append", default=[], help="a search query (repeat for more)")
    p.add_argument(
        "--provider", action="append", default=[], help="openverse, wikimedia (the default), brave, flickr, google_cse"
    )
    p.add_argument("--max-per-query", type=int, default=100, help="results per provider and query (default 100)")
    p.add_argument("--license", action="append", default=[], help="cc0,by,by-sa,... or commercial / modification")
    p.add_argument("--list", action="append", default=[], type=Path, help="a URL list: text, CSV, JSON lines, JSON")
    p.add_argument("--out", type=Path, required=True, help="folder for urls.jsonl, report.json, ATTRIBUTION.md")
    p.set_defaults(command=collect_command)


def collect_command(args: argparse.Namespace) -> int:
    from transferline_collector.report import summary
    from transferline_collector.stage import CollectStage

    request = _request(args)
    inputs = {keys.url_list(LOCAL_JOB, path.name): path for path in args.list}
    if len(inputs) < len(args.list):
        raise InvalidInput("two --list files have the same name: give each a name of its own")
    try:
        run_stage(CollectStage(), request, inputs, keys.urls_prefix(LOCAL_JOB), args.out, _progress)
    except WorkFailed as exc:
        print(summary(_report(args.out)), end="")
        print(f"error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1
    print(summary(_report(args.out)), end="")
    print(f"wrote {args.out}/urls.jsonl, report.json, ATTRIBUTION.md")
    return 0


def _request(args: argparse.Namespace) -> Any:
    from transferline_collector.request import KEYLESS, CollectRequested

    if not args.query and not args.list:
        raise InvalidInput("give at least one --query or --list")
    fields = {
        "queries": args.query,
        "providers": _split(args.provider) or list(KEYLESS),
        "max_per_query": args.max_per_query,
        "licenses": _split(args.license),
        "lists": [keys.clean_name(path.name) for path in args.list],
    }
    return validated(CollectRequested, fields)


def _split(values: list[str]) -> list[str]:
    """Repeated and comma-separated alike: --license cc0,by --license by-sa."""
    return [item.strip().lower() for value in values for item in value.split(",") if item.strip()]


def _progress(done: int, total: int | None, message: str, metrics: dict[str, float]) -> None:
    print(message, file=sys.stderr)


def _report(out: Path) -> dict[str, Any]:
    found = out / "report.json"
    if not found.is_file():  # the run stopped before writing it
        return {"sources": [], "dropped_by_reason": {}, "kept": 0, "seen": 0}
    return json.loads(found.read_text())
