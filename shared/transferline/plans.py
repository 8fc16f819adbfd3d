"""A job's plan, jobs/<job>/job.json, and the markers people leave on a job: cancelled, resumed.

The plan is saved whenever a job is created (`transferline publish`, the gateway), so a job's state can be derived
from the store alone. A plan that waits for labels publishes only the stages up to `download`; the rest is held
here until an upload of the labelling export continues it at `convert`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from transferline import keys, status
from transferline.errors import FieldErrors
from transferline.events import Event
from transferline.payloads import PlanStep, StageRequest
from transferline.store import Store

LABELS_AFTER = "download"  # where a plan that waits for labels stops (people label the downloaded images)
RESUME_AT = "convert"  # what labels continue when the plan stops last at its pause


class JobStep(BaseModel):
    """One stage of a job: as given (a name or module:Class), its stage name, and its request's options."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    stage: str
    name: str
    options: dict[str, Any] = Field(default_factory=dict)

    def plan_step(self) -> dict[str, Any]:
        return PlanStep(stage=self.stage, options=self.options).model_dump(mode="json")


class JobPlan(BaseModel):
    """What was asked for: the first stage, the steps after it, and the stage after which it stops for labels
    (`download` for `wait_for_labels`), if any."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    VERSION: ClassVar[int] = 1
    version: int = VERSION
    job_id: str
    created_at: datetime
    first: JobStep
    steps: list[JobStep] = Field(default_factory=list)
    pause_after: str | None = None

    @property
    def wait_for_labels(self) -> bool:
        return self.pause_after is not None

    @property
    def stages(self) -> list[str]:
        """Stage names in the order they run (a stage named twice counts once: it has one status document)."""
        return list(dict.fromkeys([self.first.name] + [step.name for step in self.steps]))

    @property
    def held(self) -> list[JobStep]:
        """The steps that wait for labels (the usual plan's convert and what follows), or none."""
        if self.pause_after is None:
            return []
        names = [self.first.name] + [step.name for step in self.steps]
        return self.steps[names.index(self.pause_after) :]

    @property
    def published(self) -> list[JobStep]:
        """The steps published with the first request."""
        return self.steps[: len(self.steps) - len(self.held)]


def plan_of(event: Event, pause_after: str | None, created_at: datetime, resolve: Callable[[str], str]) -> JobPlan:
    """The plan of a validated first request (`resolve` gives a stage ref's name). A plan that waits for labels
    must name the stage it waits after; when nothing follows it, the labels continue at convert."""
    request = event.payload
    assert isinstance(request, StageRequest)
    first = JobStep(stage=event.stage, name=event.stage, options=request.model_dump(mode="json", exclude={"plan"}))
    steps = [JobStep(stage=s.stage, name=resolve(s.stage), options=s.options) for s in request.plan]
    names = [first.name] + [step.name for step in steps]
    if pause_after is not None and pause_after not in names:
        raise FieldErrors("invalid job", [("wait_for_labels", f"the plan has no {pause_after} stage to wait after")])
    if pause_after is not None and names[-1] == pause_after:
        steps.append(JobStep(stage=RESUME_AT, name=RESUME_AT))
    return JobPlan(job_id=event.job_id, created_at=created_at, first=first, steps=steps, pause_after=pause_after)


def save(store: Store, plan: JobPlan) -> JobPlan:
    """Store the plan and index the job. Publishing again for a job starts it over: it keeps its place in the
    list (its first creation time) and loses its cancel and resume markers."""
    previous = load(store, plan.job_id)
    if previous is not None:
        plan = plan.model_copy(update={"created_at": previous.created_at})
    store.put_bytes(keys.job_plan(plan.job_id), plan.model_dump_json(indent=2).encode(), "application/json")
    store.delete(keys.job_cancelled(plan.job_id))
    store.delete(keys.job_resumed(plan.job_id))
    created_ms = int(plan.created_at.timestamp() * 1000)
    store.create_if_absent(keys.jobs_index_entry(created_ms, plan.job_id), b"")
    return plan


def load(store: Store, job_id: str) -> JobPlan | None:
    try:
        return JobPlan.model_validate_json(store.get_bytes(keys.job_plan(job_id)))
    except KeyError:
        return None
    except ValidationError:
        return None  # a plan this version cannot read: the job shows its stages without one


def cancel(store: Store, job_id: str) -> bool:
    """Leave the cancel marker; False when it was there already."""
    marker = json.dumps({"cancelled_at": status.now().isoformat()}).encode()
    return store.create_if_absent(keys.job_cancelled(job_id), marker, "application/json")


def is_cancelled(store: Store, job_id: str) -> bool:
    return store.exists(keys.job_cancelled(job_id))


def claim_resume(store: Store, job_id: str) -> bool:
    """True for exactly one caller, however many uploads race to continue the job (workers, replicas)."""
    return store.create_if_absent(keys.job_resumed(job_id), status.now().isoformat().encode(), "text/plain")


def is_resumed(store: Store, job_id: str) -> bool:
    return store.exists(keys.job_resumed(job_id))
