"""The stage runner over both backends: real Kafka + MinIO, and the embedded log + filesystem."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.harness import Pipeline, unique
from tests.support.stages import stage_named
from transferline import events, keys, status
from transferline.settings import Settings


@pytest.fixture
def pipeline(backend_settings: Settings) -> Iterator[Pipeline]:
    """Clients on the test's backend; every runner started through it is stopped and joined when the test ends."""
    with Pipeline.open(backend_settings) as pipeline:
        yield pipeline


def test_stage_consumes_request_writes_artifact_and_emits_completion(pipeline: Pipeline, tmp_path: Path):
    stage = stage_named(unique("copy"))()
    job = unique("job-")
    request = pipeline.request(stage.name, job, text="hello", ledger=str(tmp_path / "ledger"))
    pipeline.run_in_thread(stage, max_events=1).join(60)

    key = keys.custom(job, stage.name, "copy.txt")
    assert pipeline.store.get_bytes(key) == b"hello"
    done = status.read_status(pipeline.store, job, stage.name)
    assert done is not None and done.state == "succeeded" and done.attempts == 1
    [completed] = pipeline.outcomes(job, 1)
    assert completed["type"] == f"transferline.{stage.name}.completed"
    assert completed["data"]["request_id"] == request.envelope.id
    assert completed["data"]["outputs"] == {"copy": pipeline.store.uri(key)}
    assert completed["data"]["counters"] == {"characters": 5}


def test_same_event_delivered_twice_does_the_work_once(pipeline: Pipeline, tmp_path: Path):
    stage = stage_named(unique("copy"))()
    job, ledger = unique("job-"), tmp_path / "ledger"
    event = pipeline.request(stage.name, job, text="once", ledger=str(ledger))
    pipeline.bus.publish(event.topic, job, event.to_json())  # at-least-once: the broker hands it over again
    pipeline.run_in_thread(stage, max_events=2).join(60)

    assert ledger.read_text().splitlines() == [f"{job} {event.envelope.id}"]
    first, second = pipeline.outcomes(job, 2)
    assert [first["data"]["replayed"], second["data"]["replayed"]] == [False, True]
    assert first["data"]["outputs"] == second["data"]["outputs"]


def test_poison_messages_go_to_the_dlq_and_the_next_message_is_processed(pipeline: Pipeline, tmp_path: Path):
    stage = stage_named(unique("copy"))()
    job = unique("job-")
    topic = events.request_topic(stage.name)
    pipeline.bus.ensure_topics([topic, events.EVENTS_TOPIC, events.DLQ_TOPIC])
    pipeline.bus.publish(topic, job, b"{not json")
    wrong = events.make_event(stage.name, "requested", job, {"text": "x", "ledger": "l"}, "tests").envelope
    pipeline.bus.publish(topic, job, wrong.model_dump_json(exclude={"dataschema"}).encode())
    pipeline.request(stage.name, job, text="after", ledger=str(tmp_path / "ledger"))
    pipeline.run_in_thread(stage, max_events=3).join(60)

    assert pipeline.store.get_bytes(keys.custom(job, stage.name, "copy.txt")) == b"after"
    letters = pipeline.read(events.DLQ_TOPIC, lambda seen: len(_mine(seen, job)) >= 2)
    reasons = [letter["data"]["reason"] for letter in _mine(letters, job)]
    assert "Invalid JSON" in reasons[0]
    assert "dataschema: Field required" in reasons[1]
    assert _mine(letters, job)[0]["data"]["original"] == "{not json"


def test_invalid_input_fails_fast_with_a_readable_message(pipeline: Pipeline, tmp_path: Path):
    stage = stage_named(unique("copy"))()
    job = unique("job-")
    pipeline.request(stage.name, job, text="bad", ledger=str(tmp_path / "ledger"), invalid=True)
    pipeline.run_in_thread(stage, max_events=1).join(60)

    [failed] = pipeline.outcomes(job, 1)
    assert failed["type"].endswith(".failed")
    assert failed["data"]["reason"] == "invalid-input" and failed["data"]["attempts"] == 1
    assert "marked invalid" in failed["data"]["message"]
    assert status.read_status(pipeline.store, job, stage.name).state == "failed"


