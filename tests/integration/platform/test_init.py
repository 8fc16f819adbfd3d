"""`transferline init`: the bucket and every installed stage's topics, made once before a deployment's services."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from kafka import KafkaAdminClient

from transferline import events, stages
from transferline.settings import Settings
from transferline.store import open_store


def run_init(settings: Settings) -> dict[str, object]:
    env = {"PATH": "/usr/bin:/bin", **settings.to_env()}
    done = subprocess.run(
        [sys.executable, "-m", "transferline.cli", "init"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def expected_topics() -> set[str]:
    return {events.request_topic(name) for name in stages.installed()} | {events.EVENTS_TOPIC, events.DLQ_TOPIC}


def test_init_makes_the_bucket_and_every_topic_and_can_run_again(backend_settings: Settings) -> None:
    first = run_init(backend_settings)
    again = run_init(backend_settings)  # idempotent: a restarted init Job or compose service changes nothing
    assert set(first["topics"]) == expected_topics() == set(again["topics"])
    assert first["bucket"] == backend_settings.bucket
    open_store(backend_settings).put_bytes("probe", b"x")  # the bucket exists: a write does not fail


@pytest.mark.infra
def test_init_topics_exist_on_kafka_with_partitions(infra_settings: Settings) -> None:
    run_init(infra_settings)
    admin = KafkaAdminClient(bootstrap_servers=infra_settings.kafka_bootstrap)
    try:
        described = admin.describe_topics(sorted(expected_topics()))
    finally:
        admin.close()
    assert {topic["name"] for topic in described if not topic["error_code"]} == expected_topics()
    assert all(len(topic["partitions"]) >= 1 for topic in described)
