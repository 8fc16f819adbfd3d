"""The collect stage on both backends (embedded, and real Kafka + MinIO): an uploaded URL list and a search
become urls/urls.jsonl, the report and the credits; progress per provider page; the completed event carries the
counters; a plan [download] publishes the download request."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.harness import Pipeline, unique
from tests.support.providers import collector_settings, image_url, play_openverse, serve_api
from transferline import events, keys, stages
from transferline.cli import main
from transferline.contracts import UrlRow, read_stored_rows
from transferline.payloads import StageRequest
from transferline.settings import Settings
from transferline_collector.request import CollectRequested
from transferline_collector.settings import CollectorSettings
from transferline_collector.stage import CollectStage

DOWNLOAD = "download"


class DownloadStandIn(StageRequest):
    """The download request's shape while no downloader is installed: the collector only has to publish it."""


@pytest.fixture
def pipeline(backend_settings: Settings) -> Iterator[Pipeline]:
    with Pipeline.open(backend_settings) as pipeline:
        yield pipeline


def collect_stage(settings: CollectorSettings) -> CollectStage:
    """The collect stage under a name of its own, so tests on the shared Kafka never read each other's requests."""
    name = unique("collect")
    events.REGISTRY.register_stage(name, CollectRequested)
    if DOWNLOAD not in stages.installed():
        events.REGISTRY.register_stage(DOWNLOAD, DownloadStandIn)
    return type(f"CollectStage_{name}", (CollectStage,), {"name": name})(settings)


def of_job(job: str, messages: list[dict]) -> list[dict]:
    return [m for m in messages if m["subject"] == job]


def test_a_collect_request_with_a_plan_writes_the_urls_and_publishes_the_download_request(
    pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = unique("job-")
    listed = tmp_path / "mine.txt"
    listed.write_text(f"url\n{image_url('openverse', 3)}\n{image_url('mine', 1)}\njavascript:alert(1)\n")
    for name, value in pipeline.settings.to_env().items():
        monkeypatch.setenv(name, value)
    assert main(["upload", job, "--urls", str(listed)]) == 0
    with serve_api(play_openverse(total=30)) as api:
        stage = collect_stage(collector_settings(openverse_url=api.url))
        plan = [{"stage": DOWNLOAD}]
        pipeline.request(stage.name, job, queries=["bottle"], providers=["openverse"], max_per_query=25, plan=plan)
        pipeline.run_in_thread(stage, max_events=1).join(120)

    [outcome] = pipeline.outcomes(job, 1)
    assert outcome["type"].endswith(".completed"), outcome["data"]
    counters = outcome["data"]["counters"]
    assert (counters["kept"], counters["seen"], counters["pages"]) == (26, 28, 2)
    assert (counters["dropped_duplicate"], counters["dropped_bad-scheme"]) == (1, 1)
    assert set(outcome["data"]["outputs"]) == {"urls", "report", "attribution"}
    rows = list(read_stored_rows(pipeline.store, keys.urls(job), UrlRow))
    assert [row.source for row in rows] == ["list:mine.txt"] * 2 + ["openverse"] * 24
    assert [row.rank for row in rows[2:]] == [n for n in range(1, 26) if n != 3]
    report = json.loads(pipeline.store.get_bytes(keys.urls_report(job)))
    assert {d["reason"]: d.get("line") for d in report["dropped_inputs"]} == {"bad-scheme": 4, "duplicate": None}
    assert pipeline.store.get_bytes(keys.urls_attribution(job)).startswith(b"# Attribution")

    topic = events.request_topic(DOWNLOAD)
    [download] = of_job(job, pipeline.read(topic, lambda seen: bool(of_job(job, seen))))
    assert download["type"] == events.event_type(DOWNLOAD, "requested") and download["data"]["plan"] == []
    progress = [m for m in pipeline.read(events.EVENTS_TOPIC, lambda seen: False, timeout=2) if m["subject"] == job]
    messages = [m["data"]["message"] for m in progress if m["type"].endswith(".progress")]
    pages = ["openverse 'bottle' page 1: 20 results", "openverse 'bottle' page 2: 5 results"]
    assert messages[0] == pages[0] and set(messages) <= set(pages)  # the runner spaces progress events out


def test_nothing_usable_fails_the_request_after_writing_the_report(pipeline: Pipeline) -> None:
    job, stage = unique("job-"), collect_stage(collector_settings(collector_attempts=1))
    pipeline.store.put_bytes(keys.url_list(job, "bad.txt"), b"ftp://a.test/1.jpg\n")
    pipeline.request(stage.name, job, queries=["bottle"], providers=["openverse"])
    pipeline.run_in_thread(stage, max_events=1).join(120)

    [outcome] = pipeline.outcomes(job, 1)
    assert outcome["type"].endswith(".failed") and outcome["data"]["reason"] == "invalid-input"
    message = outcome["data"]["message"]
    assert "nothing usable came back" in message and "openverse 'bottle'" in message
    report = json.loads(pipeline.store.get_bytes(keys.urls_report(job)))
    assert report["dropped_by_reason"] == {"bad-scheme": 1} and "error" in report["sources"][1]
