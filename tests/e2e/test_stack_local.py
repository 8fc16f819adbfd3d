"""The stack on real infrastructure, every service its own OS process: `deploy/local/stack.sh up` starts collect,
convert, records, train, two downloaders and the gateway under gunicorn against the real Kafka and MinIO of `make
infra-up` (a fresh bucket, a stack folder and ports of its own). One job goes through the gateway's HTTP API as a
client would drive it (bearer token): a URL list of the bundled sample's 80 pictures (served on loopback, as an
image host), collect, download fanned out in chunks over both downloaders, a pause for labels (the bundled
Labelbox export uploaded through the labels route), convert, records and a short fine-tune from the base detector
(served on loopback, as a model zoo), evaluated and exported. Nothing leaves loopback: the downloader's allow-list
opens 127.0.0.0/8 only, and the search providers point at the loopback host too (the job names none).

"Both downloaders took chunks" is read from the chunk markers the runner writes (`fanout.record_done`: each names
the host:pid of the replica that did it), matched against the two pid files; 80 URLs in chunks of 4 make 20
chunks keyed over 3 partitions, so the one partition (or two) a downloader holds gets none with odds of
(2/3)^20 + (1/3)^20, about 3e-4. Each downloader's own /metrics port says the merge happened once, in one of them.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import requests
from kafka import KafkaAdminClient
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import read_infra_env
from transferline import keys, status
from transferline.fanout import ChunkResult
from transferline.settings import Settings
from transferline.store import Store, open_store

pytestmark = [pytest.mark.infra, pytest.mark.slow]  # one run, on the real Kafka and MinIO (not per backend)
REPO = Path(__file__).resolve().parents[2]
STACK = REPO / "deploy" / "local" / "stack.sh"
SAMPLE = REPO / "deploy" / "local" / "sample"
BASE = REPO / "deploy" / "local" / "base" / "base.tar.gz"
STAGES = ["collect", "download", "convert", "records", "train"]
DOWNLOADERS = ["download-1", "download-2"]
CHUNK, RUN = 4, "run1"
HTTP_SERVICES = 6  # collect, convert, records, train, download-1, download-2: TRANSFERLINE_HTTP_PORT + 0..5
KEPT = ("TRANSFERLINE_INFRA_DIR", "TRANSFERLINE_CACHE_DIR")  # the caller's other TRANSFERLINE_* must not leak in


@pytest.mark.timeout(900)
def test_a_job_created_through_the_gateway_runs_on_the_local_stack_to_an_evaluated_model(tmp_path: Path) -> None:
    infra = read_infra_env()
    busy = busy_groups(infra["TRANSFERLINE_KAFKA_BOOTSTRAP"], STAGES)
    assert not busy, f"another deployment consumes on this Kafka ({busy}): it would take this test's requests"
    sample_host = load_sample_host()
    with sample_host.serve_sample(SAMPLE, BASE) as host:
        stack = Stack(tmp_path / "stack", infra, host.url)
        try:
            stack.up()
            pids = stack.pids()
            again = stack.run("up")  # a no-op for what runs
            assert again.returncode == 0 and stack.pids() == pids, again.stderr[-3000:]
            assert "already running" in again.stderr and "started" not in again.stderr
            assert stack.run("status").returncode == 0
            drive_the_job(stack, host, pids)
        except BaseException:
            stack.show_logs()
            raise
        finally:
            stopped = stack.run("down", timeout=300)
        assert stopped.returncode == 0, stopped.stderr[-3000:]
        assert "SIGKILL" not in stopped.stderr, stopped.stderr  # every service stopped on SIGTERM
        assert not list(stack.folder.glob("*.pid")) and not any(alive(pid) for pid in pids.values())


def drive_the_job(stack: Stack, host: Any, pids: dict[str, int]) -> None:
    api, job = stack.gateway, f"stack-{uuid.uuid4().hex[:10]}"
    urls = "".join(f"{host.url}/images/{path.name}\n" for path in sorted((SAMPLE / "images").glob("*.jpg")))
    assert len(urls.splitlines()) == 80

    refused = requests.post(f"{api}/v1/jobs", json=job_request(job, host), timeout=30)
    assert refused.status_code == 401, refused.text  # the stack's gateway wants its token
    listed = requests.post(
        f"{api}/jobs/{job}/url-lists", headers=stack.auth, files={"file": ("urls.txt", urls)}, timeout=30
    )
    assert listed.status_code == 201, listed.text
    created = requests.post(f"{api}/v1/jobs", headers=stack.auth, json=job_request(job, host), timeout=30)
    assert created.status_code == 201, created.text
    assert created.json()["job_id"] == job

    view = wait_for_job(api, job, "waiting-for-labels", timeout=300)
    states = {s["stage"]: s["state"] for s in view["stages"]}
    assert states == {"collect": "succeeded", "download": "succeeded"} | dict.fromkeys(STAGES[2:], "pending"), view
    check_both_downloaders_took_chunks(stack, job, pids)

    with (SAMPLE / "export.ndjson").open("rb") as export:
        labels = requests.post(
            f"{api}/v1/jobs/{job}/labels", headers=stack.auth, files={"file": ("export.ndjson", export)}, timeout=60
        )
    assert labels.status_code == 202, labels.text
    assert labels.json()["continued_at"] == "convert"

    view = wait_for_job(api, job, "succeeded", timeout=540)
    assert {s["stage"]: s["state"] for s in view["stages"]} == dict.fromkeys(STAGES, "succeeded"), view
    downloaded = next(s for s in view["stages"] if s["stage"] == "download")["counters"]
    assert downloaded["urls"] == 80 and downloaded["ok"] == 80, downloaded
    metrics = check_the_model(stack, api, job)
    check_the_job_page(api, job, metrics)


def job_request(job: str, host: Any) -> dict[str, Any]:
    """Collect the uploaded list, download it in chunks of 4, wait for labels, then the smallest training that
    still goes end to end: the tiny RetinaNet at 128 px, 10 steps from the base detector."""
    sha256 = (BASE.parent / "base.sha256").read_text().strip()
    train = {
        "model": "retinanet_tiny",
        "run": RUN,
        "classes": ["bottle", "can"],
        "input_size": 128,
        "batch_size": 8,
        "steps": 10,
        "checkpoint_every": 10,
        "learning_rate": 0.08,
        "warmup_steps": 2,
        "base_checkpoint": f"{host.url}/models/{BASE.name}",
        "base_checkpoint_sha256": sha256,
    }
    return {
        "job_id": job,
        "stage": "collect",
        "options": {},
        "plan": [
            {"stage": "download", "options": {"chunk_size": CHUNK, "workers": 4, "per_host": 4}},
            {"stage": "convert", "options": {"split": {"train": 0.7, "val": 0.3}, "seed": 0}},
            {"stage": "records", "options": {"num_shards": 1}},
            {"stage": "train", "options": train},
        ],
        "wait_for_labels": True,
    }


def check_both_downloaders_took_chunks(stack: Stack, job: str, pids: dict[str, int]) -> None:
    downloaded = status.read_status(stack.store, job, "download")
    assert downloaded is not None and downloaded.state == "succeeded"
    prefix = keys.chunks_done(job, "download", downloaded.input_digest)  # the group: the split request's digest
    markers = [ChunkResult.from_json(stack.store.get_bytes(info.key)) for info in stack.store.list(prefix)]
    assert sorted(marker.index for marker in markers) == list(range(80 // CHUNK))
    host = socket.gethostname()
    by = {name: [m.index for m in markers if m.worker == f"{host}:{pids[name]}"] for name in DOWNLOADERS}
    assert all(by.values()), f"chunks by downloader: {by}; markers name {sorted({m.worker for m in markers})}"
    assert sum(map(len, by.values())) == len(markers)  # nobody else did any
    merged = {name: handled(stack.metrics(name), "download", "succeeded") for name in DOWNLOADERS}
    assert sorted(merged.values()) == [0, 1], merged  # one completion, merged by one of them


def check_the_model(stack: Stack, api: str, job: str) -> dict[str, Any]:
    """The trainer's pycocotools evaluation (read through the gateway) and the SavedModel in the store."""
    answer = requests.get(f"{api}/v1/jobs/{job}/artifacts/models/{RUN}/eval/metrics.json", timeout=30)
    assert answer.status_code == 200, answer.text[:500]
    metrics: dict[str, Any] = answer.json()
    assert 0.0 <= metrics["ap50"] <= 1.0 and 0.0 <= metrics["ap"] <= metrics["ap50"], metrics
    assert set(metrics["per_class_ap50"]) == {"bottle", "can"}
    validation = json.loads(stack.store.get_bytes(keys.coco(job, "val")))
    assert metrics["images"] == len(validation["images"]) > 0  # evaluated on the validation split
    transfer = metrics["training"]["transfer"]
    assert transfer["restored"] > 100 and transfer["reinitialised"] == 2  # fine-tuned from the loopback model zoo
    saved_model = keys.model_saved_model(job, RUN)
    assert stack.store.stat(saved_model + "saved_model.pb") is not None
    assert any(info.key.startswith(saved_model + "variables/") for info in stack.store.list(saved_model))
    under = saved_model.removeprefix(keys.job_prefix(job))
    listed = requests.get(f"{api}/v1/jobs/{job}/artifacts", params={"under": under}, timeout=30).json()
    assert saved_model + "saved_model.pb" in {each["key"] for each in listed["artifacts"]}
    return metrics


