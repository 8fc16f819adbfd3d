"""Test helpers: run a stage in a thread, publish requests, read back what the bus carried.

Open a `Pipeline` as a context manager (the integration tests' `pipeline` fixture does): leaving it stops and joins
every runner it started and closes the clients, so no runner thread outlives its test and logs into the next one
(or, after the session, into closed streams).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from transferline import events, jobs, manifest
from transferline.bus import Bus, open_bus
from transferline.runner import Runner
from transferline.settings import Settings
from transferline.stage import Stage
from transferline.store import Store, open_store


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def renamed(stage_class: type[Stage]) -> Stage:
    """A built-in stage under a name of its own, so tests on the shared Kafka never read each other's requests."""
    name = unique(stage_class.name)
    events.REGISTRY.register_stage(name, stage_class.Request)
    return type(f"{stage_class.__name__}_{name}", (stage_class,), {"name": name})()


def store_images(store: Store, job: str, pictures: dict[str, bytes]) -> dict[str, str]:
    """Store images as the downloader would (content-addressed, with the manifest); file name -> store key."""
    return {record.file_name or "": record.key for record in manifest.add_images(store, job, pictures.items())}


@dataclass
class Pipeline:
    """Bus and store clients for one test, on whichever backend its settings name."""

    settings: Settings
    bus: Bus
    store: Store
    started: list[tuple[Runner, threading.Thread]] = field(default_factory=list)

    # How long leaving the pipeline waits for a stopped runner: it finishes the message in hand first.
    STOP_TIMEOUT = 60.0

    @classmethod
    def open(cls, settings: Settings) -> Pipeline:
        store = open_store(settings)
        store.ensure_bucket()
        return cls(settings, open_bus(settings), store)

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close(raise_if_stuck=error is None)

    def runner(self, stage: Stage) -> Runner:
        return Runner(stage=stage, settings=self.settings, bus=open_bus(self.settings), store=self.store)

    def run_in_thread(self, stage: Stage, max_events: int) -> threading.Thread:
        runner = self.runner(stage)
        thread = threading.Thread(
            target=runner.run, kwargs={"max_events": max_events}, name=f"runner-{stage.name}", daemon=True
        )
        self.started.append((runner, thread))
        thread.start()
        return thread

    def close(self, timeout: float = STOP_TIMEOUT, raise_if_stuck: bool = True) -> None:
        """Stop every runner this pipeline started (each finishes the message in hand), join them, close the buses.

        A runner still alive after `timeout` is a bug in a stage or the runner: it is raised (so a fixture's teardown
        errors) rather than left logging on after the test; `raise_if_stuck=False` when an error is already on its
        way out of a `with` block."""
        for runner, _ in self.started:
            runner.stop()
        deadline = time.monotonic() + timeout
        stuck = []
        for runner, thread in self.started:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                stuck.append(thread.name)
            else:
                runner.bus.close()
        self.started.clear()
        self.bus.close()
        if stuck and raise_if_stuck:
            raise RuntimeError(f"runner threads still running {timeout:g} s after stop(): {', '.join(stuck)}")

    def request(self, stage: str, job_id: str, **payload: Any) -> events.Event:
        event = events.make_event(stage, "requested", job_id, payload, "tests")
        jobs.submit(self.bus, event)
        return event

    def read(self, topic: str, until: Callable[[list[dict]], bool], timeout: float = 60.0) -> list[dict]:
        """Messages on `topic` (as JSON) from the start, until `until(messages)` holds or the timeout passes."""
        self.bus.ensure_topics([topic])
        consumer = self.bus.consumer(topic, group=unique("reader-"))
        seen: list[dict] = []
        deadline = time.monotonic() + timeout
        try:
            while not until(seen) and time.monotonic() < deadline:
                seen.extend(json.loads(m.value) for m in consumer.poll(0.2, max_messages=100))
        finally:
            consumer.close()
        return seen

    def outcomes(self, job_id: str, count: int, timeout: float = 60.0) -> list[dict]:
        """The first `count` completed/failed events of a job."""

        def mine(messages: list[dict]) -> list[dict]:
            return [m for m in messages if m["subject"] == job_id and not m["type"].endswith(".progress")]

        return mine(self.read(events.EVENTS_TOPIC, lambda seen: len(mine(seen)) >= count, timeout))
