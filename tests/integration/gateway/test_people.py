"""People's part of a job over both backends: cancel (a running stage stops, nothing chains after it) and labels
(an uploaded export continues the saved plan, consumed by a real convert stage)."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

from tests.integration.gateway.conftest import AUTH, Gateway
from tests.support.exports import labelbox_ndjson
from tests.support.harness import Pipeline, renamed, store_images, unique
from tests.support.labels import make_dataset
from tests.support.stages import CopyRequested, CopyStage, stage_named
from transferline import events, jobs, keys, plans
from transferline.stage import StageContext, StageResult
from transferline_converter.stage import ConvertStage


class CancelsItsJob(CopyStage):
    """A stage whose job is cancelled while it works, between its progress points."""

    name = unique("cancels")

    def handle(self, request: CopyRequested, ctx: StageContext) -> StageResult:
        plans.cancel(ctx.store, ctx.job_id)
        return super().handle(request, ctx)


events.REGISTRY.register_stage(CancelsItsJob.name, CopyRequested)


def copy_options(tmp_path: Path, **extra: object) -> dict:
    return {"text": "copied", "ledger": str(tmp_path / "ledger"), **extra}


def wait_until(predicate, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


def requests_for(pipeline: Pipeline, stage: str, job: str) -> list[dict]:
    """The requests for `stage` the job's key carried, read up to a marker published now: one key keeps one order,
    so whatever was published before the marker is read before it."""
    marker = pipeline.request(stage, job, text="marker", ledger="-").envelope.id
    seen = pipeline.read(events.request_topic(stage), lambda got: any(m["id"] == marker for m in got))
    return [m for m in seen if m["subject"] == job and m["id"] != marker]


def test_cancel_stops_a_running_stage_and_nothing_chains(gw: Gateway, tmp_path: Path) -> None:
    first, second = stage_named(unique("hold"))(), stage_named(unique("next"))()
    hold = tmp_path / "hold"
    hold.touch()
    body = {
        "stage": first.name,
        "options": copy_options(tmp_path, hold_while=str(hold)),
        "plan": [{"stage": second.name, "options": copy_options(tmp_path)}],
    }
    job = gw.client.post("/v1/jobs", json=body, headers=AUTH).json["job_id"]
    runner = gw.pipeline.run_in_thread(first, max_events=1)
    wait_until(Path(f"{hold}.started").exists, "the stage to start holding")
    wait_until(lambda: gw.client.get(f"/v1/jobs/{job}").json["stages"][0]["progress"] is not None, "progress")

    cancelled = gw.client.post(f"/v1/jobs/{job}/cancel", headers=AUTH)
    runner.join(60)

    assert cancelled.status_code == 202 and not runner.is_alive()
    assert hold.exists() and not (tmp_path / "ledger").exists()  # it stopped, unfinished, while still told to hold
    view = gw.client.get(f"/v1/jobs/{job}").json
    assert view["state"] == "cancelled"
    assert [(s["stage"], s["state"]) for s in view["stages"]] == [(first.name, "cancelled"), (second.name, "pending")]
    assert view["stages"][0]["attempts"] == 1 and "cancelled" in view["stages"][0]["error"]
    assert view["stages"][0]["progress"]["message"] == "holding"
    [outcome] = gw.pipeline.outcomes(job, 1)
    assert outcome["type"].endswith(".failed") and outcome["data"]["reason"] == "cancelled"
    assert requests_for(gw.pipeline, second.name, job) == []
    again = gw.client.post(f"/v1/jobs/{job}/cancel", headers=AUTH)
    assert again.status_code == 202 and gw.client.post("/v1/jobs/nope/cancel", headers=AUTH).status_code == 404


def test_a_request_of_a_cancelled_job_ends_before_any_work(gw: Gateway, tmp_path: Path) -> None:
    stage = stage_named(unique("late"))()
    job = gw.client.post("/v1/jobs", json={"stage": stage.name, "options": copy_options(tmp_path)}, headers=AUTH)
    gw.client.post(f"/v1/jobs/{job.json['job_id']}/cancel", headers=AUTH)
    gw.pipeline.run_in_thread(stage, max_events=1).join(60)
    [found] = gw.client.get(f"/v1/jobs/{job.json['job_id']}").json["stages"]
    assert (found["state"], found["attempts"]) == ("cancelled", 0)
    assert not (tmp_path / "ledger").exists()


def test_a_job_cancelled_while_its_stage_works_chains_nothing(gw: Gateway, tmp_path: Path) -> None:
    stage, after = CancelsItsJob(), stage_named(unique("after"))()
    plan = [{"stage": after.name, "options": copy_options(tmp_path)}]
    body = {"stage": stage.name, "options": copy_options(tmp_path), "plan": plan}
    job = gw.client.post("/v1/jobs", json=body, headers=AUTH).json["job_id"]
    gw.pipeline.run_in_thread(stage, max_events=1).join(60)

    [outcome] = gw.pipeline.outcomes(job, 1)
    assert outcome["type"].endswith(".completed")  # its own work was done and stands
    assert requests_for(gw.pipeline, after.name, job) == []
    assert gw.client.get(f"/v1/jobs/{job}").json["state"] == "cancelled"


def test_uploaded_labels_continue_the_plan_at_convert(gw: Gateway, tmp_path: Path) -> None:
    download, convert = stage_named(unique("dl"))(), renamed(ConvertStage)  # the test stores the "downloaded" images
    job, dataset = unique("job-"), make_dataset(seed=5, images=4)
    store_images(gw.pipeline.store, job, {image.file_name: image.jpeg() for image in dataset.images})
    split = {"train": 0.5, "val": 0.25, "test": 0.25}
    payload = {**copy_options(tmp_path), "plan": [{"stage": convert.name, "options": {"split": split}}]}
    jobs.create_job(gw.pipeline.bus, gw.pipeline.store, download.name, job, payload, pause_after=download.name)
    gw.pipeline.run_in_thread(download, max_events=1).join(60)
    assert gw.client.get(f"/v1/jobs/{job}").json["state"] == "waiting-for-labels"

    [(name, export)] = labelbox_ndjson.write(dataset).items()
    form = {"file": (io.BytesIO(export), name)}
    answer = gw.client.post(f"/v1/jobs/{job}/labels", data=form, headers=AUTH, content_type="multipart/form-data")
    assert answer.status_code == 202, answer.json
    assert answer.json["continued_at"] == convert.name and answer.json["key"] == keys.raw_labels(job, name)
    gw.pipeline.run_in_thread(convert, max_events=1).join(120)

    view = gw.client.get(f"/v1/jobs/{job}").json
    assert view["state"] == "succeeded", view
    assert [(s["stage"], s["state"]) for s in view["stages"]] == [
        (download.name, "succeeded"),
        (convert.name, "succeeded"),
    ]
    assert view["stages"][1]["counters"]["objects"] == sum(len(image.objects) for image in dataset.images)
    coco = json.loads(gw.pipeline.store.get_bytes(keys.coco(job)))
    assert len(coco["images"]) == len(dataset.images)
    second = {"file": (io.BytesIO(export), name)}
    late = gw.client.post(f"/v1/jobs/{job}/labels", data=second, headers=AUTH, content_type="multipart/form-data")
    assert late.status_code == 409
