"""The gateway app over each backend, with a pipeline to run real stages beside it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from flask.testing import FlaskClient

from tests.support.harness import Pipeline
from transferline.settings import Settings
from transferline_gateway.app import create_app
from transferline_gateway.settings import GatewaySettings

TOKEN = "test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@dataclass
class Gateway:
    client: FlaskClient
    pipeline: Pipeline
    settings: GatewaySettings


def open_gateway(settings: Settings, **gateway: object) -> GatewaySettings:
    """Gateway settings over the test's backend settings."""
    return GatewaySettings.model_validate({**dict(settings), "api_token": TOKEN, **gateway})


@pytest.fixture
def gw(backend_settings: Settings) -> Iterator[Gateway]:
    settings = open_gateway(backend_settings)
    with Pipeline.open(backend_settings) as pipeline:
        yield Gateway(create_app(settings).test_client(), pipeline, settings)
