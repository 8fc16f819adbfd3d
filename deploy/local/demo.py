"""`make run`: the whole product on the bundled, generated sample, embedded (SQLite event log + folder store),
with nothing leaving the machine.

It plays the internet on loopback (deploy/local/sample_host.py), starts one service per stage, and drives one
job as a person would with the CLI: upload a URL list, publish one `collect` request (an Openverse query + the
list) whose plan is download, convert, records, train, and which waits for labels after download; then, standing
in for the people who label in Labelbox, upload the bundled export (its global keys are the downloaded images'
sha256), which continues the plan: a short CPU fine-tune from a base detector pretrained on a related generated
task (deploy/local/base/). Progress bars follow the stages' events; at the end it prints the detector's mAP@0.5
on the validation split (the trainer's pycocotools result) and where the reports are.

Usage: python deploy/local/demo.py [--steps N] [--from-scratch] [--job ID]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
from progress import Failed, Follower
from sample_host import SampleHost, serve_sample

from transferline import jobs, keys, stages
from transferline.bus import Bus, open_bus
from transferline.settings import Settings
from transferline.store import Store, open_store

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "deploy" / "local" / "sample"
BASE = REPO / "deploy" / "local" / "base" / "base.tar.gz"
CLI = Path(sys.executable).with_name("transferline")  # the one installed beside this Python
SERVICES = ("collect", "download", "convert", "records", "train")
RUN = "run1"
CLASSES = ["bottle", "can"]


def train_options(host: SampleHost, steps: int, from_scratch: bool) -> dict[str, Any]:
    """The tiny RetinaNet at 128 px (CPU-sized), fine-tuned from the base, or the same run from scratch."""
    options: dict[str, Any] = {
        "model": "retinanet_tiny",
        "run": RUN,
        "classes": CLASSES,
        "input_size": 128,
        "batch_size": 8,
        "steps": steps,
        "checkpoint_every": steps,
        "learning_rate": 0.08,
        "warmup_steps": 20,
    }
    if from_scratch:
        return {**options, "from_scratch": True}
    sha256 = (BASE.parent / "base.sha256").read_text().strip()
    return {**options, "base_checkpoint": host.model(BASE), "base_checkpoint_sha256": sha256}


def service_env(data_dir: Path, host: SampleHost) -> dict[str, str]:
    return {
        "TRANSFERLINE_API_TOKEN": secrets.token_urlsafe(24),  # printed, for the web UI's "new job" form
        "TRANSFERLINE_HTTP_HOST": "127.0.0.1",
        "TRANSFERLINE_GATEWAY_PORT": str(free_port()),
        "TRANSFERLINE_BUS": "embedded",
        "TRANSFERLINE_STORE": "filesystem",
        "TRANSFERLINE_DATA_DIR": str(data_dir),
        "TRANSFERLINE_HTTP_PORT": "0",  # several services on one machine: each takes a free port
        "TRANSFERLINE_LOG_FORMAT": "text",
        "TRANSFERLINE_OPENVERSE_URL": host.url,  # the stand-in, as a mirror would be set
        "TRANSFERLINE_OPENVERSE_INTERVAL_SECONDS": "0",
        "TRANSFERLINE_DOWNLOAD_ALLOW_NETWORKS": "127.0.0.0/8",  # the sample host is on loopback, refused by default
        "TRANSFERLINE_CHECKPOINT_ALLOW_NETWORKS": "127.0.0.0/8",  # so is the base checkpoint
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def running_services(env: dict[str, str], logs: Path) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    """`transferline serve <stage>` for every stage and `transferline gateway`, logging to logs/<name>.log; SIGTERM
    (finish the current message or request, then stop) when done."""
    logs.mkdir(parents=True, exist_ok=True)
    started: dict[str, subprocess.Popen[bytes]] = {}
    commands = {stage: ["serve", stage] for stage in SERVICES} | {"gateway": ["gateway", "--workers", "2"]}
    try:
        for name, command in commands.items():
            with (logs / f"{name}.log").open("ab") as log:
                started[name] = subprocess.Popen([str(CLI), *command], env=env, stdout=log, stderr=log)
        yield started
    finally:
        for process in started.values():
            process.send_signal(signal.SIGTERM)
        for process in started.values():
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()


def cli(*args: str) -> None:
    """A `transferline` command, as a person would type it (its output shown)."""
    if subprocess.run([str(CLI), *args]).returncode:
        raise Failed(f"`transferline {' '.join(args)}` failed")


def main() -> int:
    args = parse_args()
    data_dir = Path(os.environ.get("TRANSFERLINE_DATA_DIR", REPO / "var" / "demo")).resolve()
    job = args.job or jobs.new_job_id()
    started = time.monotonic()
    with serve_sample(SAMPLE, BASE) as host:
        env = {**os.environ, **service_env(data_dir, host)}
        os.environ.update(env)  # this process publishes and follows on the same bus and store
        settings = Settings.from_env()
        stages.load_all()  # registers every stage's events, so the follower can read them
        work = data_dir / "demo" / job
        work.mkdir(parents=True, exist_ok=True)
        urls = work / "urls.txt"
        urls.write_text(host.resolve((SAMPLE / "urls.txt").read_text()))
        request = work / "request.json"
        request.write_text(json.dumps(job_request(host, args.steps, args.from_scratch), indent=1))
        print(f"job {job}: collect '{host.query}' on Openverse (played locally) and a URL list, download, label,")
        print(f"  convert, records, train (request: {request}; service logs: {data_dir / 'logs'})")
        with running_services(env, data_dir / "logs") as services:
            page = f"http://127.0.0.1:{env['TRANSFERLINE_GATEWAY_PORT']}/jobs/{job}"
            print(f"job page (the gateway, while the demo runs): {page}")
            print(f"  API token for its forms: {env['TRANSFERLINE_API_TOKEN']}")
            bus = open_bus(settings)
            try:
                run_job(bus, job, request, urls, services)
                show_page(page, job)
            except Failed as exc:
                print(f"\nerror: {exc}\nservice logs: {data_dir / 'logs'}", file=sys.stderr)
                return 1
            finally:
                bus.close()
    store = open_store(settings)
    report(store, job, time.monotonic() - started)
    return 0


def run_job(bus: Bus, job: str, request: Path, urls: Path, services: dict[str, subprocess.Popen[bytes]]) -> None:
    follower = Follower(bus, job, services)  # subscribed before the first request, so it misses nothing
    cli("upload", job, "--urls", str(urls))
    cli("publish", "collect", "--job", job, "--payload", str(request), "--wait-for-labels")
    follower.until("download")
    print("labelling: the bundled Labelbox export stands in for the people (its global keys = the images' sha256)")
    cli("upload", job, "--export", str(SAMPLE / "export.ndjson"))  # the saved plan continues at convert
    follower.until("train")


def show_page(page: str, job: str) -> None:
    """The finished job's page, fetched from the gateway as a browser would: proof it served the whole story."""
    try:
        answer = requests.get(page, timeout=30)
    except requests.RequestException as exc:
        raise Failed(f"the gateway did not answer {page}: {exc}") from None
    if answer.status_code != 200 or job not in answer.text:
        raise Failed(f"the gateway answered {page} with HTTP {answer.status_code}")
    print(f"the gateway served the job page: {page} (HTTP 200, {len(answer.content)} bytes)")


