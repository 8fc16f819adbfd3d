"""Starting a stage for a job and waiting for its outcome; used by the CLI and the gateway alike."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, BinaryIO

from pydantic import ValidationError

from transferline import events, jobview, keys, plans, status
from transferline.bus import Bus
from transferline.errors import ConfigurationError, Conflict, FieldErrors, InvalidInput
from transferline.events import Event, Registry
from transferline.payloads import StageRequest
from transferline.stages import request_model
from transferline.store import ObjectInfo, Store

SOURCE = "transferline/cli"


def new_job_id() -> str:
    return datetime.now(UTC).strftime("job-%Y%m%d-%H%M%S-") + secrets.token_hex(3)


def known_stage(ref: str, registry: Registry = events.REGISTRY) -> tuple[str, type[StageRequest]]:
    """(name, request model) of a stage registered in this process by name (a runner's, a test's), else of an
    installed one or an import path (its service may live in another process)."""
    try:
        return ref, registry.request_model(ref)
    except InvalidInput:
        return request_model(ref, registry)


def build_request(stage_ref: str, job_id: str, payload: dict[str, Any], source: str = SOURCE) -> Event:
    """A validated request event; every step of its plan is validated too, so a typo fails now, not hours later."""
    stage, _ = known_stage(stage_ref)
    event = events.make_event(stage, "requested", job_id, payload, source)
    assert isinstance(event.payload, StageRequest)
    for index, step in enumerate(event.payload.plan):
        where = f"data.plan.{index}"
        try:
            known_stage(step.stage)[1].model_validate({**step.options, "plan": []})
        except ConfigurationError as exc:
            raise FieldErrors(f"plan step {index} ({step.stage})", [(f"{where}.stage", str(exc))]) from None
        except ValidationError as exc:
            found = events.problems(exc, f"{where}.options.")
            raise FieldErrors(f"plan step {index} ({step.stage})", found) from None
        except InvalidInput as exc:  # raised by a validator of the stage's own
            raise FieldErrors(f"plan step {index} ({step.stage})", [(f"{where}.options", str(exc))]) from None
    return event


def submit(bus: Bus, event: Event) -> None:
    bus.ensure_topics([event.topic, events.EVENTS_TOPIC, events.DLQ_TOPIC])
    bus.publish(event.topic, event.job_id, event.to_json())


def create_job(
    bus: Bus,
    store: Store,
    stage_ref: str,
    job_id: str,
    payload: dict[str, Any],
    pause_after: str | None = None,
    source: str = SOURCE,
) -> Event:
    """Validate the request and its whole plan, save the job's plan, publish the first request. A plan that waits
    for labels (`pause_after`, usually plans.LABELS_AFTER) is published only up to that stage; the rest stays in the
    saved plan until `resume`."""
    event = build_request(stage_ref, job_id, payload, source)
    plan = plans.plan_of(event, pause_after, status.now(), lambda ref: known_stage(ref)[0])
    if plan.held:
        event = build_request(stage_ref, job_id, {**payload, "plan": [s.plan_step() for s in plan.published]}, source)
    store.ensure_bucket()
    plans.save(store, plan)
    submit(bus, event)
    return event


def store_labels(store: Store, job_id: str, name: str, stream: BinaryIO) -> ObjectInfo:
    """A labelling export where the converter looks for it (labels/raw/<name>)."""
    return store.put_stream(keys.raw_labels(job_id, name), stream)


def resume(bus: Bus, store: Store, job_id: str, source: str = SOURCE) -> Event:
    """Continue a job that waits for labels at convert, with the rest of its saved plan; exactly once."""
    view = jobview.job_view(store, job_id)
    if view is None or view.plan is None or view.state != "waiting-for-labels":
        raise Conflict(f"job {job_id} is not waiting for labels ({view.state if view else 'no such job'})")
    if not plans.claim_resume(store, job_id):
        raise Conflict(f"job {job_id} has been continued already")
    step, *rest = view.plan.held
    event = build_request(step.stage, job_id, {**step.options, "plan": [s.plan_step() for s in rest]}, source)
    submit(bus, event)
    return event


@dataclass(frozen=True)
class Outcome:
    stage: str
    state: str
    error: str | None


def wait_for(store: Store, job_id: str, stages: list[str], since: datetime, timeout: float) -> Outcome | None:
    """Wait until a stage of the plan fails (or is cancelled) or the last one succeeds (status documents newer than
    `since`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for stage in stages:
            found = status.read_status(store, job_id, stage)
            if found is None or found.finished_at is None or found.finished_at < since:
                continue
            if found.state in ("failed", "cancelled") or (stage == stages[-1] and found.state == "succeeded"):
                return Outcome(stage, found.state, found.error)
        time.sleep(0.2)
    return None
