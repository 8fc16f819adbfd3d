"""Log lines are JSON and carry the job, stage and event of the work in hand."""

from __future__ import annotations

import json
import logging

from transferline.logs import JsonFormatter, log_context


def test_json_lines_carry_context_and_extra_fields():
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "stage %s", ("done",), None)
    record.counters = {"images": 3}
    with log_context(job_id="j1", stage="download", event_id="e1"):
        line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "stage done" and line["level"] == "INFO"
    assert (line["job_id"], line["stage"], line["event_id"]) == ("j1", "download", "e1")
    assert line["counters"] == {"images": 3}


def test_context_ends_with_its_block():
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "m", (), None)
    with log_context(job_id="j1"):
        pass
    assert "job_id" not in json.loads(JsonFormatter().format(record))
