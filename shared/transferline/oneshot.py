"""One way to run a stage: a one-shot command (`transferline convert|records|train ...`) runs the stage's own
`handle` over a filesystem store whose keys are laid out as `keys.py` says. The user's input files and folders
are mounted at their keys (read-only, never copied) and `--out` at the stage's output prefix, so the stage
writes its artifacts straight there; nothing else names them."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from transferline.errors import InvalidInput

if TYPE_CHECKING:
    from transferline.payloads import StageRequest
    from transferline.stage import Stage, StageResult
    from transferline.store.filesystem import Mount

LOCAL_JOB = "local"  # the job id of a one-shot run; no artifact depends on it
WORKSPACE = ".transferline"  # inside --out: scratch and the store root for keys nothing is mounted at
Progress = Callable[[int, "int | None", str, dict[str, float]], None]
RequestT = TypeVar("RequestT", bound="StageRequest")

log = logging.getLogger("transferline.oneshot")


def run_stage(
    stage: Stage,
    request: StageRequest,
    inputs: Mapping[str, Path],
    output_prefix: str,
    out: Path,
    progress: Progress | None = None,
    outputs: Mapping[str, Path] | None = None,
) -> StageResult:
    """`handle(request)` with `inputs` (key or prefix -> local path) mounted and `out` at `output_prefix`;
    `outputs` mounts more keys writable, for a command whose folder is laid out unlike the store (the downloader's
    DIR/manifest.jsonl beside DIR/images/)."""
    # Imported here, not above: every service's CLI module imports this one when `transferline` builds its parser,
    # and pydantic, pydantic-settings and the store are for running a stage, not for `--help` or a usage error.
    from transferline.settings import Settings
    from transferline.stage import StageContext
    from transferline.store.filesystem import FilesystemStore, Mount

    for at, path in inputs.items():
        if not path.exists():
            raise InvalidInput(f"cannot read {path}: no such file or folder")
        if at.endswith("/") != path.is_dir():
            raise InvalidInput(f"{path} must be a {'folder' if at.endswith('/') else 'file'}")
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / WORKSPACE).mkdir(exist_ok=True)
    except OSError as exc:
        raise InvalidInput(f"--out {out}: cannot make the folder ({exc.strerror})") from None
    workspace = out.resolve() / WORKSPACE
    mounts = {at: Mount(path) for at, path in inputs.items()} | {output_prefix: Mount(out, writable=True)}
    mounts |= {at: Mount(path, writable=True) for at, path in (outputs or {}).items()}
    settings = Settings.from_env().model_copy(update={"data_dir": workspace})
    store = FilesystemStore(workspace / "store", mounts)
    store.ensure_bucket()
    context = StageContext(
        job_id=LOCAL_JOB,
        request_id=uuid.uuid4().hex,
        settings=settings,
        store=store,
        log=log,
        report_progress=progress or (lambda *_: None),
    )
    try:
        return stage.handle(request, context)
    except InvalidInput as exc:  # name the user's own files, not the keys they were mounted at
        raise type(exc)(_local_names(str(exc), mounts)) from None


def validated(model: type[RequestT], fields: dict[str, Any]) -> RequestT:
    """A request model from command-line fields; the first problem becomes InvalidInput naming its field."""
    from pydantic import ValidationError  # loaded with `model` already; deferred for the reason run_stage gives

    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InvalidInput(f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}") from None


def parse_assignments(pairs: list[str]) -> dict[str, Any]:
    """`--set key=value` pairs; values are read as JSON when they parse (numbers, lists), else as text."""
    values: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name:
            raise InvalidInput(f"--set {pair!r} must look like key=value")
        try:
            values[name] = json.loads(raw)
        except json.JSONDecodeError:
            values[name] = raw
        except (RecursionError, ValueError) as exc:  # too deep, or an integer past 4300 digits
            raise InvalidInput(f"--set {name}: the value is not usable JSON ({type(exc).__name__})") from None
    return values


def _local_names(text: str, mounts: Mapping[str, Mount]) -> str:
    for at in sorted(mounts, key=len, reverse=True):
        text = text.replace(at, f"{mounts[at].path}/" if at.endswith("/") else str(mounts[at].path))
    return text
