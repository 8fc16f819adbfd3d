"""The REST API over both backends: auth, validation errors naming fields, the OpenAPI document, pagination,
artifacts and their links."""

from __future__ import annotations

import io

import pytest
import requests
from openapi_spec_validator import validate

from tests.integration.gateway.conftest import AUTH, Gateway, open_gateway
from tests.support.harness import Pipeline, renamed, unique
from transferline import keys
from transferline.settings import Settings
from transferline_gateway.app import create_app, gateway
from transferline_gateway.settings import GatewaySettings
from transferline_recorder.stage import RecordsStage

# The records stage under a name of this test run's (nobody serves it): its requests wait on the bus, away from
# the built-in topics of the shared Kafka, while the API is exercised.
RECORDS_STAGE = renamed(RecordsStage).name
RECORDS = {"stage": RECORDS_STAGE, "options": {"num_shards": 2}}


def test_mutating_routes_need_the_right_token(gw: Gateway) -> None:
    missing = gw.client.post("/v1/jobs", json=RECORDS)
    wrong = gw.client.post("/v1/jobs", json=RECORDS, headers={"Authorization": "Bearer nope"})
    right = gw.client.post("/v1/jobs", json={**RECORDS, "job_id": unique("job-")}, headers=AUTH)
    assert (missing.status_code, wrong.status_code, right.status_code) == (401, 401, 201)
    assert missing.json["status"] == 401 and "Bearer" in missing.json["error"]
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    assert set(right.json["links"]) == {"self", "artifacts", "labels", "cancel"}
    assert gw.client.get(right.json["links"]["self"]).status_code == 200  # reads are open by default


def test_without_a_token_the_embedded_app_makes_one_and_requires_it(embedded_settings: Settings) -> None:
    app = create_app(GatewaySettings.model_validate(dict(embedded_settings)))
    token = gateway(app).settings.api_token.get_secret_value()
    client = app.test_client()
    assert len(token) >= 32 and client.post("/v1/jobs", json=RECORDS).status_code == 401
    assert client.post("/v1/jobs", json=RECORDS, headers={"Authorization": f"Bearer {token}"}).status_code == 201


def test_a_setting_protects_reads_too(gw: Gateway) -> None:
    client = create_app(open_gateway(gw.pipeline.settings, protect_reads=True)).test_client()
    assert client.get("/v1/jobs").status_code == 401
    assert client.get("/v1/jobs", headers=AUTH).status_code == 200
    assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"stage": RECORDS_STAGE, "options": {"num_shards": "x"}}, "options.num_shards"),
        ({"stage": RECORDS_STAGE, "options": {"shards": 2}}, "options.shards"),
        ({**RECORDS, "plan": [{"stage": "train", "options": {"steps": -1}}]}, "plan.0.options.steps"),
        ({**RECORDS, "plan": [{"stage": "paint"}]}, "plan.0.stage"),
        ({**RECORDS, "job_id": "../x"}, "job_id"),
        ({"stage": "paint"}, "stage"),
        ({"stage": "tests.support.stages:CopyStage"}, "stage"),
        ({**RECORDS, "colour": "red"}, "colour"),
        ({**RECORDS, "wait_for_labels": True}, "wait_for_labels"),
    ],
)
def test_invalid_jobs_are_refused_naming_the_field(gw: Gateway, body: dict, field: str) -> None:
    answer = gw.client.post("/v1/jobs", json=body, headers=AUTH)
    assert answer.status_code == 422, answer.json
    assert field in [problem["field"] for problem in answer.json["problems"]], answer.json
    assert gw.client.get("/v1/jobs").json["jobs"] == []  # nothing was saved


def test_a_raw_stage_request_is_validated_by_its_own_model(gw: Gateway) -> None:
    job = unique("job-")
    bad = gw.client.post(f"/v1/stages/records/requests?job_id={job}", json={"num_shards": -1}, headers=AUTH)
    assert bad.status_code == 422 and bad.json["problems"][0]["field"] == "num_shards"
    plan = {"num_shards": 1, "plan": [{"stage": "train", "options": {"steps": 0}}]}
    bad_step = gw.client.post(f"/v1/stages/records/requests?job_id={job}", json=plan, headers=AUTH)
    assert bad_step.status_code == 422 and bad_step.json["problems"][0]["field"] == "plan.0.options.steps"
    unknown = gw.client.post("/v1/stages/paint/requests", json={}, headers=AUTH)
    assert unknown.status_code == 404 and "paint" in unknown.json["error"]
    route = f"/v1/stages/{RECORDS_STAGE}/requests?job_id={job}"
    assert gw.client.post(route, json={"num_shards": -1}, headers=AUTH).json["problems"][0]["field"] == "num_shards"
    good = gw.client.post(route, json={"num_shards": 1}, headers=AUTH)
    assert good.status_code == 201 and good.json["topic"] == f"transferline.{RECORDS_STAGE}"
    assert gw.client.get(f"/v1/jobs/{job}").json["stages"][0]["stage"] == RECORDS_STAGE


