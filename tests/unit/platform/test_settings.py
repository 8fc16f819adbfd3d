"""Settings come from the environment only; defaults give the embedded mode; bad values stop the start."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import SecretStr

from transferline.cli import main
from transferline.errors import ConfigurationError
from transferline.settings import ServiceSettings, Settings


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
        ({"TRANSFERLINE_TOPIC_PARTITIONS": "many"}, "TRANSFERLINE_TOPIC_PARTITIONS: Input should be a valid integer"),
        ({"TRANSFERLINE_BUS": "rabbit"}, "TRANSFERLINE_BUS"),
        ({"TRANSFERLINE_STORE": "s3"}, "TRANSFERLINE_S3_ENDPOINT"),
        ({"TRANSFERLINE_TOPIC_PARTITIONS": "0"}, "must be >= 1"),
    ],
)
def test_bad_values_stop_the_service_with_a_clear_message(env, message):
    with pytest.raises(ConfigurationError, match=message.replace("[", r"\[")):
        Settings.from_env(env)


class Example(ServiceSettings):
    verbose: bool = True
    limit: int | None = None
    token: SecretStr = SecretStr("")


@pytest.mark.parametrize("source", ["process", "mapping"])
def test_bools_and_optionals_are_typed_from_either_source(source, monkeypatch):
    env = {"TRANSFERLINE_VERBOSE": "false", "TRANSFERLINE_LIMIT": "7", "TRANSFERLINE_TOKEN": "s3cret"}
    if source == "process":
        for name, value in env.items():
            monkeypatch.setenv(name, value)
    found = Example.from_env() if source == "process" else Example.from_env(env)
    assert found.verbose is False and found.limit == 7 and found.token.get_secret_value() == "s3cret"
    shown = {variable: (value, origin, default) for variable, value, origin, default in found.described()}
    assert shown["TRANSFERLINE_TOKEN"] == ("****", "environment", "")
    assert shown["TRANSFERLINE_VERBOSE"] == ("False", "environment", "True")


def test_what_the_caller_does_not_give_comes_from_the_environment_in_any_case(monkeypatch):
    monkeypatch.setenv("TRANSFERLINE_BUS", "kafka")
    monkeypatch.setenv("transferline_topic_partitions", "7")
    monkeypatch.setenv("TRANSFERLINE_NOT_A_SETTING", "ignored")
    given = Settings(bus="embedded", data_dir=Path("/tmp/x"))
    assert (given.bus, given.topic_partitions, given.data_dir) == ("embedded", 7, Path("/tmp/x"))
    assert Settings().model_fields_set == {"bus", "topic_partitions"}
    assert Settings.from_env({"TRANSFERLINE_RETRY_ATTEMPTS": "2"}).bus == "kafka"


def test_a_bad_bool_names_its_variable():
    with pytest.raises(ConfigurationError, match="TRANSFERLINE_VERBOSE: Input should be a valid boolean"):
        Example.from_env({"TRANSFERLINE_VERBOSE": "maybe"})


def test_the_settings_command_lists_platform_and_service_settings_with_their_source(monkeypatch, capsys):
    monkeypatch.setenv("TRANSFERLINE_TOPIC_PARTITIONS", "6")
    monkeypatch.setenv("TRANSFERLINE_LABELBOX_API_KEY", "lb-secret")
    assert main(["settings", "--json"]) == 0
    rows = {row["variable"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["TRANSFERLINE_TOPIC_PARTITIONS"] == {
        "variable": "TRANSFERLINE_TOPIC_PARTITIONS",
        "value": "6",
        "source": "environment",
        "default": "3",
    }
    assert rows["TRANSFERLINE_BUS"]["source"] == "default"
    assert rows["TRANSFERLINE_LABELBOX_API_KEY"]["value"] == "****"  # the converter's, never printed
    assert rows["TRANSFERLINE_PROTECT_READS"]["value"] == "False"  # the gateway's, though it is not a stage


@pytest.mark.parametrize("variable", ["TRANSFERLINE_HTTP_PORT", "TRANSFERLINE_PROTECT_READS"])
def test_a_bad_setting_makes_the_settings_command_exit_2(variable, monkeypatch, capsys):
    monkeypatch.setenv(variable, "eighty")
    assert main(["settings"]) == 2
    assert variable in capsys.readouterr().err
