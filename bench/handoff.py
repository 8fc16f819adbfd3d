"""Stage hand-off latency: time from publishing a request to the stage's handle() starting.

Runs the real runner against real Kafka + MinIO (from `make infra-up`) and against the embedded log +
filesystem store, one request at a time (no queueing), and prints p50/p99 for each side by side.
Usage: python -m bench.handoff [--events 1000]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path

from transferline import events
from transferline.bus import open_bus
from transferline.payloads import StageRequest
from transferline.runner import Runner
from transferline.settings import Settings, read_env_file
from transferline.stage import Stage, StageContext, StageResult
from transferline.store import open_store

INFRA_ENV = Path(__file__).resolve().parents[1] / "var" / "infra" / "infra.env"


class ProbeRequested(StageRequest):
    seq: int


class Probe(Stage[ProbeRequested]):
    """Notes when handle() starts for each request; does no work of its own."""

    name = "probe"
    Request = ProbeRequested

    def __init__(self) -> None:
        self.started: dict[int, float] = {}
        self.arrived = threading.Event()

    def handle(self, request: ProbeRequested, ctx: StageContext) -> StageResult:
        self.started[request.seq] = time.perf_counter()
        self.arrived.set()
        return StageResult()


def measure(settings: Settings, count: int, warmup: int = 20) -> list[float]:
    """Latencies in milliseconds, one request in flight at a time."""
    stage = type("Probe", (Probe,), {"name": f"probe{uuid.uuid4().hex[:8]}"})()
    store = open_store(settings)
    store.ensure_bucket()
    runner = Runner(stage=stage, settings=settings, bus=open_bus(settings), store=store)
    thread = threading.Thread(target=runner.run, kwargs={"max_events": count + warmup}, daemon=True)
    thread.start()
    publisher = open_bus(settings)
    publisher.ensure_topics([events.request_topic(stage.name), events.EVENTS_TOPIC, events.DLQ_TOPIC])
    while not runner.ready:  # only time hand-offs to a runner that is already consuming
        if not thread.is_alive():
            raise RuntimeError("the runner stopped before it was ready")
        time.sleep(0.05)
    latencies = []
    for seq in range(count + warmup):
        event = events.make_event(stage.name, "requested", f"bench-{seq}", {"seq": seq}, "bench")
        stage.arrived.clear()
        sent = time.perf_counter()
        publisher.publish(event.topic, event.job_id, event.to_json())
        if not stage.arrived.wait(60):
            raise RuntimeError(f"request {seq} was not handled within 60 s")
        if seq >= warmup:
            latencies.append((stage.started[seq] - sent) * 1000)
    thread.join(60)
    publisher.close()
    return latencies


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = {"http_port": 0, "data_dir": Path(tmp), "poll_seconds": 0.5, "log_level": "WARNING"}
        kafka = Settings.from_env(read_env_file(INFRA_ENV)).model_copy(
            update={**base, "bucket": f"bench-{uuid.uuid4().hex[:8]}"}
        )
        embedded = Settings(**base)
        rows = {"kafka + minio": measure(kafka, args.events), "embedded": measure(embedded, args.events)}
    print(f"stage hand-off latency, publish -> handle() starts, {args.events} events each, one in flight")
    print(f"{'backend':<16}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    for name, values in rows.items():
        print(f"{name:<16}{percentile(values, 50):>10.2f}{percentile(values, 99):>10.2f}{max(values):>10.2f}")
    ratio = percentile(rows["kafka + minio"], 50) / percentile(rows["embedded"], 50)
    print(f"kafka p50 / embedded p50 = {ratio:.2f}")


if __name__ == "__main__":
    main()
