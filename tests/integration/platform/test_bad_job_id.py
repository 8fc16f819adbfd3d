"""A request whose job id ends in a newline, sent raw (past publish's validation), is dead-lettered by a real
`transferline serve convert`, which then converts the next job: it no longer stops the service on every restart."""

from __future__ import annotations

import json
import signal
import subprocess

from tests.integration.platform.test_service import child_env, cli, wait_for
from tests.support.exports import labelbox_ndjson
from tests.support.harness import Pipeline, store_images, unique
from tests.support.labels import make_dataset
from transferline import events, keys, status
from transferline_converter.request import ConvertRequested

NAMED = "tests.integration.platform.named_stages:NamedConvertStage"


def test_serve_convert_dead_letters_a_job_id_ending_in_a_newline_and_converts_the_next_job(backend_settings):
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

    valid = json.loads(events.make_event(stage, "requested", good, {}, "tests").to_json())
    bad_id = unique("x") + "\n"
    topic = events.request_topic(stage)
    pipeline.bus.ensure_topics([topic, events.EVENTS_TOPIC, events.DLQ_TOPIC])
    pipeline.bus.publish(topic, bad_id, json.dumps({**valid, "subject": bad_id}).encode())
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


def _state(pipeline: Pipeline, job: str, stage: str) -> str | None:
    found = status.read_status(pipeline.store, job, stage)
    return found.state if found else None


def _holds(letter: dict, job_id: str) -> bool:
    return json.dumps(job_id)[1:-1] in letter["data"]["original"]
