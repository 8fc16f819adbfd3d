"""The gateway under gunicorn, configured in code (gunicorn.app.base.BaseApplication), not by a config file."""

from __future__ import annotations

import os
from typing import Any

from gunicorn.app.base import BaseApplication

from transferline_gateway.app import create_app
from transferline_gateway.settings import GatewaySettings


def _forget_worker_metrics(_server: object, worker: Any) -> None:
    """A dead worker's live gauges must not count (its counters still do)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


class Server(BaseApplication):  # type: ignore[misc]
    def __init__(self, settings: GatewaySettings, bind: str, workers: int) -> None:
        self.settings = settings
        self.options = {
            "bind": bind,
            "workers": workers,
            "timeout": settings.gateway_timeout_seconds,  # a sync worker holds one request: an upload must fit
            "preload_app": True,  # a bad setting stops the master at start; clients still open per worker
            "accesslog": None,
            "child_exit": _forget_worker_metrics,
            "control_socket_disable": True,  # one fixed path per user: a second gateway on the host would clash
        }
        super().__init__()

    def load_config(self) -> None:
        for name, value in self.options.items():
            self.cfg.set(name, value)

    def load(self) -> Any:
        return create_app(self.settings)