def test_malformed_and_oversized_bodies_get_json_errors(gw: Gateway) -> None:
    malformed = gw.client.post("/v1/jobs", data="{", content_type="application/json", headers=AUTH)
    assert malformed.status_code == 400 and malformed.json["error"] == "the request body is not valid JSON"
    small = create_app(open_gateway(gw.pipeline.settings, max_upload_mb=1)).test_client()
    big = small.post("/v1/jobs", data=b"x" * (1024 * 1024 + 1), content_type="application/json", headers=AUTH)
    assert big.status_code == 413 and big.json["status"] == 413


def test_the_openapi_document_is_valid_and_generated_from_the_stage_models(gw: Gateway) -> None:
    document = gw.client.get("/openapi.json").json
    validate(document)
    convert = document["paths"]["/v1/stages/convert/requests"]["post"]
    schema_ref = convert["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = document["components"]["schemas"][schema_ref.rsplit("/", 1)[-1]]
    assert {"exports", "format", "split", "plan"} <= set(schema["properties"])
    assert convert["security"] == [{"bearer": []}]
    assert {"/v1/jobs", "/v1/jobs/{job}", "/v1/jobs/{job}/labels", "/v1/jobs/{job}/cancel"} <= set(document["paths"])
    docs = gw.client.get("/docs", follow_redirects=True)
    assert docs.status_code == 200 and b"swagger-ui" in docs.data
    assert gw.client.get("/docs/swagger/js/swagger-ui-bundle.js").status_code == 200  # served here, not a CDN


def test_jobs_are_listed_newest_first_a_page_at_a_time(gw: Gateway) -> None:
    made = [gw.client.post("/v1/jobs", json=RECORDS, headers=AUTH).json["job_id"] for _ in range(5)]
    seen, cursor = [], None
    for _ in range(3):
        page = gw.client.get("/v1/jobs", query_string={"limit": 2, **({"cursor": cursor} if cursor else {})}).json
        seen.append([job["job_id"] for job in page["jobs"]])
        cursor = page["next_cursor"]
    assert seen == [made[::-1][0:2], made[::-1][2:4], made[::-1][4:]]
    assert cursor is None
    assert gw.client.get("/v1/jobs", query_string={"limit": 0}).json["problems"][0]["field"] == "limit"


def test_artifacts_are_listed_with_links_that_download_them(gw: Gateway) -> None:
    job = gw.client.post("/v1/jobs", json=RECORDS, headers=AUTH).json["job_id"]
    gw.pipeline.store.put_bytes(keys.coco(job), b'{"images": []}', "application/json")
    listed = gw.client.get(f"/v1/jobs/{job}/artifacts").json["artifacts"]
    coco = next(a for a in listed if a["key"] == keys.coco(job))
    assert coco["size"] == len(b'{"images": []}') and coco["type"] == "application/json"
    if coco["link"].startswith("http"):  # presigned by MinIO, on loopback
        assert requests.get(coco["link"], timeout=10).content == b'{"images": []}'
    else:
        assert gw.client.get(coco["link"]).data == b'{"images": []}'
    assert gw.client.get(f"/v1/jobs/{job}/artifacts/labels/nothing.json").status_code == 404
    assert gw.client.get(f"/v1/jobs/{job}/artifacts/../../x").status_code in (404, 422)


def test_health_readiness_and_metrics(gw: Gateway) -> None:
    assert gw.client.get("/healthz").status_code == 200
    assert gw.client.get("/readyz").status_code == 200
    gw.client.get("/v1/jobs")
    assert (
        b'transferline_gateway_requests_total{endpoint="jobs.list_jobs",status="200"}' in gw.client.get("/metrics").data
    )
    assert gw.client.get("/").status_code == 200


def test_labels_for_a_job_that_does_not_wait_for_them_are_refused(gw: Gateway) -> None:
    job = gw.client.post("/v1/jobs", json=RECORDS, headers=AUTH).json["job_id"]
    upload = {"file": (io.BytesIO(b"{}"), "export.ndjson")}
    answer = gw.client.post(f"/v1/jobs/{job}/labels", data=upload, headers=AUTH, content_type="multipart/form-data")
    assert answer.status_code == 409 and "not waiting for labels" in answer.json["error"]
    assert gw.pipeline.store.stat(keys.raw_labels(job, "export.ndjson")) is None


def test_a_job_that_waits_for_labels_publishes_only_up_to_download(embedded_settings: Settings) -> None:
    """Embedded only: the request goes to the built-in download topic, which on the shared Kafka others serve."""
    client = create_app(open_gateway(embedded_settings)).test_client()
    body = {"stage": "download", "plan": [{"stage": "convert"}, {"stage": RECORDS_STAGE}], "wait_for_labels": True}
    created = client.post("/v1/jobs", json=body, headers=AUTH)
    assert created.status_code == 201 and created.json["topic"] == "transferline.download"
    view = client.get(created.json["links"]["self"]).json
    assert view["wait_for_labels"] and view["plan"]["pause_after"] == "download"
    assert [(s["stage"], s["state"]) for s in view["stages"]] == [
        ("download", "pending"), ("convert", "pending"), (RECORDS_STAGE, "pending")
    ]  # fmt: skip
    with Pipeline.open(embedded_settings) as pipeline:
        [published] = pipeline.read("transferline.download", lambda seen: len(seen) >= 1)
    assert published["subject"] == created.json["job_id"] and published["data"]["plan"] == []