def check_the_job_page(api: str, job: str, metrics: dict[str, Any]) -> None:
    """The page a person opens shows the finished job: every stage's state, the model's mAP."""
    page = requests.get(f"{api}/jobs/{job}", timeout=30)
    assert page.status_code == 200, page.text[:500]
    html = page.text
    assert re.search(rf'<section id="job" data-job="{re.escape(job)}" data-state="succeeded"', html)
    for stage in STAGES:
        assert f'<li class="stage succeeded" data-stage="{stage}">' in html, stage
    shown = re.search(r"mAP@0\.5 = <b data-ap50>([0-9.]+)</b>", html)
    assert shown and shown.group(1) == f"{metrics['ap50']:.3f}", shown and shown.group(0)
    downloads = re.search(rf'<section class="run" data-run="{RUN}">.*?data-model-downloads>(.*?)</ul>', html, re.S)
    assert downloads and "saved_model.pb" in downloads.group(1), downloads and downloads.group(0)[-2000:]


def wait_for_job(api: str, job: str, state: str, timeout: float) -> dict[str, Any]:
    """The job's JSON once it reaches `state`; fails at once when it failed, or after `timeout` s."""
    deadline, view = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        answer = requests.get(f"{api}/v1/jobs/{job}", timeout=30)
        view = answer.json() if answer.status_code == 200 else None
        if view and view["state"] == state:
            return view
        if view and view["state"] in ("failed", "cancelled"):
            errors = {s["stage"]: s["error"] for s in view["stages"] if s["error"]}
            raise AssertionError(f"job {job} {view['state']}: {errors}")
        time.sleep(2)
    shown = {s["stage"]: (s["state"], s["progress"]) for s in view["stages"]} if view else None
    raise AssertionError(f"job {job} not {state} after {timeout:g} s: {shown}")


