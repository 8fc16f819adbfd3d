"""Any text, lone surrogates included, can be written wherever the platform writes text: status documents, events
(outcomes and dead letters) and JSON log lines. Strict UTF-8 JSON readers read them back."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from transferline import events, status
from transferline.logs import JsonFormatter, log_context
from transferline.payloads import DeadLetter, StageFailed, StageProgress
from transferline.store.filesystem import FilesystemStore
from transferline.text import safe, safe_data

surrogates = st.integers(0xD800, 0xDFFF).map(chr)
# Ordinary text interleaved with surrogates: lone ones, and pairs that together encode one character.
texts = st.lists(st.characters() | surrogates, max_size=30).map("".join)


def strict(data: bytes) -> object:
    """Parse as a strict reader would: UTF-8, and no surrogate escape left in the JSON either."""
    parsed = json.loads(data.decode("utf-8"))
    json.dumps(parsed, ensure_ascii=False).encode("utf-8")
    return parsed


@given(texts)
def test_safe_text_is_utf8_and_keeps_what_was_already_fine(text: str) -> None:
    cleaned = safe(text)
    cleaned.encode("utf-8")
    assert safe(cleaned) == cleaned
    if not any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        assert cleaned is text
    assert len(cleaned) <= len(text)


def test_a_valid_pair_becomes_its_character_and_lone_halves_become_the_replacement_character() -> None:
    assert safe("a\ud83d\ude00b") == "a\U0001f600b"
    assert safe("\ude00\ud83d x \udead") == "\ufffd\ufffd x \ufffd"
    assert safe_data({"k\udead": ["v\ud83d", ("\udead", 1)], "n": None}) == {
        "k\ufffd": ["v\ufffd", ("\ufffd", 1)],
        "n": None,
    }


@settings(deadline=None)  # each example fsyncs a document
@given(message=texts, counter=texts)
def test_any_error_text_can_be_written_in_a_status_document_and_read_back(
    tmp_path_factory, message: str, counter: str
) -> None:
    store = FilesystemStore(tmp_path_factory.mktemp("store"))
    document = status.StageStatus(
        stage="convert",
        job_id="job-1",
        state="failed",
        request_id=str(uuid.uuid4()),
        input_digest="d",
        error=message,
        counters={counter: 1.0},
        outputs={"report": "file:///x" + message},
        started_at=datetime.now(UTC),
    )
    status.write_status(store, document)
    raw = store.get_bytes("jobs/job-1/stages/convert.json")
    assert strict(raw)["error"] == safe(message)
    back = status.read_status(store, "job-1", "convert")
    assert back is not None and back.error == safe(message) and back.counters == {safe(counter): 1.0}


@given(message=texts, source=texts)
def test_any_text_can_be_sent_in_an_outcome_or_a_dead_letter(message: str, source: str) -> None:
    events.REGISTRY.register_stage("textstage", StageFailed)  # the outcomes are what matters here
    built = [
        events.make_event(
            "textstage",
            "failed",
            "job-1",
            StageFailed(stage="textstage", request_id="r", reason="internal-error", message=message),
            "tests/" + source,
        ),
        events.make_event(
            "textstage", "progress", "job-1", StageProgress(stage="textstage", request_id="r", message=message), "t"
        ),
        events.make_event(
            "dlq",
            "dead-letter",
            "unknown",
            DeadLetter(reason=message, source_topic="t", partition=0, offset=0, service="s", original=message),
            "tests",
        ),
    ]
    for event in built:
        wire = event.to_json()
        strict(wire)
        assert events.parse_event(wire).envelope.id == event.envelope.id
    assert built[0].payload.message == safe(message)
    assert built[2].payload.reason == safe(message)


@given(message=texts, field=texts, job=texts)
def test_any_text_can_be_logged_as_a_json_line(message: str, field: str, job: str) -> None:
    record = logging.LogRecord("t", logging.ERROR, __file__, 1, "failed: %s", (message,), None)
    record.error = field
    record.detail = {field: [message]}
    record.path = Path("/tmp") / "x"  # not JSON: shown as text
    with log_context(job_id=job):
        line = strict(JsonFormatter().format(record).encode("utf-8"))
    assert line["message"] == safe(f"failed: {message}")
    assert line["error"] == safe(field) and line["job_id"] == safe(job)
    assert line["detail"] == {safe(field): [safe(message)]}
    assert line["path"] == "/tmp/x"
