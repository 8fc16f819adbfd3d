"""A job as people see it, derived from the store only (plan, status documents, progress, markers), so every
gateway worker and replica and `transferline status` tell the same story.

A job's state, first rule that holds:
- `cancelled`: the cancel marker exists;
- `failed`: a stage of the job failed (its latest status document);
- `succeeded`: the plan's last stage succeeded;
- `waiting-for-labels`: the plan waits for labels after a stage (download) that succeeded, and no upload has
  continued it;
- `running`: otherwise (including requested but not started yet).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from transferline import keys, plans, status
from transferline.plans import JobPlan
from transferline.status import StageProgressRecord, StageStatus
from transferline.store import Store

JobState = Literal["running", "waiting-for-labels", "succeeded", "failed", "cancelled"]
StageState = Literal["pending", "running", "succeeded", "failed", "cancelled"]
ENDED: tuple[JobState, ...] = ("succeeded", "failed", "cancelled")


class StageView(BaseModel):
    stage: str
    state: StageState = "pending"
    attempts: int = 0
    counters: dict[str, float] = Field(default_factory=dict)
    outputs: dict[str, str] = Field(default_factory=dict)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    seconds: float | None = None
    progress: StageProgressRecord | None = None
    error: str | None = None


class JobView(BaseModel):
    job_id: str
    state: JobState
    created_at: datetime | None = Field(None, description="absent for a job started without a saved plan")
    wait_for_labels: bool = False
    stages: list[StageView]
    plan: JobPlan | None = None


class JobPage(BaseModel):
    jobs: list[JobView]
    next_cursor: str | None = Field(None, description="pass as `cursor` for the next (older) page")


def job_view(store: Store, job_id: str) -> JobView | None:
    """The job's view, or None when the store knows nothing of it (no plan, no stage started)."""
    plan = plans.load(store, job_id)
    statuses = {s.stage: s for s in status.job_statuses(store, job_id)}
    if plan is None and not statuses:
        return None
    names = list(dict.fromkeys((plan.stages if plan else []) + list(statuses)))
    views = [_stage_view(store, job_id, name, statuses.get(name)) for name in names]
    state = job_state(plan, statuses, plans.is_cancelled(store, job_id), plans.is_resumed(store, job_id))
    created = plan.created_at if plan else None
    waits = plan.wait_for_labels if plan else False
    return JobView(job_id=job_id, state=state, created_at=created, wait_for_labels=waits, stages=views, plan=plan)


def waiting_for_labels(store: Store, job_id: str) -> bool:
    view = job_view(store, job_id)
    return view is not None and view.state == "waiting-for-labels"


def job_state(plan: JobPlan | None, statuses: dict[str, StageStatus], cancelled: bool, resumed: bool) -> JobState:
    """The rules in this module's docstring, over what the store holds."""
    if cancelled:
        return "cancelled"
    if any(found.state in ("failed", "cancelled") for found in statuses.values()):
        return "failed"
    names = plan.stages if plan else list(statuses)
    last = statuses.get(names[-1]) if names else None
    if last is not None and last.state == "succeeded":
        return "succeeded"
    paused = statuses.get(plan.pause_after) if plan and plan.pause_after else None
    if paused is not None and paused.state == "succeeded" and not resumed:
        return "waiting-for-labels"
    return "running"


def list_jobs(store: Store, limit: int, cursor: str | None = None) -> JobPage:
    """Jobs newest first, `limit` at a time; the cursor is the index entry of the last job of the previous page."""
    entries = [info.key for info in store.list(keys.jobs_index())]
    after = keys.jobs_index() + cursor if cursor else ""
    page = [key for key in entries if key > after][: limit + 1]
    found = [view for view in (job_view(store, keys.job_of_index_entry(key)) for key in page[:limit]) if view]
    more = len(page) > limit
    return JobPage(jobs=found, next_cursor=page[limit - 1].removeprefix(keys.jobs_index()) if more else None)


def _stage_view(store: Store, job_id: str, name: str, found: StageStatus | None) -> StageView:
    progress = status.read_progress(store, job_id, name)
    if found is None:
        return StageView(stage=name, progress=progress)
    fields: dict[str, Any] = found.model_dump(include=set(StageView.model_fields) - {"progress"})
    return StageView(**fields, progress=progress)
