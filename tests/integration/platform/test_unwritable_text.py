"""Uploads whose text cannot be written as UTF-8 (JSON escapes of lone surrogates) fail their job, readably, and the
convert service goes on: the error quoting them still reaches the status document and the `.failed` event."""

from __future__ import annotations

import json

import pytest

from tests.support.exports import labelbox_ndjson
from tests.support.harness import Pipeline, renamed, store_images, unique
from tests.support.labels import make_dataset
from transferline import keys, status
from transferline_converter.stage import ConvertStage

# The JSON escapes stay as written in the file: json.loads turns them into lone surrogates.
EXPORTS = {
    "ndjson": ("export.ndjson", b'{"data_row": {"id": "\\ud83d"}}\n'),
    "legacy-json": ("export.json", b'[{"ID": "\\udead", "Label": {}}]'),
}


@pytest.mark.parametrize("case", sorted(EXPORTS))
def test_an_export_holding_lone_surrogates_fails_its_job_and_the_next_job_converts(backend_settings, case) -> None:
    pipeline = Pipeline.open(backend_settings)
    stage, bad, good = renamed(ConvertStage), unique("job-"), unique("job-")
    name, export = EXPORTS[case]
    pipeline.store.put_bytes(keys.raw_labels(bad, name), export)
    dataset = make_dataset(seed=5, images=3)
    store_images(pipeline.store, good, {image.file_name: image.jpeg() for image in dataset.images})
    for export_name, data in labelbox_ndjson.write(dataset).items():
        pipeline.store.put_bytes(keys.raw_labels(good, export_name), data)
    pipeline.request(stage.name, bad)
    pipeline.request(stage.name, good)
    thread = pipeline.run_in_thread(stage, max_events=2)
    thread.join(120)

    assert not thread.is_alive()
    [failed] = pipeline.outcomes(bad, 1)
    assert failed["type"].endswith(".failed"), failed["data"]
    message = failed["data"]["message"]
    assert "\ufffd" in message  # the export's id is still quoted, its lone surrogate replaced
    recorded = status.read_status(pipeline.store, bad, stage.name)
    assert recorded is not None and recorded.state == "failed" and recorded.error == message
    raw = pipeline.store.get_bytes(keys.stage_status(bad, stage.name))
    assert json.loads(raw)["error"] == message  # strict UTF-8 JSON, no surrogate escapes
    assert "\\ud" not in raw.decode("utf-8").lower()
    [converted] = pipeline.outcomes(good, 1)
    assert converted["type"].endswith(".completed"), converted["data"]
