"""`transferline gateway --workers 4` as a real gunicorn process on loopback: requests that land on different
workers see one state, since every answer is read from the store."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
import requests

from tests.conftest import REPO
from tests.integration.gateway.conftest import AUTH
from transferline.settings import Settings


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Served:
    url: str
    auth: dict[str, str]


def gateway_env(settings: Settings, **variables: str) -> dict[str, str]:
    return {**os.environ, **settings.to_env(), "PYTHONPATH": str(REPO), **variables}


def gateway_command(port: int) -> list[str]:
    return [sys.executable, "-m", "transferline.cli", "gateway", "--host", "127.0.0.1", "--port", str(port)]


@pytest.fixture
def served(embedded_settings: Settings) -> Iterator[Served]:
    """The gateway, embedded, without a token: it makes one and prints it, and every worker takes it."""
    port = free_port()
    env = gateway_env(embedded_settings, TRANSFERLINE_API_TOKEN="")
    server = subprocess.Popen(
        [*gateway_command(port), "--workers", "4"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert server.stdout is not None
    printed = server.stdout.readline().decode()
    token = printed.partition("TRANSFERLINE_API_TOKEN=")[2].split()[0]
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_health(url, server)
        yield Served(url, {"Authorization": f"Bearer {token}"})
    finally:
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=60)
    assert server.returncode == 0, stderr.decode()[-2000:]


def wait_for_health(url: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert server.poll() is None, server.communicate()[1].decode()[-2000:]
        try:
            if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            time.sleep(0.2)
    raise AssertionError("the gateway did not answer /healthz")


def answers(url: str, path: str, count: int) -> dict[str, dict]:
    """Worker -> its answer, asking `count` times, 8 at once on fresh connections: a sync worker takes one
    request at a time, so concurrent ones spread over the workers."""

    def ask(_: int) -> tuple[str, dict]:
        response = requests.get(f"{url}{path}", headers={"Connection": "close"}, timeout=10)
        return response.headers["X-Served-By"], response.json()

    with ThreadPoolExecutor(8) as pool:
        return dict(pool.map(ask, range(count)))


def test_the_stack_refuses_to_start_without_a_token(embedded_settings: Settings) -> None:
    env = gateway_env(embedded_settings, TRANSFERLINE_BUS="kafka", TRANSFERLINE_API_TOKEN="")
    refused = subprocess.run(gateway_command(free_port()), env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "TRANSFERLINE_API_TOKEN is required" in refused.stderr


def test_four_workers_share_one_state(served: Served) -> None:
    body = {"stage": "records", "options": {"num_shards": 2}}  # embedded: this test's own bus, nobody serves it
    created = requests.post(f"{served.url}/v1/jobs", json=body, headers=served.auth, timeout=10)
    assert created.status_code == 201, created.text
    job = created.json()["job_id"]
    running = answers(served.url, f"/v1/jobs/{job}", 40)
    assert len(running) >= 2  # several workers answered
    assert {answer["state"] for answer in running.values()} == {"running"}

    assert requests.post(f"{served.url}/v1/jobs/{job}/cancel", headers=served.auth, timeout=10).status_code == 202
    cancelled = answers(served.url, f"/v1/jobs/{job}", 40)
    assert len(cancelled) >= 2 and {answer["state"] for answer in cancelled.values()} == {"cancelled"}
    listed = answers(served.url, "/v1/jobs", 20)
    assert {tuple(j["job_id"] for j in answer["jobs"]) for answer in listed.values()} == {(job,)}
    assert requests.post(f"{served.url}/v1/jobs", json=body, headers=AUTH, timeout=10).status_code == 401
    scraped = requests.get(f"{served.url}/metrics", timeout=10).text  # one worker answers for all of them
    assert 'transferline_gateway_requests_total{endpoint="jobs.show_job",status="200"} 80.0' in scraped
