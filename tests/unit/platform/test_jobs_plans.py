"""A job's plan, its pause for labels, its index and the rules that derive its state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from transferline import events, jobview, keys, plans
from transferline.errors import FieldErrors, InvalidInput
from transferline.jobs import build_request
from transferline.status import StageStatus

NOW = datetime(2026, 12, 2, tzinfo=UTC)


def plan_for(stage: str, steps: list[str], pause_after: str | None) -> plans.JobPlan:
    event = build_request(stage, "j1", {"plan": [{"stage": s} for s in steps]})
    return plans.plan_of(event, pause_after, NOW, lambda ref: ref)


def test_a_plan_that_waits_for_labels_holds_everything_after_download():
    plan = plan_for("download", ["convert", "records", "train"], plans.LABELS_AFTER)
    assert [s.name for s in plan.published] == []
    assert [s.name for s in plan.held] == ["convert", "records", "train"]
    assert plan.stages == ["download", "convert", "records", "train"]


def test_a_plan_that_stops_at_download_continues_at_convert():
    plan = plan_for("collect", ["download"], plans.LABELS_AFTER)
    assert [s.name for s in plan.published] == ["download"]
    assert [s.name for s in plan.held] == [plans.RESUME_AT]


def test_waiting_for_labels_needs_a_download_stage_and_names_the_field():
    with pytest.raises(FieldErrors) as caught:
        plan_for("convert", ["records"], plans.LABELS_AFTER)
    assert caught.value.problems[0][0] == "wait_for_labels"


def test_a_plan_without_a_pause_publishes_every_step():
    plan = plan_for("convert", ["records", "train"], None)
    assert [s.name for s in plan.published] == ["records", "train"] and plan.held == []


def test_plan_step_errors_name_the_step_and_field():
    with pytest.raises(FieldErrors) as caught:
        build_request("records", "j1", {"plan": [{"stage": "train", "options": {"steps": -1}}]})
    assert caught.value.problems == [("data.plan.0.options.steps", "Input should be greater than 0")]
    assert str(caught.value).startswith("plan step 0 (train)")


def test_the_index_lists_newer_jobs_first_and_names_them_back():
    older = keys.jobs_index_entry(1_000, "job-b")
    newer = keys.jobs_index_entry(2_000, "job_a_1")
    assert sorted([older, newer]) == [newer, older]
    assert keys.job_of_index_entry(newer) == "job_a_1"


@pytest.mark.parametrize("path", ["", "../x", "a/../b", "a//b", "/abs", "a\\b", "a/\x00"])
def test_an_artifact_path_cannot_leave_its_job(path):
    with pytest.raises(InvalidInput):
        keys.job_file("j1", path)


def test_an_artifact_path_under_the_job_is_kept():
    assert keys.job_file("j1", "labels/coco.json") == "jobs/j1/labels/coco.json"


def done(stage: str, state: str = "succeeded") -> StageStatus:
    return StageStatus(
        stage=stage, job_id="j1", state=state, request_id="r", input_digest="d", started_at=NOW,
        finished_at=NOW + timedelta(seconds=1),
    )  # fmt: skip


def state(plan: plans.JobPlan | None, *statuses: StageStatus, cancelled=False, resumed=False) -> str:
    return jobview.job_state(plan, {s.stage: s for s in statuses}, cancelled, resumed)


def test_job_state_rules_in_order():
    paused = plan_for("download", ["convert", "records"], plans.LABELS_AFTER)
    assert state(paused) == "running"
    assert state(paused, done("download")) == "waiting-for-labels"
    assert state(paused, done("download"), resumed=True) == "running"
    assert state(paused, done("download"), done("convert", "failed"), resumed=True) == "failed"
    assert state(paused, done("download"), done("convert"), done("records"), resumed=True) == "succeeded"
    assert state(paused, done("download"), cancelled=True) == "cancelled"


def test_a_job_without_a_saved_plan_follows_its_stages():
    assert state(None, done("records")) == "succeeded"
    assert state(None, done("records", "running")) == "running"
    assert state(None, done("records", "cancelled")) == "failed"


def test_the_failure_reason_cancelled_is_part_of_the_failed_event():
    event = events.make_event("records", "failed", "j1", {"stage": "records", "request_id": "r", "reason": "cancelled",
                                                  "message": "job j1 was cancelled"}, "tests")  # fmt: skip
    assert event.payload.model_dump()["reason"] == "cancelled"