class Stack:
    """deploy/local/stack.sh on a folder, a bucket and ports of this test's own."""

    def __init__(self, folder: Path, infra: dict[str, str], loopback_host: str) -> None:
        self.folder = folder
        self.token = secrets.token_urlsafe(24)
        http, gateway = free_ports(HTTP_SERVICES), free_ports(1)
        self.http_ports = {name: http + i for i, name in enumerate(["collect", "convert", "records", "train"])}
        self.http_ports |= {name: http + 4 + i for i, name in enumerate(DOWNLOADERS)}
        self.gateway = f"http://127.0.0.1:{gateway}"
        bucket = f"test-stack-{uuid.uuid4().hex[:12]}"
        self.env = {name: value for name, value in os.environ.items() if not name.startswith("TRANSFERLINE_")}
        self.env |= {name: os.environ[name] for name in KEPT if name in os.environ}
        self.env |= {
            "TRANSFERLINE_STACK_DIR": str(folder),
            "TRANSFERLINE_BUCKET": bucket,
            "TRANSFERLINE_API_TOKEN": self.token,
            "TRANSFERLINE_HTTP_PORT": str(http),
            "TRANSFERLINE_GATEWAY_PORT": str(gateway),
            "TRANSFERLINE_DOWNLOAD_ALLOW_NETWORKS": "127.0.0.0/8",  # the loopback image host
            "TRANSFERLINE_CHECKPOINT_ALLOW_NETWORKS": "127.0.0.0/8",  # the base checkpoint, from the same host
            "TRANSFERLINE_OPENVERSE_URL": loopback_host,  # never asked (the job names no query), never the internet
            "TRANSFERLINE_WIKIMEDIA_URL": loopback_host,
        }
        self.store: Store = open_store(Settings.from_env({**infra, "TRANSFERLINE_BUCKET": bucket}))

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def run(self, command: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(STACK), command], env=self.env, cwd=REPO, capture_output=True, text=True, timeout=timeout
        )

    def up(self) -> None:
        done = self.run("up")
        assert done.returncode == 0, done.stderr[-4000:]
        for name in ["gateway", *self.http_ports]:
            assert f"{name} ready" in done.stderr, done.stderr

    def pids(self) -> dict[str, int]:
        return {path.stem: int(path.read_text()) for path in sorted(self.folder.glob("*.pid"))}

    def metrics(self, name: str) -> str:
        answer = requests.get(f"http://127.0.0.1:{self.http_ports[name]}/metrics", timeout=10)
        answer.raise_for_status()
        return answer.text

    def show_logs(self) -> None:
        """The tail of every service's log, for the failure report (pytest shows what a failed test printed)."""
        for log in sorted(self.folder.glob("*.log")):
            print(f"----- {log} (last 40 lines) -----")
            print("\n".join(log.read_text(errors="replace").splitlines()[-40:]))


