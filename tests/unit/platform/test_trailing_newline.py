"""Every pattern guarding an id, key part or event attribute matches the whole text: `$` alone would also accept
a trailing newline, and `--job $'x\\n'` once got past publish into a key the store refuses."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from transferline import events, keys
from transferline.errors import InvalidInput
from transferline.jobs import build_request

SHA = "ab" + "0" * 62
ID_CHARS = st.text("abcXYZ019._-", max_size=20)
valid_ids = st.builds(str.__add__, st.sampled_from("aZ7"), ID_CHARS).filter(lambda value: ".." not in value)


@given(valid_ids, st.sampled_from(["\n", "\r\n", "\n\n", " \n"]))
def test_a_valid_id_followed_by_a_newline_is_refused(job: str, end: str) -> None:
    assert keys.check_id(job) == job
    with pytest.raises(InvalidInput, match="is not allowed"):
        keys.check_id(job + end)
    with pytest.raises(InvalidInput):
        keys.stage_status(job + end, "convert")
    with pytest.raises(InvalidInput):
        keys.model(job, job + end, "x")


def test_digests_with_a_trailing_newline_are_refused() -> None:
    with pytest.raises(InvalidInput, match="sha256"):
        keys.image("j1", SHA + "\n", "jpg")
    with pytest.raises(InvalidInput, match="sha256"):
        keys.checkpoint_cache(SHA + "\n", "model.tar.gz")


def envelope(**changes: object) -> bytes:
    type_ = events.event_type("nlstage", "requested")
    raw = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "tests",
        "type": type_,
        "subject": "job-1",
        "time": datetime.now(UTC).isoformat(),
        "dataschema": events.schema_uri(type_, 1),
        "data": {},
        **changes,
    }
    return json.dumps(raw).encode()


@pytest.fixture(autouse=True)
def _stage() -> None:
    from transferline.payloads import StageRequest

    events.REGISTRY.register_stage("nlstage", StageRequest)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"subject": "job-1\n"}, "subject"),
        ({"type": events.event_type("nlstage", "requested") + "\n"}, "type"),
        ({"traceparent\n": "x"}, "extension attribute"),
    ],
)
def test_envelopes_with_a_trailing_newline_are_invalid(changes: dict[str, object], field: str) -> None:
    assert events.parse_event(envelope()).job_id == "job-1"
    with pytest.raises(InvalidInput, match=field):
        events.parse_event(envelope(**changes))


def test_a_stage_name_with_a_trailing_newline_cannot_register() -> None:
    from transferline.payloads import StageRequest

    with pytest.raises(InvalidInput, match="stage name"):
        events.REGISTRY.register_stage("convert\n", StageRequest)


def test_publish_refuses_a_job_id_ending_in_a_newline() -> None:
    with pytest.raises(InvalidInput, match="job id"):
        build_request("convert", "x\n", {})
