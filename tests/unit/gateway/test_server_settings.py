"""gunicorn takes its workers and its worker timeout from the gateway's settings."""

from __future__ import annotations

import pytest

from transferline.errors import ConfigurationError
from transferline_gateway.server import Server
from transferline_gateway.settings import GatewaySettings


def test_gunicorn_gets_the_timeout_and_workers_from_settings(tmp_path):
    variables = {"TRANSFERLINE_GATEWAY_TIMEOUT_SECONDS": "42", "TRANSFERLINE_GATEWAY_WORKERS": "3"}
    settings = GatewaySettings.from_env({**variables, "TRANSFERLINE_DATA_DIR": str(tmp_path)})
    server = Server(settings, "127.0.0.1:0", settings.gateway_workers)
    assert (server.cfg.timeout, server.cfg.workers) == (42, 3)


def test_the_default_timeout_fits_a_large_upload(tmp_path):
    server = Server(GatewaySettings(data_dir=tmp_path), "127.0.0.1:0", 1)
    assert server.cfg.timeout == 300


def test_a_timeout_too_short_for_any_request_stops_the_gateway_at_start():
    with pytest.raises(ConfigurationError, match="TRANSFERLINE_GATEWAY_TIMEOUT_SECONDS"):
        GatewaySettings.from_env({"TRANSFERLINE_GATEWAY_TIMEOUT_SECONDS": "0"})
