"""The platform's own commands (publish, init, status, upload, serve, schemas, settings), run by `transferline.cli`,
which imports this module only when one of them runs: the job, event and bus machinery they use stays out of a
service's one-shot command (`transferline convert`)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from transferline import events, jobs, jobview, keys, manifest, plans, stages, status
from transferline.bus import open_bus
from transferline.cli import EXIT_FAILED, EXIT_TIMEOUT
from transferline.errors import InvalidInput
from transferline.oneshot import parse_assignments
from transferline.payloads import StageRequest
from transferline.settings import ServiceSettings, Settings
from transferline.store import Store, open_store


def publish(args: argparse.Namespace) -> int:
    payload = _read_payload(args.payload)
    payload.update(parse_assignments(args.set))
    plan = payload.get("plan", [])
    if not isinstance(plan, list):
        raise InvalidInput(f"data.plan: Input should be a valid list, not {type(plan).__name__}")
    payload["plan"] = plan + [{"stage": stage} for stage in args.then]
    job_id = args.job or jobs.new_job_id()
    jobs.build_request(args.stage, job_id, payload)  # a bad request is refused before any client is opened
    settings = Settings.from_env()
    since = status.now()
    store = open_store(settings)
    bus = open_bus(settings)
    try:
        pause = plans.LABELS_AFTER if args.wait_for_labels else None
        event = jobs.create_job(bus, store, args.stage, job_id, payload, pause)
    finally:
        bus.close()
    print(json.dumps({"job": job_id, "event": event.envelope.id, "topic": event.topic}))
    if not args.wait:
        return 0
    request = event.payload
    assert isinstance(request, StageRequest)
    names = [event.stage] + [stages.request_model(step.stage)[0] for step in request.plan]
    outcome = jobs.wait_for(store, job_id, names, since, args.timeout)
    if outcome is None:
        print(f"error: no outcome within {args.timeout:g} s; see `transferline status {job_id}`", file=sys.stderr)
        return EXIT_TIMEOUT
    print(f"{outcome.stage}: {outcome.state}" + (f": {outcome.error}" if outcome.error else ""))
    return 0 if outcome.state == "succeeded" else EXIT_FAILED


def init(_args: argparse.Namespace) -> int:
    """Create the bucket and every installed stage's topics (with the partitions the settings give); a deployment
    runs it once before the services (compose's init service, the Kubernetes Job). Idempotent."""
    settings = Settings.from_env()
    topics = [events.request_topic(name) for name in sorted(stages.installed())] + [
        events.EVENTS_TOPIC,
        events.DLQ_TOPIC,
    ]
    store = open_store(settings)
    store.ensure_bucket()
    bus = open_bus(settings)
    try:
        bus.ensure_topics(topics)
    finally:
        bus.close()
    print(json.dumps({"bucket": settings.bucket, "topics": topics, "partitions": settings.topic_partitions}))
    return 0


def show_status(args: argparse.Namespace) -> int:
    """The job's view (transferline.jobview), as the gateway shows it: its state, then one line per stage."""
    view = jobview.job_view(open_store(Settings.from_env()), args.job)
    started = [stage for stage in view.stages if stage.state != "pending"] if view else []
    if args.json:
        print(view.model_dump_json(indent=2) if view else "null")
        return 0
    print(f"job {args.job}: {view.state if view else 'unknown'}" + ("" if started else ", no stage has started"))
    for found in view.stages if view else []:
        took = f"{found.seconds:.1f}s" if found.seconds is not None else "-"
        shown = _progress_text(found.progress) if found.state == "running" else ""
        line = f"{found.stage:<10} {found.state:<10} {took:>8}  attempts={found.attempts}  {shown}{found.error or ''}"
        print(line.rstrip())
    return 0 if started else EXIT_FAILED


def _progress_text(progress: status.StageProgressRecord | None) -> str:
    if progress is None:
        return ""
    of = f"/{progress.total}" if progress.total is not None else ""
    return f"{progress.done}{of} {progress.message}".strip() + "  "


def upload(args: argparse.Namespace) -> int:
    """Put label exports, local images and URL lists where the stages look for them (labels/raw/, images/ +
    manifest, urls/lists/)."""
    store = open_store(Settings.from_env())
    store.ensure_bucket()
    for path in args.export:
        key = keys.raw_labels(args.job, path.name)
        try:
            for file_key, file in _export_files(path, key).items():
                store.put_bytes(file_key, file.read_bytes())
        except OSError as exc:
            raise InvalidInput(f"cannot read export {path}: {exc.strerror}") from None
        print(f"export {path} -> {key}{'/' if path.is_dir() else ''}")
    if args.export and jobview.waiting_for_labels(store, args.job):
        _resume(store, args.job)
    for path in args.urls:
        key = keys.url_list(args.job, path.name)
        try:
            store.put_bytes(key, path.read_bytes())
        except OSError as exc:
            raise InvalidInput(f"cannot read URL list {path}: {exc.strerror}") from None
        print(f"URL list {path} -> {key}")
    if args.images is not None:
        if not args.images.is_dir():
            raise InvalidInput(f"--images {args.images} is not a folder")
        paths = sorted(p for p in args.images.rglob("*") if p.is_file())
        added = manifest.add_images(store, args.job, ((_text(p.name), p.read_bytes()) for p in paths))
        print(f"{len(added)} new images -> {keys.images(args.job)} (manifest {keys.image_manifest(args.job)})")
    return 0


def _resume(store: Store, job_id: str) -> None:
    bus = open_bus(Settings.from_env())
    try:
        event = jobs.resume(bus, store, job_id)
    finally:
        bus.close()
    print(f"job {job_id} continues at {event.stage} ({event.topic})")


def serve_stage(args: argparse.Namespace) -> int:
    from transferline.service import serve  # imports the stage's heavy dependencies only when serving

    serve(args.stage, Settings.from_env(), max_events=args.max_events)
    return 0


def show_settings(args: argparse.Namespace) -> int:
    """Every setting of the platform, each installed stage and each other installed service (the gateway): variable,
    value, where the value came from, and the default."""
    models: list[type[ServiceSettings]] = [Settings]
    models += [s.settings_model for s in stages.load_all() if s.settings_model is not None]
    models += [entry.load() for entry in entry_points(group=stages.SETTINGS_GROUP)]
    described = [row for model in dict.fromkeys(models) for row in model.from_env().described()]
    rows = list({row[0]: row for row in described}.values())  # a service's model may extend the platform's
    if args.json:
        fields = ("variable", "value", "source", "default")
        print(json.dumps([dict(zip(fields, row, strict=True)) for row in rows], indent=2))
        return 0
    width = max(len(row[0]) for row in rows)
    for variable, shown, source, default in rows:
        print(f"{variable:<{width}}  {source:<11}  {shown}" + (f"  (default: {default})" if shown != default else ""))
    return 0


def write_schemas(args: argparse.Namespace) -> int:
    stages.load_all()
    schemas = events.json_schemas()
    if args.out is None:
        print(json.dumps(schemas, indent=2))
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name, schema in schemas.items():
        (args.out / f"{name}.schema.json").write_text(json.dumps(schema, indent=2) + "\n")
    print(f"wrote {len(schemas)} schemas to {args.out}")
    return 0


def _text(file_name: str) -> str:
    """A local file name as text: bytes that are not UTF-8 (kept by Python as surrogates) become U+FFFD."""
    return os.fsencode(file_name).decode("utf-8", "replace")


def _export_files(path: Path, key: str) -> dict[str, Path]:
    """Store key -> file: a file export at its key, a folder export (VOC, YOLO) keeping its layout under it."""
    if not path.is_dir():
        return {key: path}
    return {f"{key}/{file.relative_to(path).as_posix()}": file for file in sorted(path.rglob("*")) if file.is_file()}


def _read_payload(source: str | None) -> dict[str, Any]:
    if source is None:
        return {}
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text()
        payload = json.loads(text)
    except OSError as exc:
        raise InvalidInput(f"cannot read payload {source}: {exc.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"payload {source} is not JSON: {exc}") from None
    except (RecursionError, ValueError) as exc:  # nested past the parser's depth, or an integer past 4300 digits
        raise InvalidInput(f"payload {source} is not usable JSON: {type(exc).__name__}") from None
    if not isinstance(payload, dict):
        raise InvalidInput(f"payload {source} must be a JSON object, not {type(payload).__name__}")
    return payload
