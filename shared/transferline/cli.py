"""The `transferline` command. It only parses arguments and delegates; the work lives in the library."""

from __future__ import annotations

import argparse
import atexit
import gc
import sys
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path

from transferline.errors import ConfigurationError, InvalidInput, TransientError, WorkFailed

EXIT_FAILED, EXIT_USAGE, EXIT_TIMEOUT, EXIT_UNAVAILABLE = 1, 2, 3, 4
COMMANDS_GROUP = "transferline.commands"


def main(argv: list[str] | None = None) -> int:
    _skip_the_last_collection()
    args = _parser().parse_args(argv)
    try:
        return int(args.command(args) or 0)
    except WorkFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except (InvalidInput, ConfigurationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except TransientError as exc:
        print(f"error: bus or store unavailable: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except ModuleNotFoundError as exc:  # a slim install without this command's extra
        print(f"error: {exc}: this command needs its extra, e.g. pip install 'transferline[all]'", file=sys.stderr)
        return EXIT_USAGE


def _skip_the_last_collection() -> None:
    """At exit, freeze what is still alive out of the cycle collector's reach. The interpreter's shutdown would
    otherwise walk the heap of modules, classes and pydantic schemas one last time (25 ms of CPU of `transferline
    convert`, an eighth of it on a small export) to free memory the process hands back anyway. Python never
    promised to finalize what is alive at exit; flushing streams and logs does not need it."""
    atexit.unregister(gc.freeze)  # registered once, however often main runs in one process (tests)
    atexit.register(gc.freeze)


def _platform(name: str) -> Callable[[argparse.Namespace], int]:
    """The platform's command `name` (in transferline.commands), imported when it runs: the job, event and bus
    machinery it uses stays out of a service's one-shot command (`transferline convert`)."""

    def run(args: argparse.Namespace) -> int:
        from transferline import commands

        return int(getattr(commands, name)(args))

    return run


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="transferline", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    p = commands.add_parser("publish", help="start a stage with one request event")
    p.add_argument("stage", help="an installed stage (convert, records, train, ...) or module:Class")
    p.add_argument("--job", help="job id (default: a new one)")
    p.add_argument("--payload", help="JSON file with the request ('-' for stdin)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a request field")
    p.add_argument("--then", action="append", default=[], metavar="STAGE", help="chain a stage after it")
    p.add_argument(
        "--wait-for-labels",
        action="store_true",
        help="stop after download until a labelling export is uploaded (`transferline upload JOB --export ...`)",
    )
    p.add_argument("--wait", action="store_true", help="wait for the outcome of the last stage")
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds to --wait (default 3600)")
    p.set_defaults(command=_platform("publish"))

    p = commands.add_parser("init", help="create the bucket and every stage's topics (idempotent)")
    p.set_defaults(command=_platform("init"))

    p = commands.add_parser("status", help="show a job's stages")
    p.add_argument("job")
    p.add_argument("--json", action="store_true")
    p.set_defaults(command=_platform("show_status"))

    p = commands.add_parser("upload", help="store label exports and local images for a job")
    p.add_argument("job")
    p.add_argument(
        "--export", action="append", default=[], type=Path, help="a labelling tool's export (file or folder)"
    )
    p.add_argument("--images", type=Path, help="a folder of images (stored content-addressed, with a manifest)")
    p.add_argument("--urls", action="append", default=[], type=Path, help="a URL list for the collect stage")
    p.set_defaults(command=_platform("upload"))

    p = commands.add_parser("serve", help="run a stage service until SIGTERM")
    p.add_argument("stage", help="an installed stage (convert, records, train, ...) or module:Class")
    p.add_argument("--max-events", type=int, default=None, help="stop after this many messages")
    p.set_defaults(command=_platform("serve_stage"))

    p = commands.add_parser("schemas", help="print (or write) the JSON Schemas of every event")
    p.add_argument("--out", type=Path, help="folder to write one file per event type")
    p.set_defaults(command=_platform("write_schemas"))

    p = commands.add_parser("settings", help="print every setting, its value and where it came from")
    p.add_argument("--json", action="store_true")
    p.set_defaults(command=_platform("show_settings"))

    # Each service adds its one-shot commands; their modules import heavy libraries only when a command runs.
    for entry in sorted(entry_points(group=COMMANDS_GROUP), key=lambda e: e.name):
        entry.load()(commands)
    return parser


if __name__ == "__main__":
    sys.exit(main())
