"""The runner's per-message boundary: whatever one message holds (bytes, JSON of any shape, an envelope with any
data, a stage that fails after `handle`, inputs the store refuses) ends as a dead letter or a `.failed` event, and
the same loop goes on to handle the next good request."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from typing import Any, Literal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import Field

from tests.support.harness import Pipeline, unique
from transferline import events, keys, status
from transferline.bus import Consumer
from transferline.errors import InvalidInput
from transferline.payloads import StageRequest
from transferline.settings import Settings
from transferline.stage import Stage, StageContext, StageResult

Then = Literal["succeed", "refuse", "crash", "bad-output", "odd-counter"]


class ProbeRequested(StageRequest):
    word: str = ""
    then: Then = "succeed"
    inputs: list[str] = Field(default_factory=list)


class ProbeStage(Stage[ProbeRequested]):
    """Fails in the way its request asks, always quoting a lone surrogate, as a stage quoting an upload may."""

    name = "probe"
    Request = ProbeRequested

    def inputs(self, request: ProbeRequested, job_id: str) -> list[str]:
        return request.inputs  # arbitrary prefixes and URIs: the runner lists them before the work

    def handle(self, request: ProbeRequested, ctx: StageContext) -> StageResult:
        quoted = request.word + "\udead"
        if request.then == "refuse":
            raise InvalidInput(f"refused {quoted}")
        if request.then == "crash":
            raise RuntimeError(f"a bug meeting {quoted}")
        if request.then == "bad-output":
            return StageResult(outputs={"out": f"../{quoted}"})  # the store refuses it after handle
        if request.then == "odd-counter":
            return StageResult(counters={quoted: 1.0})
        return StageResult(counters={"letters": len(request.word)})


def probe(name: str) -> ProbeStage:
    stage = type(f"Probe_{name}", (ProbeStage,), {"name": name})()
    events.REGISTRY.register_stage(name, ProbeRequested)
    return stage


class Served:
    """One runner loop serving a probe stage in a thread for a whole test, and readers of what it emitted."""

    def __init__(self, settings: Settings, stage: ProbeStage) -> None:
        self.pipeline = Pipeline.open(settings)
        self.stage = stage
        self.topic = events.request_topic(stage.name)
        self.pipeline.bus.ensure_topics([self.topic, events.EVENTS_TOPIC, events.DLQ_TOPIC])
        self.runner = self.pipeline.runner(stage)
        self.last_fed: bytes | None = None
        self.stopped_after: bytes | None = None
        self.thread = threading.Thread(target=self.runner.run, daemon=True)
        self.thread.start()
        bus = self.pipeline.bus
        self.readers = {
            topic: bus.consumer(topic, unique("reader-")) for topic in (events.EVENTS_TOPIC, events.DLQ_TOPIC)
        }

    def good_request(self) -> str:
        job = unique("job-")
        self.pipeline.request(self.stage.name, job, word="fine")
        return job

    def until_done(
        self, job: str, timeout: float = 180.0, answered: tuple[str, ...] = ()
    ) -> dict[str, list[dict[str, Any]]]:
        """What was emitted up to the completion of `job`'s request and an answer to each of `answered` (jobs
        are keys: on several partitions their answers may come in any order)."""
        seen: dict[str, list[dict[str, Any]]] = {topic: [] for topic in self.readers}
        deadline = time.monotonic() + timeout

        def done() -> bool:
            found = seen[events.EVENTS_TOPIC]
            answers = {m["subject"] for m in found if m["type"].endswith((".completed", ".failed"))}
            return any(_completes(m, job) for m in found) and set(answered) <= answers

        while not done():
            if not self.thread.is_alive() and self.stopped_after is None:
                self.stopped_after = self.last_fed  # later examples all fail: name the one that stopped it
            assert self.thread.is_alive(), f"the runner's loop stopped, after {self.stopped_after!r}"
            assert time.monotonic() < deadline, f"no completion of {job}"
            for topic, reader in self.readers.items():
                seen[topic].extend(json.loads(m.value) for m in _poll(reader))
        return seen

    def close(self) -> None:
        self.runner.stop()
        self.thread.join(60)
        for reader in self.readers.values():
            reader.close()


def _poll(reader: Consumer) -> list[Any]:
    return reader.poll(0.05, max_messages=100)


def _completes(message: dict[str, Any], job: str) -> bool:
    return message["subject"] == job and message["type"].endswith(".completed")


# --- what one message may hold -----------------------------------------------------------------------------------

texts = st.text(max_size=12) | st.sampled_from(["", "x\n", "job-1", "a" * 129, "..", "\ud83d", "é"])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=12,
)
inputs = st.lists(
    st.sampled_from(["", "jobs/", "cache/", "file:///etc/", "s3://elsewhere/x", "a/../b", "/abs", "x\n"]) | texts,
    max_size=3,
)


def probe_data(plan_stages: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Request data shaped like the probe's (valid or nearly), or any JSON object."""
    plan = st.lists(
        st.fixed_dictionaries({"stage": st.sampled_from(plan_stages), "options": st.dictionaries(texts, json_values)}),
        max_size=2,
    )
    shaped = st.fixed_dictionaries(
        {},
        optional={
            "word": texts | texts | json_values,
            "then": st.sampled_from(["succeed", "refuse", "crash", "bad-output", "odd-counter", "explode"]),
            "inputs": inputs,
            "plan": plan,
            "unexpected": json_values,
        },
    )
    return shaped | st.dictionaries(texts, json_values, max_size=4)


