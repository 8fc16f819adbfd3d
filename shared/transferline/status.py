"""The stage status document, jobs/<job>/stages/<stage>.json: written last, it is the commit marker."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

from transferline import keys
from transferline.store import Store
from transferline.text import safe_data

State = Literal["running", "succeeded", "failed", "cancelled"]


class StageStatus(BaseModel):
    stage: str
    job_id: str
    state: State
    request_id: str
    input_digest: str
    attempts: int = 0
    outputs: dict[str, str] = Field(default_factory=dict)
    counters: dict[str, float] = Field(default_factory=dict)
    error: str | None = None
    started_at: datetime
    finished_at: datetime | None = None
    seconds: float | None = None

    @model_validator(mode="before")
    @classmethod
    def _writable(cls, values: Any) -> Any:
        """An error message may quote an upload's lone surrogates; the document must still serialise."""
        return safe_data(values)

    def done_for(self, digest: str) -> bool:
        """True when this exact input was already handled successfully (so a redelivery is skipped)."""
        return self.state == "succeeded" and self.input_digest == digest


def read_status(store: Store, job_id: str, stage: str) -> StageStatus | None:
    try:
        raw = store.get_bytes(keys.stage_status(job_id, stage))
    except KeyError:
        return None
    try:
        return StageStatus.model_validate_json(raw)
    except ValidationError:
        return None  # an unreadable marker is treated as absent: the work is redone, never skipped


def write_status(store: Store, status: StageStatus) -> None:
    store.put_bytes(
        keys.stage_status(status.job_id, status.stage), status.model_dump_json(indent=2).encode(), "application/json"
    )


def job_statuses(store: Store, job_id: str) -> list[StageStatus]:
    found = []
    for info in store.list(keys.stage_statuses(job_id)):
        if info.key.endswith(".json"):
            stage = info.key.rsplit("/", 1)[-1].removesuffix(".json")
            status = read_status(store, job_id, stage)
            if status is not None:
                found.append(status)
    return sorted(found, key=lambda s: s.started_at)


class StageProgressRecord(BaseModel):
    """The last progress a stage reported, jobs/<job>/progress/<stage>.json, so watchers read it from the store."""

    stage: str
    request_id: str
    done: int
    total: int | None = None
    message: str = ""
    metrics: dict[str, float] = Field(default_factory=dict)
    at: datetime

    @model_validator(mode="before")
    @classmethod
    def _writable(cls, values: Any) -> Any:
        return safe_data(values)


def write_progress(store: Store, job_id: str, record: StageProgressRecord) -> None:
    store.put_bytes(keys.stage_progress(job_id, record.stage), record.model_dump_json().encode(), "application/json")


def read_progress(store: Store, job_id: str, stage: str) -> StageProgressRecord | None:
    try:
        return StageProgressRecord.model_validate_json(store.get_bytes(keys.stage_progress(job_id, stage)))
    except (KeyError, ValidationError):
        return None


def now() -> datetime:
    return datetime.now(UTC)
