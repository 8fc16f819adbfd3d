"""Test helpers: run a stage in a thread, publish requests, read back what the bus carried."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
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

    @classmethod
    def open(cls, settings: Settings) -> Pipeline:
        store = open_store(settings)
        store.ensure_bucket()
        return cls(settings, open_bus(settings), store)

    def runner(self, stage: Stage) -> Runner:
        return Runner(stage=stage, settings=self.settings, bus=open_bus(self.settings), store=self.store)

    def run_in_thread(self, stage: Stage, max_events: int) -> threading.Thread:
        runner = self.runner(stage)
        thread = threading.Thread(target=runner.run, kwargs={"max_events": max_events}, daemon=True)
        thread.start()
        return thread

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
