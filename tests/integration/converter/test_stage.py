"""The convert stage on both backends (real Kafka + MinIO, and embedded): export + stored images -> COCO."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest
from PIL import Image

from tests.support.exports import labelbox_ndjson, yolo
from tests.support.harness import Pipeline, renamed, store_images, unique
from tests.support.labels import GtDataset, GtImage, make_dataset
from transferline import keys, status
from transferline.cli import main
from transferline.settings import Settings
from transferline_converter.stage import ConvertStage


@pytest.fixture
def pipeline(backend_settings: Settings) -> Iterator[Pipeline]:
    """Clients on the test's backend; every runner started through it is stopped and joined when the test ends."""
    with Pipeline.open(backend_settings) as pipeline:
        yield pipeline


def smaller_copy(image: GtImage) -> bytes:
    out = io.BytesIO()
    Image.open(io.BytesIO(image.jpeg())).save(out, "JPEG", quality=55)
    return out.getvalue()


def pictures(dataset: GtDataset) -> dict[str, bytes]:
    """The dataset's images; `copy.jpg` is a re-encoded copy of the first (a near-duplicate)."""
    return {
        image.file_name: smaller_copy(dataset.images[0]) if image.file_name == "copy.jpg" else image.jpeg()
        for image in dataset.images
    }


def dataset_with_a_copy() -> GtDataset:
    dataset = make_dataset(seed=11, images=12)
    first = dataset.images[0]
    dataset.images.append(GtImage("copy.jpg", first.width, first.height, first.seed, list(first.objects)))
    return dataset


def test_stage_converts_an_export_against_stored_images(pipeline: Pipeline) -> None:
    stage, job = renamed(ConvertStage), unique("job-")
    dataset = dataset_with_a_copy()
    stored = store_images(pipeline.store, job, pictures(dataset))
    for name, data in labelbox_ndjson.write(dataset).items():
        pipeline.store.put_bytes(keys.raw_labels(job, name), data)
    pipeline.request(stage.name, job, split={"train": 0.5, "val": 0.25, "test": 0.25}, seed=3)
    pipeline.run_in_thread(stage, max_events=1).join(120)

    [outcome] = pipeline.outcomes(job, 1)
    assert outcome["type"].endswith(".completed"), outcome["data"]
    coco = json.loads(pipeline.store.get_bytes(keys.coco(job)))
    assert len(coco["images"]) == len(dataset.images)
    assert {image["file_name"] for image in coco["images"]} == {
        k.removeprefix(keys.images(job)) for k in stored.values()
    }
    splits = {s: json.loads(pipeline.store.get_bytes(keys.coco(job, s))) for s in ("train", "val", "test")}
    assert sum(len(s["images"]) for s in splits.values()) == len(dataset.images)
    split_of = {i["global_key"]: name for name, split in splits.items() for i in split["images"]}
    assert split_of["copy.jpg"] == split_of[dataset.images[0].file_name]  # look-alikes stay together
    report = json.loads(pipeline.store.get_bytes(keys.label_report(job)))
    assert report["problems"]["errors"] == 0 and report["problems"]["by_code"]["near-duplicate"]["count"] == 1
    assert pipeline.store.get_bytes(keys.label_report_text(job)).startswith(b"# Label report")
    assert outcome["data"]["counters"]["objects"] == sum(len(i.objects) for i in dataset.images)
    assert set(outcome["data"]["outputs"]) == {"coco", "coco_train", "coco_val", "coco_test", "report", "report_text"}


def test_stage_reads_sizes_from_stored_images_when_there_is_no_manifest(pipeline: Pipeline) -> None:
    """Without the downloader's manifest, rows match stored images by the digest in their URL (as when the
    images were given to Labelbox as links into the store) and sizes come from the image headers."""
    stage, job = renamed(ConvertStage), unique("job-")
    dataset = make_dataset(seed=4, images=3)
    stored = store_images(pipeline.store, job, pictures(dataset))
    pipeline.store.delete(keys.image_manifest(job))
    rows = [json.loads(line) for line in next(iter(labelbox_ndjson.write(dataset).values())).splitlines()]
    for line in rows:
        line["data_row"] = {
            "id": line["data_row"]["id"],
            "row_data": f"https://store.test/{stored[line['data_row']['external_id']]}",
        }
        del line["media_attributes"]
    export = "\n".join(json.dumps(line) for line in rows).encode()
    pipeline.store.put_bytes(keys.raw_labels(job, "export.ndjson"), export)
    pipeline.request(stage.name, job)
    pipeline.run_in_thread(stage, max_events=1).join(120)

    [outcome] = pipeline.outcomes(job, 1)
    assert outcome["type"].endswith(".completed"), outcome["data"]
    coco = json.loads(pipeline.store.get_bytes(keys.coco(job)))
    sizes = {i["file_name"]: (i["width"], i["height"]) for i in coco["images"]}
    prefix = keys.images(job)
    assert sizes == {stored[i.file_name].removeprefix(prefix): (i.width, i.height) for i in dataset.images}


def test_stage_fails_clearly_on_a_broken_export_and_keeps_serving(pipeline: Pipeline) -> None:
    stage, job, later = renamed(ConvertStage), unique("job-"), unique("job-")
    pipeline.store.put_bytes(keys.raw_labels(job, "export.json"), b'[{"ID": "a", "Label": {"objects": [')
    pipeline.request(stage.name, job)
    pipeline.request(stage.name, later, exports=["missing.ndjson"])
    pipeline.run_in_thread(stage, max_events=2).join(120)

    [broken] = pipeline.outcomes(job, 1)
    assert broken["type"].endswith(".failed") and broken["data"]["reason"] == "invalid-input"
    assert "export.json is not valid JSON" in broken["data"]["message"]
    [missing] = pipeline.outcomes(later, 1)
    assert "'missing.ndjson' is not under" in missing["data"]["message"]
    failed = status.read_status(pipeline.store, job, stage.name)
    assert failed is not None and failed.state == "failed" and failed.attempts == 1


def test_a_folder_export_uploaded_with_the_command_converts_in_the_stage(
    pipeline: Pipeline, tmp_path, monkeypatch
) -> None:
    """`transferline upload --export DIR` keeps a YOLO export's layout under labels/raw/<name>/; the stage reads it
    as one export beside a single-file one."""
    stage, job = renamed(ConvertStage), unique("job-")
    dataset = make_dataset(seed=8, images=4)
    folder = tmp_path / "yolo-export"
    for name, data in yolo.write(dataset).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    (folder / ".DS_Store").write_bytes(b"\0")  # a desktop's litter is no part of the export
    for image in dataset.images:  # under their own names: YOLO rows name their image by its stem
        pipeline.store.put_bytes(keys.images(job) + image.file_name, image.jpeg())
    for name, value in pipeline.settings.to_env().items():
        monkeypatch.setenv(name, value)
    assert main(["upload", job, "--export", str(folder)]) == 0
    assert pipeline.store.exists(keys.raw_labels(job, "yolo-export") + "/classes.txt")
    pipeline.request(stage.name, job)
    pipeline.run_in_thread(stage, max_events=1).join(120)

    [outcome] = pipeline.outcomes(job, 1)
    assert outcome["type"].endswith(".completed"), outcome["data"]
    coco = json.loads(pipeline.store.get_bytes(keys.coco(job)))
    assert len(coco["images"]) == 4 and len(coco["annotations"]) == sum(len(i.objects) for i in dataset.images)
    assert json.loads(pipeline.store.get_bytes(keys.label_report(job)))["exports"] == ["yolo-export"]
