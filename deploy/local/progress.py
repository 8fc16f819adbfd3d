"""Terminal progress for one job: reads the stages' progress, completed and failed events from the events topic
(its own consumer group, so it takes nothing from anyone) and draws a tqdm bar per stage and phase."""

from __future__ import annotations

import subprocess
import time
from typing import Any

from tqdm import tqdm

from transferline import events
from transferline.bus import Bus
from transferline.payloads import StageCompleted, StageFailed, StageProgress

# Counters worth a line when a stage completes (the rest are in `transferline status --json`).
SHOWN = {
    "collect": ("kept", "dropped", "pages"),
    "download": ("ok", "failed", "stored"),
    "convert": ("images", "objects", "errors", "images_train", "images_val"),
    "records": ("train_images", "val_images", "train_shards", "val_shards"),
    "train": ("step", "ap50"),
}

COUNTED = "{desc}{percentage:3.0f}%|{bar:24}| {n_fmt}/{total_fmt} [{elapsed}]{postfix}"
OPEN_ENDED = "{desc}{n_fmt} [{elapsed}]{postfix}"


class Failed(Exception):
    """A stage failed, a service died, or the job took too long."""


class Follower:
    def __init__(self, bus: Bus, job: str, services: dict[str, subprocess.Popen[bytes]]) -> None:
        bus.ensure_topics([events.EVENTS_TOPIC])
        self.consumer = bus.consumer(events.EVENTS_TOPIC, f"demo-{job}")
        self.job, self.services = job, services
        self.bar: tqdm[Any] | None = None
        self.stage: str | None = None

    def until(self, last: str, timeout: float = 1800.0) -> None:
        """Draw progress until stage `last` completes; Failed when any stage fails or a service exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_services()
            for message in self.consumer.poll(0.5, max_messages=50):
                self.consumer.commit(message)
                event = events.parse_event(message.value)
                if event.job_id == self.job and self._show(event) and event.stage == last:
                    return
        raise Failed(f"stage {last} did not finish within {timeout:g} s")

    def _show(self, event: events.Event) -> bool:
        """Draw one event; True when it says a stage completed."""
        payload = event.payload
        if isinstance(payload, StageProgress):
            self._progress(event.stage, payload)
        elif isinstance(payload, StageFailed):
            self._close()
            raise Failed(f"{event.stage} failed ({payload.reason}): {payload.message}")
        elif isinstance(payload, StageCompleted):
            self._close()
            counters = payload.counters
            shown = ", ".join(f"{name} {counters[name]:g}" for name in SHOWN.get(event.stage, ()) if name in counters)
            tqdm.write(f"  {event.stage:<9} done in {payload.seconds:5.1f} s  {shown}")
            return True
        return False

    def _progress(self, stage: str, payload: StageProgress) -> None:
        # A new bar when the count starts again: train counts steps, then the images it evaluates.
        bar = self.bar
        if self.stage != stage or bar is None or bar.total != payload.total or payload.done < bar.n:
            self._close()
            self.stage = stage
            shape = COUNTED if payload.total is not None else OPEN_ENDED
            self.bar = tqdm(total=payload.total, desc=f"  {stage:<9}", bar_format=shape, leave=False)
        assert self.bar is not None
        self.bar.n = payload.done
        loss = payload.metrics.get("total_loss")
        self.bar.set_postfix_str(payload.message + (f", loss {loss:.3f}" if loss is not None else ""))

    def _close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        self.bar, self.stage = None, None

    def _check_services(self) -> None:
        for stage, process in self.services.items():
            if process.poll() is not None:
                self._close()
                raise Failed(f"the {stage} service exited with status {process.returncode}")
