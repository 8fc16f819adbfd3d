"""The event contract: CloudEvents 1.0 envelope, topics, payload registry, validation, JSON Schemas."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from transferline import keys
from transferline.errors import FieldErrors, InvalidInput
from transferline.payloads import OUTCOMES, DeadLetter, Payload, StageRequest
from transferline.text import safe, safe_data

EVENTS_TOPIC = "transferline.events"
DLQ_TOPIC = "transferline.dlq"
DLQ_TYPE = "transferline.dlq.dead-letter"
KINDS = ("requested", "completed", "failed", "progress")
# Checked with fullmatch: `$` would also accept a trailing newline. Envelope.type's schema pattern anchors the same
# expression for pydantic's (Rust) engine, where `$` is the end of the text only.
_TYPE = re.compile(r"transferline\.(?P<stage>[a-z][a-z0-9_-]{0,39})\.(?P<kind>[a-z-]+)")
_EXTENSION = re.compile(r"[a-z0-9]{1,20}")
_STANDARD = {"specversion", "id", "source", "type", "subject", "time", "datacontenttype", "dataschema", "data"}


def request_topic(stage: str) -> str:
    return f"transferline.{stage}"


def event_type(stage: str, kind: str) -> str:
    return f"transferline.{stage}.{kind}"


def schema_uri(type_: str, version: int) -> str:
    return f"urn:transferline:schema:{type_}:v{version}"


class Envelope(BaseModel):
    """CloudEvents 1.0, structured JSON mode. Extension attributes are allowed when named as the spec says."""

    model_config = ConfigDict(extra="allow", frozen=True)
    specversion: Literal["1.0"] = "1.0"
    id: str = Field(min_length=1, max_length=200)
    source: str = Field(min_length=1, max_length=500)
    type: str = Field(pattern=f"^{_TYPE.pattern}$")
    subject: str = Field(description="the job id; also the Kafka key, so a job's events stay ordered")
    time: datetime
    datacontenttype: Literal["application/json"] = "application/json"
    dataschema: str
    data: dict[str, Any]

    @field_validator("subject")
    @classmethod
    def _job_id(cls, value: str) -> str:
        try:
            return keys.check_id(value, "job id")
        except InvalidInput as exc:
            raise ValueError(str(exc)) from None  # pydantic then names the field

    @field_validator("time")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("time must carry a timezone (RFC 3339)")
        return value

    @model_validator(mode="after")
    def _extensions(self) -> Envelope:
        for name in self.model_extra or {}:
            if not _EXTENSION.fullmatch(name) or name in _STANDARD:
                raise ValueError(f"extension attribute {name!r} must be 1-20 lowercase letters or digits")
        return self


@dataclass(frozen=True)
class Event:
    envelope: Envelope
    payload: Payload

    @property
    def stage(self) -> str:
        return _split_type(self.envelope.type)[0]

    @property
    def kind(self) -> str:
        return _split_type(self.envelope.type)[1]

    @property
    def job_id(self) -> str:
        return self.envelope.subject

    @property
    def topic(self) -> str:
        if self.kind == "requested":
            return request_topic(self.stage)
        return DLQ_TOPIC if self.envelope.type == DLQ_TYPE else EVENTS_TOPIC

    def to_json(self) -> bytes:
        return self.envelope.model_dump_json().encode()


class Registry:
    """Which payload model each event type carries; a stage registers its request model when it is loaded."""

    def __init__(self) -> None:
        self._models: dict[str, type[Payload]] = {DLQ_TYPE: DeadLetter}

    def register_stage(self, stage: str, request_model: type[StageRequest]) -> None:
        if not _TYPE.fullmatch(event_type(stage, "requested")):
            raise InvalidInput(f"stage name {stage!r} must be lowercase letters, digits, '_' or '-'")
        self._models[event_type(stage, "requested")] = request_model
        for kind, model in OUTCOMES.items():
            self._models[event_type(stage, kind)] = model

    def model_for(self, type_: str) -> type[Payload]:
        try:
            return self._models[type_]
        except KeyError:
            known = ", ".join(sorted(t for t in self._models if t.endswith(".requested")))
            raise InvalidInput(f"unknown event type {type_!r}; known requests: {known}") from None

    def request_model(self, stage: str) -> type[StageRequest]:
        model = self.model_for(event_type(stage, "requested"))
        assert issubclass(model, StageRequest)
        return model

    def types(self) -> list[str]:
        return sorted(self._models)


REGISTRY = Registry()


def make_event(
    stage: str, kind: str, job_id: str, payload: Payload | dict[str, Any], source: str, registry: Registry = REGISTRY
) -> Event:
    """Build and validate an event; this is the only way events are created, so none leaves unchecked."""
    type_ = DLQ_TYPE if stage == "dlq" else event_type(stage, kind)
    model = registry.model_for(type_)
    # Text from uploads or exceptions may hold lone surrogates, which no UTF-8 JSON can carry.
    data = safe_data(payload.model_dump(mode="json") if isinstance(payload, BaseModel) else payload)
    raw = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": safe(source),
        "type": type_,
        "subject": job_id,
        "time": datetime.now(UTC).isoformat(),
        "dataschema": schema_uri(type_, model.VERSION),
        "data": data,
    }
    return parse_event(json.dumps(raw).encode(), registry)


def parse_event(raw: bytes, registry: Registry = REGISTRY) -> Event:
    """Validate an envelope and its payload; errors name the offending field."""
    try:
        envelope = Envelope.model_validate_json(raw)
    except ValidationError as exc:
        raise FieldErrors("invalid event", problems(exc, "")) from None
    model = registry.model_for(envelope.type)
    expected = schema_uri(envelope.type, model.VERSION)
    if envelope.dataschema != expected:
        raise InvalidInput(f"dataschema {envelope.dataschema!r} is not supported; this service reads {expected}")
    try:
        payload = model.model_validate(envelope.data)
    except ValidationError as exc:
        raise FieldErrors("invalid event", problems(exc, "data.")) from None
    return Event(envelope, payload)


def problems(exc: ValidationError, prefix: str) -> list[tuple[str, str]]:
    """(field path, problem) for each problem, e.g. (`data.plan.0.stage`, `Field required`)."""
    found = []
    for error in exc.errors(include_url=False):
        path = prefix + ".".join(str(part) for part in error["loc"]) if error["loc"] else prefix.rstrip(".")
        found.append((path or "event", error["msg"]))
    return found


def json_schemas(registry: Registry = REGISTRY) -> dict[str, dict[str, Any]]:
    """JSON Schema of the envelope and of each payload, for people who publish events by hand."""
    schemas = {"envelope": Envelope.model_json_schema()}
    for type_ in registry.types():
        schema = registry.model_for(type_).model_json_schema()
        schema["$id"] = schema_uri(type_, registry.model_for(type_).VERSION)
        schemas[type_] = schema
    return schemas


def _split_type(type_: str) -> tuple[str, str]:
    match = _TYPE.fullmatch(type_)
    if match is None:
        raise InvalidInput(f"event type {type_!r} is not transferline.<stage>.<kind>")
    return match["stage"], match["kind"]
