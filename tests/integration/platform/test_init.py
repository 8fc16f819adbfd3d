"""`transferline init`: the bucket and every installed stage's topics, made once before a deployment's services."""

from __future__ import annotations

import json
import socket
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


def test_init_without_a_reachable_broker_says_so_without_a_traceback(embedded_settings: Settings) -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    unreachable = embedded_settings.model_copy(update={"bus": "kafka", "kafka_bootstrap": f"127.0.0.1:{port}"})
    env = {"PATH": "/usr/bin:/bin", **unreachable.to_env()}
    done = subprocess.run(
        [sys.executable, "-m", "transferline.cli", "init"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 4, done.stderr  # EXIT_UNAVAILABLE: a retryable TransientError, not a crash
    assert "bus or store unavailable" in done.stderr and "Traceback" not in done.stderr
