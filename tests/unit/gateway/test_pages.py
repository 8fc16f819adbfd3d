"""The web UI's pages over the embedded backend (Flask's test client): the jobs list, a job's page and panel,
the URL-list upload's token and refusals, and the helpers the templates draw with."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from flask.testing import FlaskClient

from tests.support import hostile
from tests.support.harness import store_images
from transferline import jobview, keys
from transferline.plans import JobPlan, JobStep
from transferline.status import StageProgressRecord
from transferline_gateway import pages
from transferline_gateway.app import create_app, gateway
from transferline_gateway.pages import percent, runs, stage_meta
from transferline_gateway.pages_charts import HEIGHT, PAD, WIDTH, polyline, pr_chart
from transferline_gateway.settings import GatewaySettings

TOKEN = "unit-test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def client(tmp_path) -> FlaskClient:
    settings = GatewaySettings(bus="embedded", store="filesystem", data_dir=tmp_path / "data", api_token=TOKEN)
    return create_app(settings).test_client()


def create(client: FlaskClient, job: str, **extra: object) -> None:
    body = {"job_id": job, "stage": "collect", "options": {"queries": ["bottle"]}, **extra}
    assert client.post("/v1/jobs", json=body, headers=AUTH).status_code == 201


def test_the_jobs_page_lists_jobs_newest_first_and_offers_the_form(client):
    create(client, "a-older")
    create(client, "z-newer")  # named so that an order by name would fail
    html = client.get("/").get_data(as_text=True)
    assert html.index('data-job="z-newer"') < html.index('data-job="a-older"')
    assert 'id="new-job"' in html and 'data-field="plan.3.options.steps"' in html
    assert 'value="openverse" checked' in html and 'value="brave" checked' not in html  # the request's defaults


def test_a_job_page_and_its_panel_show_the_job_and_an_unknown_job_is_404(client):
    create(client, "one", plan=[{"stage": "download"}], wait_for_labels=True)
    page = client.get("/jobs/one")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'data-stage="collect"' in html and 'data-stage="convert"' in html  # the plan's held stages too
    assert client.get("/jobs/one/panel").status_code == 200
    missing = client.get("/jobs/nobody")
    assert missing.status_code == 404 and "no job &#39;nobody&#39;" in missing.get_data(
        as_text=True
    )  # a page, not JSON
    assert missing.mimetype == "text/html"
    assert client.get("/jobs/bad..id").status_code == 404


def test_a_url_list_needs_the_token_and_a_job_not_created_yet(client):
    def upload(job: str, headers: dict[str, str]):
        data = {"file": (io.BytesIO(b"http://127.0.0.1:9/a.jpg\n"), "my list.txt")}
        return client.post(f"/jobs/{job}/url-lists", data=data, headers=headers)

    assert upload("fresh", {}).status_code == 401
    assert upload("fresh", {"Authorization": "Bearer wrong"}).status_code == 401
    stored = upload("fresh", AUTH)
    assert stored.status_code == 201 and stored.json["name"] == "my_list.txt"
    store = gateway(client.application).clients.store
    assert store.get_bytes(keys.url_list("fresh", "my list.txt")) == b"http://127.0.0.1:9/a.jpg\n"
    create(client, "taken")
    assert upload("taken", AUTH).status_code == 409
    assert upload("bad..id", AUTH).status_code == 422
    assert client.post("/jobs/fresh/url-lists", headers=AUTH).json["problems"][0]["field"] == "file"


def test_runs_are_named_by_the_plan_or_by_the_request_model_default():
    steps = [JobStep(stage="train", name="train", options={"run": "mine"}), JobStep(stage="train", name="train")]
    first = JobStep(stage="collect", name="collect")
    plan = JobPlan(job_id="j", created_at=datetime.now(UTC), first=first, steps=steps)
    assert runs(jobview.JobView(job_id="j", state="running", stages=[], plan=plan)) == ["mine", "run1"]


def test_a_bar_is_full_when_the_stage_succeeded_and_done_of_total_while_it_runs():
    at = datetime.now(UTC)
    running = jobview.StageView(
        stage="download", state="running", attempts=1,
        progress=StageProgressRecord(stage="download", request_id="r", done=3, total=12, at=at),
    )  # fmt: skip
    assert percent(running) == 25.0 and stage_meta(running) == "attempt 1 · 3 of 12"
    assert percent(jobview.StageView(stage="x", state="succeeded", seconds=2.25)) == 100.0
    assert stage_meta(jobview.StageView(stage="x", state="succeeded", attempts=1, seconds=2.25)) == "attempt 1 · 2.2 s"
    assert percent(jobview.StageView(stage="x")) == 0.0


def test_a_polyline_maps_zero_one_into_the_frame_with_y_up():
    assert polyline([(0, 0), (1, 1)]) == f"{PAD:.1f},{HEIGHT - PAD:.1f} {WIDTH - PAD:.1f},{PAD:.1f}"
    assert polyline([(0.5, -1)]) == ""  # pycocotools' -1: no precision at that recall


def test_pr_curves_come_from_metrics_json_one_line_per_class():
    metrics = {"pr_iou50": {"recall": [0.0, 0.5, 1.0], "precision": {"can": [1, 1, 0], "bottle": [1, 0.5, 0.2]}}}
    chart = pr_chart(metrics)
    assert chart is not None and [series.name for series, _ in chart.lines] == ["bottle", "can"]
    assert pr_chart({"evaluated": False, "why": "no validation split"}) is None


def test_pages_refuse_when_reads_are_protected(tmp_path):
    settings = GatewaySettings(data_dir=tmp_path / "data", api_token=TOKEN, protect_reads=True)
    client = create_app(settings).test_client()
    refused = client.get("/")
    assert refused.status_code == 401 and "TRANSFERLINE_PROTECT_READS" in refused.get_data(as_text=True)
    assert client.get("/jobs/any").status_code == 401
    assert client.get("/ui/ui.css").status_code == 200


def test_the_gallery_reads_whole_rows_from_the_head_of_a_large_manifest(client, monkeypatch):
    store = gateway(client.application).clients.store
    pictures = {f"{index}.png": hostile.picture("png", colour=(index, 0, 0)) for index in range(30)}
    stored = store_images(store, "big", pictures)
    monkeypatch.setattr(pages, "MANIFEST_HEAD", 700)  # a few rows and a piece of the next
    with client.application.test_request_context():
        shown = pages.gallery(store, "big")
    assert 1 <= len(shown) < 30 and all(link.href.endswith(link.name) for link in shown)
    assert [link.name for link in shown] == [key.removeprefix(keys.job_prefix("big")) for key in stored.values()][
        : len(shown)
    ]
