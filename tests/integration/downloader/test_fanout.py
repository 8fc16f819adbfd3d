"""The platform's fan-out / fan-in through the download stage, on both backends: a job over chunk_size URLs is
split into chunk requests; two runners share them; the merge happens exactly once, and redelivered chunk
requests (all of them, after the job completed) change nothing and complete nothing again."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.integration.downloader.fanout_support import check_merged, many_pictures, read_completions
from tests.integration.downloader.test_stage import downloader
from tests.support.harness import Pipeline, unique
from transferline import events, keys, status
from transferline.settings import Settings

pytestmark = pytest.mark.slow
URLS, CHUNK = 120, 20


@pytest.fixture
def pipeline(backend_settings: Settings) -> Iterator[Pipeline]:
    with Pipeline.open(backend_settings) as pipeline:
        yield pipeline


def test_a_big_job_fans_out_over_two_runners_and_completes_once(pipeline: Pipeline) -> None:
    stage, job = downloader(), unique("job-")
    with many_pictures(pipeline, job, URLS):
        request = pipeline.request(stage.name, job, chunk_size=CHUNK, workers=4)
        pipeline.run_in_thread(stage, max_events=1000)
        pipeline.run_in_thread(stage, max_events=1000)
        done = read_completions(pipeline, job)
        assert len(done) == 1
        [completed] = done
        assert completed["data"]["request_id"] == request.envelope.id
        assert completed["data"]["counters"]["urls"] == URLS
        assert completed["data"]["replayed"] is False
        outcomes = check_merged(pipeline, job, URLS)
        found = status.read_status(pipeline.store, job, stage.name)
        assert found is not None and found.state == "succeeded"
        markers = list(pipeline.store.list(keys.chunks_done(job, stage.name, found.input_digest)))
        assert len(markers) == URLS // CHUNK
        summary = json.loads(pipeline.store.get_bytes(keys.download_summary(job)))
        assert summary["chunks"] == URLS // CHUNK and summary["urls"] == URLS and summary["wall_seconds"] > 0

        _redeliver_chunks(pipeline, stage.name, job)
        again = read_completions(pipeline, job, settle=5.0)
        assert len(again) == 1  # still only the first
        assert check_merged(pipeline, job, URLS) == outcomes


def _redeliver_chunks(pipeline: Pipeline, stage: str, job: str) -> None:
    """Publish every chunk request of the job again, as a redelivery after a crash would."""
    topic = events.request_topic(stage)
    sent = pipeline.read(topic, lambda seen: len(_chunks(seen, job)) >= URLS // CHUNK, timeout=30)
    for message in _chunks(sent, job):
        index = message["data"]["chunk"]["index"]
        pipeline.bus.publish(topic, f"{job}#{index}", json.dumps(message).encode())


def _chunks(messages: list[dict], job: str) -> list[dict]:
    return [m for m in messages if m["subject"] == job and (m["data"].get("chunk") or None)]
