"""/healthz (the process answers), /readyz (bus and store reachable), /metrics (Prometheus)."""

from __future__ import annotations

import logging
import os

from flask import Blueprint, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from transferline import events, keys
from transferline.errors import TransientError
from transferline_gateway.clients import Clients

log = logging.getLogger(__name__)
REQUESTS = Counter(
    "transferline_gateway_requests_total", "HTTP requests answered, by route and status", ["endpoint", "status"]
)


def _registry() -> CollectorRegistry:
    """Every worker's metrics under gunicorn (`transferline gateway` sets the folder), else this process's."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    return registry


def health_blueprint(clients: Clients) -> Blueprint:
    health = Blueprint("health", __name__)

    @health.get("/healthz")
    def healthz() -> Response:
        return Response("ok\n", mimetype="text/plain")

    @health.get("/readyz")
    def readyz() -> Response:
        try:
            clients.store.stat(keys.jobs_index() + "readyz")
            clients.bus.ensure_topics([events.EVENTS_TOPIC])
        except TransientError as exc:
            log.warning("not ready", extra={"error": str(exc)})
            return Response("not ready\n", status=503, mimetype="text/plain")
        return Response("ready\n", mimetype="text/plain")

    @health.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(_registry()), mimetype=CONTENT_TYPE_LATEST)

    return health
