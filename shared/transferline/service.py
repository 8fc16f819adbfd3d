"""Running one stage as a service: logs, clients, health endpoints, then the runner's loop."""

from __future__ import annotations

import logging

from transferline import logs
from transferline.bus import open_bus
from transferline.metrics import HealthServer
from transferline.runner import Runner
from transferline.settings import Settings
from transferline.stages import load_stage
from transferline.store import open_store

log = logging.getLogger(__name__)


def serve(stage_ref: str, settings: Settings, max_events: int | None = None) -> int:
    """Serve a stage until SIGTERM (or `max_events` messages). Bad settings fail here, before any work."""
    stage = load_stage(stage_ref)()  # an unknown stage is the command's error to print, before logging is set up
    logs.configure(settings.log_level, settings.log_format)
    store = open_store(settings)
    bus = open_bus(settings)
    runner = Runner(stage=stage, settings=settings, bus=bus, store=store)
    health = HealthServer(settings.http_host, settings.http_port, ready=lambda: runner.ready).start()
    log.info("serving", extra={"stage": stage.name, "bus": settings.bus, "store": settings.store})
    try:
        return runner.run(max_events=max_events)
    finally:
        health.stop()
        bus.close()
