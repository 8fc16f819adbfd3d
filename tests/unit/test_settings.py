"""Settings come from the environment only; defaults give the embedded mode; bad values stop the start."""

from __future__ import annotations

from pathlib import Path

import pytest

from transferline.errors import ConfigurationError
from transferline.settings import Settings


def test_defaults_are_the_embedded_mode():
    settings = Settings.from_env({})
    assert (settings.bus, settings.store) == ("embedded", "filesystem")


def test_values_are_read_and_typed():
    settings = Settings.from_env(
        {
            "TRANSFERLINE_BUS": "kafka",
            "TRANSFERLINE_TOPIC_PARTITIONS": "6",
            "TRANSFERLINE_RETRY_BASE_SECONDS": "0.25",
            "TRANSFERLINE_DATA_DIR": "/tmp/x",
        }
    )
    assert settings.bus == "kafka" and settings.topic_partitions == 6
    assert settings.retry_base_seconds == 0.25 and settings.data_dir == Path("/tmp/x")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TRANSFERLINE_TOPIC_PARTITIONS": "many"}, "TRANSFERLINE_TOPIC_PARTITIONS='many'"),
        ({"TRANSFERLINE_BUS": "rabbit"}, "TRANSFERLINE_BUS"),
        ({"TRANSFERLINE_STORE": "s3"}, "TRANSFERLINE_S3_ENDPOINT"),
        ({"TRANSFERLINE_TOPIC_PARTITIONS": "0"}, "must be >= 1"),
    ],
)
def test_bad_values_stop_the_service_with_a_clear_message(env, message):
    with pytest.raises(ConfigurationError, match=message.replace("[", r"\[")):
        Settings.from_env(env)