def test_transient_errors_are_retried_with_backoff_until_they_pass(pipeline: Pipeline, tmp_path: Path):
    stage = stage_named(unique("copy"))()
    job = unique("job-")
    pipeline.request(stage.name, job, text="late", ledger=str(tmp_path / "ledger"), transient_failures=2)
    pipeline.run_in_thread(stage, max_events=1).join(60)

    [completed] = pipeline.outcomes(job, 1)
    assert completed["type"].endswith(".completed")
    assert status.read_status(pipeline.store, job, stage.name).attempts == 3


def test_exhausted_retries_fail_the_stage_and_keep_the_request_in_the_dlq(pipeline: Pipeline, tmp_path: Path):
    stage = stage_named(unique("copy"))()
    job = unique("job-")
    attempts = pipeline.settings.retry_attempts
    request = pipeline.request(stage.name, job, text="never", ledger=str(tmp_path / "l"), transient_failures=99)
    pipeline.run_in_thread(stage, max_events=1).join(60)

    [failed] = pipeline.outcomes(job, 1)
    assert failed["data"]["reason"] == "retries-exhausted" and failed["data"]["attempts"] == attempts
    [letter] = _mine(pipeline.read(events.DLQ_TOPIC, lambda seen: bool(_mine(seen, job))), job)
    assert events.parse_event(letter["data"]["original"].encode()).envelope.id == request.envelope.id


def test_a_bug_in_a_stage_fails_the_request_and_the_service_goes_on(pipeline: Pipeline, tmp_path: Path):
    stage = stage_named(unique("copy"))()
    crash_job, next_job = unique("job-"), unique("job-")
    pipeline.request(stage.name, crash_job, text="x", ledger=str(tmp_path / "l"), crash=True)
    pipeline.request(stage.name, next_job, text="fine", ledger=str(tmp_path / "l"))
    pipeline.run_in_thread(stage, max_events=2).join(60)

    [failed] = pipeline.outcomes(crash_job, 1)
    assert failed["data"]["reason"] == "internal-error"
    assert "ZeroDivisionError: a bug in the stage" in failed["data"]["message"]
    assert pipeline.store.get_bytes(keys.custom(next_job, stage.name, "copy.txt")) == b"fine"


def test_the_plan_chains_the_next_stage_without_an_orchestrator(pipeline: Pipeline, tmp_path: Path):
    first, second = stage_named(unique("copy"))(), stage_named(unique("copy"))()
    events.REGISTRY.register_stage(second.name, second.Request)
    job, ledger = unique("job-"), str(tmp_path / "ledger")
    plan = [{"stage": second.name, "options": {"text": "second", "ledger": ledger}}]
    pipeline.request(first.name, job, text="first", ledger=ledger, plan=plan)
    threads = [pipeline.run_in_thread(first, max_events=1), pipeline.run_in_thread(second, max_events=1)]
    for thread in threads:
        thread.join(60)

    assert pipeline.store.get_bytes(keys.custom(job, second.name, "copy.txt")) == b"second"
    types = [m["type"] for m in pipeline.outcomes(job, 2)]
    assert types == [f"transferline.{first.name}.completed", f"transferline.{second.name}.completed"]


def test_the_plan_chains_to_a_stage_whose_service_has_not_started_yet(pipeline: Pipeline, tmp_path: Path):
    first, second = stage_named(unique("copy"))(), stage_named(unique("copy"))()
    job, ledger = unique("job-"), str(tmp_path / "ledger")
    plan = [{"stage": second.name, "options": {"text": "later", "ledger": ledger}}]
    pipeline.request(first.name, job, text="now", ledger=ledger, plan=plan)
    pipeline.run_in_thread(first, max_events=1).join(60)  # the next stage's topic does not exist yet

    pipeline.run_in_thread(second, max_events=1).join(60)
    assert pipeline.store.get_bytes(keys.custom(job, second.name, "copy.txt")) == b"later"


def _mine(messages: list[dict], job: str) -> list[dict]:
    return [m for m in messages if m["subject"] == job]
