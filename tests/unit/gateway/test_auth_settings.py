"""The gateway's token: compared in constant time, required in the stack, generated when embedded."""

from __future__ import annotations

import pytest

from transferline.errors import ConfigurationError
from transferline_gateway.auth import token_matches
from transferline_gateway.problems import _renamed
from transferline_gateway.settings import GatewaySettings, with_token


@pytest.mark.parametrize(
    ("header", "expected"),
    [("Bearer s3cret", True), ("bearer s3cret", True), ("Bearer wrong", False), ("Basic s3cret", False),
     ("s3cret", False), ("", False), (None, False), ("Bearer ", False)],
)  # fmt: skip
def test_only_the_right_bearer_token_matches(header, expected):
    assert token_matches(header, "s3cret") is expected


def test_an_empty_token_matches_nothing():
    assert not token_matches("Bearer ", "")


def test_the_stack_refuses_to_start_without_a_token(tmp_path):
    settings = GatewaySettings(bus="kafka", data_dir=tmp_path)
    with pytest.raises(ConfigurationError, match="TRANSFERLINE_API_TOKEN"):
        with_token(settings)


def test_the_embedded_mode_generates_a_token_and_keeps_a_given_one(tmp_path):
    made, generated = with_token(GatewaySettings(data_dir=tmp_path))
    assert generated and len(made.api_token.get_secret_value()) >= 32
    kept, generated = with_token(GatewaySettings(data_dir=tmp_path, api_token="given"))
    assert not generated and kept.api_token.get_secret_value() == "given"


def test_settings_come_from_their_variables():
    settings = GatewaySettings.from_env({"TRANSFERLINE_API_TOKEN": "t", "TRANSFERLINE_PROTECT_READS": "true",
                                         "TRANSFERLINE_MAX_UPLOAD_MB": "3"})  # fmt: skip
    assert settings.protect_reads and settings.max_upload_mb == 3 and settings.api_token.get_secret_value() == "t"


@pytest.mark.parametrize(
    ("field", "renamed"),
    [("data.plan.0.options.steps", "plan.0.options.steps"), ("data.split", "options.split"), ("subject", "job_id"),
     ("stage", "stage")],
)  # fmt: skip
def test_event_fields_are_named_as_the_request_body_names_them(field, renamed):
    assert _renamed(field, {"data.plan.": "plan.", "data.": "options.", "subject": "job_id"}) == renamed
