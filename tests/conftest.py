"""Shared fixtures: settings for each backend. Real Kafka and MinIO come from `make infra-up`."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from transferline.settings import Settings, read_env_file

REPO = Path(__file__).resolve().parents[1]
INFRA_ENV = Path(os.environ.get("TRANSFERLINE_INFRA_DIR", REPO / "var" / "infra")) / "infra.env"


def read_infra_env() -> dict[str, str]:
    """The variables `deploy/local/infra.sh up` wrote; a clear failure (not a skip) when it has not run."""
    if not INFRA_ENV.exists():
        pytest.fail(f"real Kafka and MinIO are not running ({INFRA_ENV} missing): run `make infra-up` first")
    return read_env_file(INFRA_ENV)


@pytest.fixture
def embedded_settings(tmp_path: Path) -> Settings:
    return Settings(
        bus="embedded",
        store="filesystem",
        data_dir=tmp_path / "data",
        http_port=0,
        retry_base_seconds=0.01,
        retry_cap_seconds=0.05,
        poll_seconds=0.05,
    )


@pytest.fixture
def infra_settings(tmp_path: Path) -> Settings:
    """Real Kafka + MinIO, with a fresh bucket and topic prefix-free run id so tests do not see each other."""
    env = read_infra_env()
    env["TRANSFERLINE_BUCKET"] = f"test-{uuid.uuid4().hex[:12]}"
    env["TRANSFERLINE_DATA_DIR"] = str(tmp_path / "data")
    fast = {"http_port": 0, "retry_base_seconds": 0.01, "retry_cap_seconds": 0.05, "poll_seconds": 0.05}
    return Settings.from_env(env).model_copy(update=fast)


@pytest.fixture(params=["embedded", pytest.param("infra", marks=pytest.mark.infra)])
def backend_settings(request: pytest.FixtureRequest) -> Settings:
    """Parametrises a test over both backends: embedded (log + filesystem) and real Kafka + MinIO."""
    return request.getfixturevalue(f"{request.param}_settings")
