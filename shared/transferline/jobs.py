"""Starting a stage for a job and waiting for its outcome; used by the CLI and the gateway alike."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import ValidationError

from transferline import events, status
from transferline.bus import Bus
from transferline.errors import InvalidInput
from transferline.events import Event
from transferline.payloads import StageRequest
from transferline.stages import request_model
from transferline.store import Store

SOURCE = "transferline/cli"
RequestT = TypeVar("RequestT", bound=StageRequest)


def new_job_id() -> str:
    return datetime.now(UTC).strftime("job-%Y%m%d-%H%M%S-") + secrets.token_hex(3)


def build_request(stage_ref: str, job_id: str, payload: dict[str, Any], source: str = SOURCE) -> Event:
    """A validated request event; every step of its plan is validated too, so a typo fails now, not hours later."""
    stage, _ = request_model(stage_ref)
    event = events.make_event(stage, "requested", job_id, payload, source)
    assert isinstance(event.payload, StageRequest)
    for index, step in enumerate(event.payload.plan):
        try:
            request_model(step.stage)[1].model_validate({**step.options, "plan": []})
        except (InvalidInput, ValueError) as exc:
            raise InvalidInput(f"plan step {index} ({step.stage}): {exc}") from None
    return event


def submit(bus: Bus, event: Event) -> None:
    bus.ensure_topics([event.topic, events.EVENTS_TOPIC, events.DLQ_TOPIC])
    bus.publish(event.topic, event.job_id, event.to_json())


@dataclass(frozen=True)
class Outcome:
    stage: str
    state: str
    error: str | None


def wait_for(store: Store, job_id: str, stages: list[str], since: datetime, timeout: float) -> Outcome | None:
    """Wait until a stage of the plan fails or the last one succeeds (status documents newer than `since`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for stage in stages:
            found = status.read_status(store, job_id, stage)
            if found is None or found.finished_at is None or found.finished_at < since:
                continue
            if found.state == "failed" or (stage == stages[-1] and found.state == "succeeded"):
                return Outcome(stage, found.state, found.error)
        time.sleep(0.2)
    return None


def validated(model: type[RequestT], fields: dict[str, Any]) -> RequestT:
    """A request model from command-line fields; the first problem becomes InvalidInput naming its field."""
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
