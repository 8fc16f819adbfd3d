"""The event contract: valid events pass, malformed ones are refused with the offending field named."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from transferline import events, stages
from transferline.errors import InvalidInput
from transferline_recorder.request import RecordsRequested

INSTALLED = [stage.name for stage in stages.load_all()]


def valid(**changes) -> dict:
    event = events.make_event("records", "requested", "job-1", {"num_shards": 2}, "tests")
    return {**json.loads(event.to_json()), **changes}


def test_a_valid_request_round_trips_with_its_typed_payload():
    event = events.parse_event(json.dumps(valid()).encode())
    assert isinstance(event.payload, RecordsRequested)
    assert event.payload.num_shards == 2
    assert (event.stage, event.kind, event.job_id, event.topic) == (
        "records",
        "requested",
        "job-1",
        "transferline.records",
    )


def test_outcomes_go_to_the_events_topic():
    event = events.make_event(
        "convert", "progress", "job-1", {"stage": "convert", "request_id": "r", "done": 3}, "tests"
    )
    assert event.topic == events.EVENTS_TOPIC
    assert event.envelope.dataschema == "urn:transferline:schema:transferline.convert.progress:v1"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"specversion": "0.3"}, "specversion"),
        ({"id": ""}, "id"),
        ({"subject": "../etc"}, "subject"),
        ({"time": "yesterday"}, "time"),
        ({"time": "2026-01-01T00:00:00"}, "time"),
        ({"type": "transferline.collect"}, "type"),
        ({"data": {"num_shards": "many"}}, "data.num_shards"),
        ({"data": {"num_shards": 2, "limit": 3}}, "data.limit"),
        ({"data": {"plan": [{"options": {}}]}}, "data.plan.0.stage"),
        ({"Bad-Ext": 1}, "Bad-Ext"),
    ],
)
def test_malformed_events_are_refused_naming_the_field(changes, field):
    with pytest.raises(InvalidInput) as refused:
        events.parse_event(json.dumps(valid(**changes)).encode())
    assert field in str(refused.value)


def test_missing_fields_are_each_named():
    with pytest.raises(InvalidInput) as refused:
        events.parse_event(b'{"specversion": "1.0"}')
    for field in ("id", "source", "type", "subject", "time", "dataschema", "data"):
        assert f"{field}: Field required" in str(refused.value)


def test_unknown_type_and_unsupported_schema_version_are_refused():
    with pytest.raises(InvalidInput, match=r"unknown event type 'transferline\.paint\.requested'"):
        events.parse_event(json.dumps(valid(type="transferline.paint.requested")).encode())
    with pytest.raises(InvalidInput, match="v9' is not supported"):
        events.parse_event(json.dumps(valid(dataschema=valid()["dataschema"].replace("v1", "v9"))).encode())


def test_not_json_at_all_is_refused_cleanly():
    with pytest.raises(InvalidInput, match="Invalid JSON"):
        events.parse_event(b"\x00\xff{")


def test_extension_attributes_named_as_the_spec_says_are_kept():
    event = events.parse_event(json.dumps(valid(traceparent="00-abc")).encode())
    assert event.envelope.model_extra == {"traceparent": "00-abc"}


def test_every_event_type_has_a_json_schema_that_names_its_version():
    schemas = events.json_schemas()
    assert {"convert", "records", "train"} <= set(INSTALLED)  # and whichever other services are installed
    for stage in INSTALLED:
        for kind in events.KINDS:
            assert schemas[events.event_type(stage, kind)]["$id"].endswith(":v1")
    assert "num_shards" in schemas["transferline.records.requested"]["properties"]
    assert schemas["envelope"]["required"] == ["id", "source", "type", "subject", "time", "dataschema", "data"]


@given(st.dictionaries(st.text(max_size=10), st.one_of(st.integers(), st.text(max_size=10)), max_size=5))
def test_arbitrary_data_never_crashes_validation(data):
    raw = json.dumps(valid(data=data)).encode()
    try:
        event = events.parse_event(raw)
    except InvalidInput as refused:
        assert str(refused).startswith("invalid event: data")
    else:
        assert isinstance(event.payload, RecordsRequested)
