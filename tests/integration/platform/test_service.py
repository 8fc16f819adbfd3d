"""Services as real processes: `transferline serve` and `transferline publish`, killed and restarted."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.conftest import REPO
from tests.support.harness import Pipeline, unique
from transferline import keys, status
from transferline.settings import Settings

STAGE_REF = "tests.support.stages:CopyStage"


def child_env(settings: Settings, stage: str, port: int = 0) -> dict[str, str]:
    env = {
        **os.environ,
        **settings.to_env(),
        "TRANSFERLINE_TEST_STAGE": stage,
        "TRANSFERLINE_HTTP_PORT": str(port),
        "PYTHONPATH": str(REPO),
    }
    return env


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "transferline.cli", *args]


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_service_killed_mid_handle_is_restarted_and_does_the_work_exactly_once(backend_settings, tmp_path):
    pipeline = Pipeline.open(backend_settings)
    stage, job = unique("copy"), unique("job-")
    env = child_env(backend_settings, stage)
    hold, ledger = tmp_path / "hold", tmp_path / "ledger"
    hold.touch()
    from tests.support.stages import stage_named

    stage_named(stage)
    pipeline.request(stage, job, text="survives", ledger=str(ledger), hold_while=str(hold))

    first = subprocess.Popen(cli("serve", STAGE_REF), env=env, stderr=subprocess.DEVNULL)
    wait_for(lambda: Path(f"{hold}.started").exists(), 90, "the first service to start handling")
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    assert not pipeline.store.exists(keys.custom(job, stage, "copy.txt"))
    assert status.read_status(pipeline.store, job, stage).state == "running"

    hold.unlink()
    second = subprocess.run(
        cli("serve", STAGE_REF, "--max-events", "1"), env=env, timeout=120, capture_output=True, text=True
    )
    assert second.returncode == 0, second.stderr[-2000:]
    assert pipeline.store.get_bytes(keys.custom(job, stage, "copy.txt")) == b"survives"
    assert len(ledger.read_text().splitlines()) == 1
    assert status.read_status(pipeline.store, job, stage).state == "succeeded"
    [completed] = pipeline.outcomes(job, 1)
    assert completed["type"].endswith(".completed") and completed["data"]["replayed"] is False


def test_publish_and_serve_complete_a_request_end_to_end(backend_settings, tmp_path):
    pipeline = Pipeline.open(backend_settings)
    stage, job, port = unique("copy"), unique("job-"), free_port()
    env = child_env(backend_settings, stage, port)
    payload = tmp_path / "request.json"
    payload.write_text(f'{{"text": "end to end", "ledger": "{tmp_path / "ledger"}"}}')
    service = subprocess.Popen(
        cli("serve", STAGE_REF), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_for(lambda: _get(port, "/readyz") == 200, 90, "the service to be ready")
        published = subprocess.run(
            cli("publish", STAGE_REF, "--job", job, "--payload", str(payload), "--wait", "--timeout", "90"),
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert published.returncode == 0, published.stderr
        assert f"{stage}: succeeded" in published.stdout
        shown = subprocess.run(cli("status", job), env=env, capture_output=True, text=True, timeout=60)
        assert shown.returncode == 0 and f"{stage}" in shown.stdout and "succeeded" in shown.stdout
        assert _get(port, "/healthz") == 200
        scraped = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        assert f'transferline_events_handled_total{{outcome="succeeded",stage="{stage}"}} 1.0' in scraped
    finally:
        service.send_signal(signal.SIGTERM)
        _, stderr = service.communicate(timeout=60)
    assert service.returncode == 0, stderr[-2000:]
    assert '"message": "stopping after the current message"' in stderr
    assert pipeline.store.get_bytes(keys.custom(job, stage, "copy.txt")) == b"end to end"


def _get(port: int, path: str) -> int:
    try:
        return requests.get(f"http://127.0.0.1:{port}{path}", timeout=2).status_code
    except requests.ConnectionError:
        return 0
