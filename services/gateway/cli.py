"""`transferline gateway`: the REST API and web UI under gunicorn. Flask and gunicorn load only when it runs."""

from __future__ import annotations

import argparse
import os
import shutil
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transferline.settings import Settings

METRICS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = commands.add_parser("gateway", help="serve the REST API and web UI (gunicorn)")
    p.add_argument("--host", help="address to listen on (default: TRANSFERLINE_HTTP_HOST)")
    p.add_argument("--port", type=int, help="port (default: TRANSFERLINE_GATEWAY_PORT, 8000)")
    p.add_argument("--workers", type=int, help="worker processes (default: TRANSFERLINE_GATEWAY_WORKERS, 2)")
    p.set_defaults(command=gateway_command)


def gateway_command(args: argparse.Namespace) -> int:
    from transferline import logs
    from transferline_gateway.settings import GatewaySettings, with_token

    settings, generated = with_token(GatewaySettings.from_env())
    _share_metrics(settings)
    from transferline_gateway.server import Server  # after _share_metrics: it loads prometheus-client

    if generated:  # printed once, by the master, so all workers share it
        print(f"TRANSFERLINE_API_TOKEN={settings.api_token.get_secret_value()}  (generated for this run)", flush=True)
    logs.configure(settings.log_level, settings.log_format)
    host = args.host or settings.http_host
    Server(settings, f"{host}:{args.port or settings.gateway_port}", args.workers or settings.gateway_workers).run()
    return 0


def _share_metrics(settings: Settings) -> None:
    """gunicorn's workers are processes: prometheus-client's multiprocess mode makes /metrics sum all of them. It
    reads the folder when first imported, so this runs before the app is loaded."""
    folder = settings.data_dir / "gateway-metrics" / str(os.getpid())
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    os.environ[METRICS_VARIABLE] = str(folder)