def job_request(host: SampleHost, steps: int, from_scratch: bool) -> dict[str, Any]:
    """The whole job as one collect request and its plan; the job pauses after download for the labels."""
    return {
        "queries": [host.query],
        "providers": ["openverse"],
        "max_per_query": 20,
        "plan": [
            {"stage": "download", "options": {"workers": 8}},
            {"stage": "convert", "options": {"split": {"train": 0.7, "val": 0.3}, "seed": 0}},
            {"stage": "records", "options": {"num_shards": 1}},
            {"stage": "train", "options": train_options(host, steps, from_scratch)},
        ],
    }


def report(store: Store, job: str, seconds: float) -> None:
    metrics = json.loads(store.get_bytes(keys.model_metrics(job, RUN)))
    training = metrics["training"]
    how = "from scratch" if training["transfer"] is None else "fine-tuned from the base detector"
    print(f"\nmAP@0.5 = {metrics['ap50']:.2f}")
    print(
        f"  {how}, {training['step']} steps; pycocotools on the {metrics['images']} validation images "
        f"(mAP@[.5:.95] {metrics['ap']:.2f}; per class AP@0.5 "
        + ", ".join(f"{name} {value:.2f}" for name, value in metrics["per_class_ap50"].items())
        + ")"
    )
    print(f"label report:   {store.local_path(keys.label_report_text(job))}")
    print(f"evaluation:     {store.local_path(keys.model_metrics(job, RUN))} (+ pr_curves.png)")
    print(f"predictions:    {folder(store, keys.model_predictions(job, RUN) + '00.jpg')}")
    print(f"detector:       {folder(store, keys.model_saved_model(job, RUN) + 'saved_model.pb')} (SavedModel)")
    print(f"job {job} done in {seconds / 60:.1f} min; `transferline status {job}` shows every stage")


def folder(store: Store, key: str) -> str:
    """The local folder holding the object at `key` (the store is a folder tree in the embedded mode)."""
    path = store.local_path(key)
    return f"{path.parent}/" if path else key.rpartition("/")[0] + "/"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=120, help="train steps (120: see deploy/local/base/README.md)")
    parser.add_argument("--from-scratch", action="store_true", help="the same run without the base detector")
    parser.add_argument("--job", help="job id (default: a new one)")
    return parser.parse_args()


if __name__ == "__main__":
    sys.exit(main())
