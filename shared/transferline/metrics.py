"""Prometheus metrics of the stage runner and the /healthz, /readyz, /metrics endpoints of each service."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

log = logging.getLogger(__name__)

EVENTS_HANDLED = Counter(
    "transferline_events_handled_total", "Events taken off the bus, by outcome", ["stage", "outcome"]
)
FAILURES = Counter("transferline_stage_failures_total", "Stage failures, by reason", ["stage", "reason"])
HANDLE_SECONDS = Histogram(
    "transferline_handle_seconds",
    "Time spent in a stage's handle()",
    ["stage"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 1800, 7200),
)
IN_FLIGHT = Gauge("transferline_in_flight", "Requests being handled now", ["stage"])


class HealthServer:
    """A tiny HTTP server in a daemon thread; `ready` is a callable so readiness follows the runner's state."""

    def __init__(self, host: str, port: int, ready: Callable[[], bool]) -> None:
        handler = _handler_class(ready)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="health", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> HealthServer:
        self._thread.start()
        log.info("health endpoints listening", extra={"port": self.port})
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler_class(ready: Callable[[], bool]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/healthz":
                self._send(HTTPStatus.OK, b"ok\n", "text/plain")
            elif self.path == "/readyz":
                status = HTTPStatus.OK if ready() else HTTPStatus.SERVICE_UNAVAILABLE
                self._send(status, b"ready\n" if status == HTTPStatus.OK else b"not ready\n", "text/plain")
            elif self.path == "/metrics":
                self._send(HTTPStatus.OK, generate_latest(), CONTENT_TYPE_LATEST)
            else:
                self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain")

        def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # probes every few seconds would drown the JSON log

    return Handler