def envelopes(stage: str, plan_stages: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """CloudEvents envelopes: valid ones with random data (job ids included), and ones with an attribute wrong."""
    type_ = events.event_type(stage, "requested")
    valid = st.fixed_dictionaries(
        {
            "specversion": st.just("1.0"),
            "id": st.uuids().map(str),
            "source": st.just("tests") | texts,
            "type": st.just(type_),
            "subject": st.sampled_from(["job-fuzz", "x\n", "job-1\n", "a" * 128]) | texts,
            "time": st.just(datetime.now(UTC).isoformat()),
            "dataschema": st.just(events.schema_uri(type_, 1)),
            "data": probe_data(plan_stages),
        }
    )
    wrong = st.fixed_dictionaries(
        {},
        optional={
            "specversion": texts,
            "type": st.sampled_from([events.event_type(stage, "completed"), "transferline.other.requested"])
            | st.just(type_ + "\n")
            | texts,
            "time": st.just("2024-01-01T00:00:00") | texts,
            "dataschema": texts,
            "data": json_values,
            "traceparent": texts,
            "x\n": texts,
            "Bad": texts,
        },
    )
    return valid | st.builds(lambda envelope, changes: {**envelope, **changes}, valid, wrong)


def messages(stage: str, plan_stages: list[str]) -> st.SearchStrategy[bytes]:
    as_json = (json_values | envelopes(stage, plan_stages)).map(
        lambda value: json.dumps(value).encode()  # ASCII: lone surrogates travel as \\ud83d escapes
    )
    return st.binary(max_size=200) | as_json


def test_arbitrary_messages_never_stop_the_loop_and_each_ends_in_the_dlq_or_an_outcome(embedded_settings) -> None:
    stage, sink = probe(unique("probe")), probe(unique("sink"))  # the sink's requests are never served
    served = Served(embedded_settings.model_copy(update={"topic_partitions": 1}), stage)  # one order for all
    plan_stages = [sink.name, "nowhere", "tests.nowhere:Nothing"]

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(value=messages(stage.name, plan_stages), key=st.sampled_from(["job-fuzz", "", "x\n", "unknown"]))
    def fed(value: bytes, key: str) -> None:
        served.pipeline.bus.publish(served.topic, key, value)
        served.last_fed = value
        after = served.good_request()  # handled after the message: one partition, one loop
        seen = served.until_done(after)
        letters = [m for m in seen[events.DLQ_TOPIC] if m["data"]["original"] == value.decode("utf-8", "replace")]
        answers = [m for m in seen[events.EVENTS_TOPIC] if m["subject"] != after]
        assert letters or answers, "the message left no trace"
        assert len(letters) + len(answers) == len(seen[events.DLQ_TOPIC]) + len(seen[events.EVENTS_TOPIC]) - 1
        request_id = _envelope_id(value)
        assert all(m["data"]["request_id"] == request_id for m in answers)
        if any(m["type"].endswith(".completed") for m in answers):
            assert _asked(value) in ("succeed", "odd-counter"), answers
        for m in answers:
            json.dumps(m, ensure_ascii=False).encode("utf-8")  # strict UTF-8 all the way

    try:
        fed()
        last = served.good_request()
        served.until_done(last)
        assert status.read_status(served.pipeline.store, last, stage.name).state == "succeeded"
    finally:
        served.close()
    assert not served.thread.is_alive()


def _envelope_id(value: bytes) -> object:
    try:
        return json.loads(value).get("id")
    except (ValueError, AttributeError):
        return None


def _asked(value: bytes) -> object:
    return json.loads(value)["data"].get("then", "succeed")


# --- the same, one case at a time, on both backends ---------------------------------------------------------------


def test_failures_after_handle_and_refused_inputs_fail_the_request_and_the_loop_goes_on(backend_settings) -> None:
    stage = probe(unique("probe"))
    served = Served(backend_settings, stage)
    cases = {
        "bad-output": ({"then": "bad-output", "word": "w"}, "internal-error", "is not allowed"),
        "crash": ({"then": "crash", "word": "w"}, "internal-error", "RuntimeError: a bug meeting w\ufffd"),
        "refuse": ({"then": "refuse", "word": "w"}, "invalid-input", "refused w\ufffd"),
        "foreign-input": ({"inputs": ["s3://elsewhere/x"]}, "invalid-input", "s3://elsewhere/x"),
        "bad-prefix": ({"inputs": ["a/../b"]}, "invalid-input", "'a/../b' is not allowed"),
    }
    jobs = {case: unique(f"{case}-") for case in cases}
    try:
        for case, (data, _, _) in cases.items():
            served.pipeline.request(stage.name, jobs[case], **data)
        after = served.good_request()
        seen = served.until_done(after, answered=tuple(jobs.values()))[events.EVENTS_TOPIC]
    finally:
        served.close()
    for case, (_, reason, text) in cases.items():
        [failed] = [m for m in seen if m["subject"] == jobs[case]]
        assert failed["type"].endswith(".failed") and failed["data"]["reason"] == reason, (case, failed)
        assert text in failed["data"]["message"], (case, failed["data"]["message"])
        recorded = status.read_status(served.pipeline.store, jobs[case], stage.name)
        assert recorded is not None and recorded.state == "failed" and recorded.error == failed["data"]["message"]
    assert served.pipeline.store.exists(keys.stage_status(after, stage.name))


def test_a_lone_surrogate_in_a_counter_name_still_completes(embedded_settings) -> None:
    stage = probe(unique("probe"))
    served = Served(embedded_settings, stage)
    job = unique("job-")
    try:
        served.pipeline.request(stage.name, job, then="odd-counter", word="n")
        seen = served.until_done(job)[events.EVENTS_TOPIC]
    finally:
        served.close()
    [done] = [m for m in seen if m["subject"] == job]
    assert done["data"]["counters"] == {"n\ufffd": 1.0}
    assert status.read_status(served.pipeline.store, job, stage.name).counters == {"n\ufffd": 1.0}
