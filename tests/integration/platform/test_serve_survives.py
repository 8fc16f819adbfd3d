"""Messages that once stopped `transferline serve convert` on every restart, met by a real service process: a
request whose job id ends in a newline (sent raw, past publish's validation) is dead-lettered, exports quoting lone
surrogates fail their jobs readably, and the service then converts the next good job."""

from __future__ import annotations

import json
import signal
import subprocess

from tests.integration.platform.test_service import child_env, cli, wait_for
from tests.integration.platform.test_unwritable_text import EXPORTS
from tests.support.exports import labelbox_ndjson
from tests.support.harness import Pipeline, store_images, unique
from tests.support.labels import make_dataset
from transferline import events, keys, status
from transferline_converter.request import ConvertRequested

NAMED = "tests.integration.platform.named_stages:NamedConvertStage"


def test_serve_convert_outlives_a_newline_job_id_and_surrogate_exports_and_converts_the_next_job(backend_settings):
    pipeline = Pipeline.open(backend_settings)
    # Embedded: the installed `convert` itself. Real Kafka is shared, so there the same stage gets a name of its own.
    embedded = backend_settings.bus == "embedded"
    stage, ref = ("convert", "convert") if embedded else (unique("convert"), NAMED)
    events.REGISTRY.register_stage(stage, ConvertRequested)
    good = unique("job-")
    dataset = make_dataset(seed=7, images=3)
    store_images(pipeline.store, good, {image.file_name: image.jpeg() for image in dataset.images})
    for name, data in labelbox_ndjson.write(dataset).items():
        pipeline.store.put_bytes(keys.raw_labels(good, name), data)

    surrogates = {unique("job-"): EXPORTS[case] for case in sorted(EXPORTS)}
    for job, (name, export) in surrogates.items():
        pipeline.store.put_bytes(keys.raw_labels(job, name), export)

    valid = json.loads(events.make_event(stage, "requested", good, {}, "tests").to_json())
    bad_id = unique("x") + "\n"
    topic = events.request_topic(stage)
    pipeline.bus.ensure_topics([topic, events.EVENTS_TOPIC, events.DLQ_TOPIC])
    pipeline.bus.publish(topic, bad_id, json.dumps({**valid, "subject": bad_id}).encode())
    for job in surrogates:
        pipeline.request(stage, job)
    pipeline.request(stage, good)

    service = subprocess.Popen(
        cli("serve", ref), env=child_env(backend_settings, stage), stderr=subprocess.PIPE, text=True
    )
    try:
        wait_for(
            lambda: service.poll() is not None or _state(pipeline, good, stage) == "succeeded",
            120,
            "the good job to be converted (or the service to stop)",
        )
        assert service.poll() is None, "the service stopped"
        assert _state(pipeline, good, stage) == "succeeded"
        wait_for(lambda: all(_state(pipeline, job, stage) == "failed" for job in surrogates), 120, "the bad exports")
        # on Kafka the two keys may sit on different partitions: the bad one can come after the good job
        letters = pipeline.read(events.DLQ_TOPIC, lambda seen: any(_holds(m, bad_id) for m in seen), timeout=120)
    finally:
        service.send_signal(signal.SIGTERM)
        _, stderr = service.communicate(timeout=60)
    assert service.returncode == 0, stderr[-3000:]
    [letter] = [m for m in letters if _holds(m, bad_id)]
    assert letter["subject"] == "unknown"
    assert "subject" in letter["data"]["reason"] and "is not allowed" in letter["data"]["reason"]
    assert letter["data"]["source_topic"] == topic
    for job in surrogates:
        recorded = status.read_status(pipeline.store, job, stage)
        assert recorded is not None and recorded.error is not None and "\ufffd" in recorded.error


def _state(pipeline: Pipeline, job: str, stage: str) -> str | None:
    found = status.read_status(pipeline.store, job, stage)
    return found.state if found else None


def _holds(letter: dict, job_id: str) -> bool:
    return json.dumps(job_id)[1:-1] in letter["data"]["original"]
