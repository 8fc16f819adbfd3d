"""The download stage on both backends (embedded, and real Kafka + MinIO): a job's urls.jsonl -> images/ with
manifest, outcomes, summary and the Labelbox import file; progress events and counters; and the job then
converts from the manifest alone (the images are never decoded again: their bytes are spoiled to prove it)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator

import pytest

from tests.support import hostile
from tests.support.exports import labelbox_ndjson
from tests.support.harness import Pipeline, renamed, unique
from tests.support.labels import make_dataset
from transferline import events, keys
from transferline.contracts import UrlRow, rows_jsonl
from transferline.settings import Settings
from transferline_converter.stage import ConvertStage
from transferline_downloader.settings import DownloaderSettings
from transferline_downloader.stage import DownloadStage


@pytest.fixture
def pipeline(backend_settings: Settings) -> Iterator[Pipeline]:
    with Pipeline.open(backend_settings) as pipeline:
        yield pipeline


def downloader() -> DownloadStage:
    """The stage under a name of its own, allowed to reach the loopback host only."""
    named = renamed(DownloadStage)
    type(named).__init__(named, DownloaderSettings(download_allow_networks="127.0.0.1/32"))
    return named


def test_a_job_downloads_then_converts_without_decoding_again(pipeline: Pipeline) -> None:
    stage, job = downloader(), unique("job-")
    dataset = make_dataset(seed=5, images=6)
    pictures = {image.file_name: image.jpeg() for image in dataset.images}
    routes = {f"/{name}": (lambda h, data=data: hostile.reply(h, data)) for name, data in pictures.items()}
    with hostile.serve(routes) as host:
        rows = [UrlRow(url=f"{host.url}/{name}", source="test") for name in pictures]
        rows.append(UrlRow(url=f"{host.url}/gone.jpg", source="test"))
        pipeline.store.put_bytes(keys.urls(job), rows_jsonl(rows))
        pipeline.request(stage.name, job, workers=4)
        pipeline.run_in_thread(stage, max_events=1).join(120)
        [outcome] = pipeline.outcomes(job, 1)

    assert outcome["type"].endswith(".completed"), outcome["data"]
    counters = outcome["data"]["counters"]
    assert counters["urls"] == 7 and counters["ok"] == 6 and counters["failed.http-status"] == 1
    assert set(outcome["data"]["outputs"]) == {"manifest", "outcomes", "summary", "labelbox_import"}
    progress = pipeline.read(events.EVENTS_TOPIC, lambda seen: any(_is_progress(m, job) for m in seen), timeout=30)
    assert any(_is_progress(m, job) for m in progress)
    outcomes = [json.loads(line) for line in pipeline.store.get_bytes(keys.download_outcomes(job)).splitlines()]
    assert [o["url"] for o in outcomes] == [row.url for row in rows]
    digest = {name: hashlib.sha256(data).hexdigest() for name, data in pictures.items()}
    for name, sha in digest.items():
        assert pipeline.store.get_bytes(keys.image(job, sha, "jpg")) == pictures[name]
    imported = json.loads(pipeline.store.get_bytes(keys.labelbox_import(job)))
    assert {row["global_key"] for row in imported} == set(digest.values())

    _spoil_images(pipeline, job, digest.values())
    _convert(pipeline, job, dataset, digest)
    coco = json.loads(pipeline.store.get_bytes(keys.coco(job)))
    sizes = {image["file_name"]: (image["width"], image["height"]) for image in coco["images"]}
    names = {i.file_name: f"{digest[i.file_name][:2]}/{digest[i.file_name]}.jpg" for i in dataset.images}
    assert sizes == {names[i.file_name]: (i.width, i.height) for i in dataset.images}


def _is_progress(message: dict, job: str) -> bool:
    return message["subject"] == job and message["type"].endswith(".progress")


def _spoil_images(pipeline: Pipeline, job: str, digests) -> None:
    """Overwrite each stored image with bytes no decoder reads: a converter that decoded them would fail."""
    for sha in digests:
        pipeline.store.put_bytes(keys.image(job, sha, "jpg"), b"not a picture any more")


def _convert(pipeline: Pipeline, job: str, dataset, digest: dict[str, str]) -> None:
    """A Labelbox export that names the images by global key (the digest, as labelbox_import.json gave them)
    and says nothing of their sizes."""
    lines = []
    for line in next(iter(labelbox_ndjson.write(dataset).values())).splitlines():
        row = json.loads(line)
        row["data_row"]["global_key"] = digest[row["data_row"]["external_id"]]
        row.pop("media_attributes", None)
        lines.append(json.dumps(row))
    pipeline.store.put_bytes(keys.raw_labels(job, "export.ndjson"), "\n".join(lines).encode())
    stage = renamed(ConvertStage)
    pipeline.request(stage.name, job, near_duplicate_bits=4)
    pipeline.run_in_thread(stage, max_events=1).join(120)
    outcomes = pipeline.outcomes(job, 2)
    assert outcomes[-1]["type"].endswith(".completed"), outcomes[-1]["data"]