def handled(text: str, stage: str, outcome: str) -> float:
    """transferline_events_handled_total{stage, outcome} in one service's /metrics."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if sample.name == "transferline_events_handled_total" and labels == {"stage": stage, "outcome": outcome}:
                return sample.value
    return 0.0


def busy_groups(bootstrap: str, groups: list[str]) -> dict[str, int]:
    """Consumer groups (the stages' names) that have members now: another stack or test on the same Kafka."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    try:
        existing = {each["group_id"] for each in admin.list_groups()}
        present = [group for group in groups if group in existing]
        described = admin.describe_groups(present) if present else {}
        return {name: len(group["members"]) for name, group in described.items() if group["members"]}
    finally:
        admin.close()


def free_ports(count: int) -> int:
    """The first of `count` consecutive ports free on loopback now (the stack gives its services base + i), below
    the kernel's ephemeral range so no outgoing connection takes one meanwhile."""
    for _ in range(200):
        base = 20000 + secrets.randbelow(12000)
        with ExitStack() as sockets:
            try:
                for i in range(count):
                    sockets.enter_context(socket.socket()).bind(("127.0.0.1", base + i))
            except OSError:
                continue
            return base
    raise AssertionError(f"no {count} consecutive free ports on 127.0.0.1")


def alive(pid: int) -> bool:
    """A process with this pid runs a transferline command (a pid reused since by another program does not count)."""
    try:
        return "transferline" in Path(f"/proc/{pid}/cmdline").read_text(errors="replace")
    except OSError:
        return False


def load_sample_host() -> ModuleType:
    """deploy/local/sample_host.py (the demo's loopback image host and model zoo) is a script's module, not a
    package's: loaded from its file."""
    spec = importlib.util.spec_from_file_location("sample_host", REPO / "deploy" / "local" / "sample_host.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up there
    spec.loader.exec_module(module)
    return module
