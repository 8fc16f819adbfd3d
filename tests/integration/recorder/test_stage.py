"""The records stage on both backends (real Kafka + MinIO, and embedded): COCO splits + stored images -> shards."""

from __future__ import annotations

import hashlib
import io
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tensorflow as tf
from PIL import Image

from tests.support.harness import Pipeline, renamed, store_images, unique
from tests.support.labels import GtDataset, make_dataset, truth_coco
from transferline import keys, status
from transferline.settings import Settings
from transferline_recorder.stage import RecordsStage


@pytest.fixture
def pipeline(backend_settings: Settings) -> Iterator[Pipeline]:
    """Clients on the test's backend; every runner started through it is stopped and joined when the test ends."""
    with Pipeline.open(backend_settings) as pipeline:
        yield pipeline


def put_splits(pipeline: Pipeline, job: str, coco: dict[str, Any], splits: dict[str, int]) -> dict[str, dict]:
    """Cut `coco` into consecutive splits of the given sizes, as the converter writes them (labels/coco_<s>.json)."""
    written, start = {}, 0
    for split, size in splits.items():
        images = coco["images"][start : start + size]
        ids = {image["id"] for image in images}
        part = {
            "images": images,
            "annotations": [a for a in coco["annotations"] if a["image_id"] in ids],
            "categories": coco["categories"],
        }
        pipeline.store.put_bytes(keys.coco(job, split), json.dumps(part).encode(), "application/json")
        written[split], start = part, start + size
    return written


def stored_coco(dataset: GtDataset, stored: dict[str, str], job: str) -> dict[str, Any]:
    """The truth as COCO with file names relative to the job's image prefix, as the converter writes them."""
    coco = truth_coco(dataset)
    for image in coco["images"]:
        image["file_name"] = stored[image["file_name"]].removeprefix(keys.images(job))
    return coco


def read_examples(pipeline: Pipeline, shard_keys: list[str], folder: Path) -> list[tf.train.Example]:
    """Every example in the shards, read back through tf.data as a trainer would (from local copies)."""
    paths = []
    for key in shard_keys:
        path = folder / key.rsplit("/", 1)[-1]
        path.write_bytes(pipeline.store.get_bytes(key))
        paths.append(str(path))
    return [tf.train.Example.FromString(raw.numpy()) for raw in tf.data.TFRecordDataset(paths)]


def feature(example: tf.train.Example, name: str) -> list:
    value = example.features.feature[name]
    return list(getattr(value, value.WhichOneof("kind")).value)


def test_stage_writes_shards_label_map_stats_and_samples(pipeline: Pipeline, tmp_path: Path) -> None:
    stage, job = renamed(RecordsStage), unique("job-")
    dataset = make_dataset(seed=21, images=40, categories=("bottle", "can", "cup"))
    stored = store_images(pipeline.store, job, dataset.pictures())
    # 32 train images go through the worker pool, 8 val images are encoded in-process: both paths.
    splits = put_splits(pipeline, job, stored_coco(dataset, stored, job), {"train": 32, "val": 8})
    pipeline.request(stage.name, job, num_shards=3, max_side=160, include_masks=True)
    pipeline.run_in_thread(stage, max_events=1).join(180)

    [outcome] = pipeline.outcomes(job, 1, timeout=180)
    assert outcome["type"].endswith(".completed"), outcome["data"]
    document = json.loads(pipeline.store.get_bytes(keys.records_stats(job)))
    stats = document["splits"]
    assert document["version"] == 2 and set(stats) == {"train", "val"}
    label_map = pipeline.store.get_bytes(keys.label_map(job)).decode()
    for category in splits["train"]["categories"]:
        assert f'id: {category["id"]}\n  name: "{category["name"]}"' in label_map
    assert label_map.count("item {") == 3

    counters = outcome["data"]["counters"]
    for split, coco in splits.items():
        shard_keys = [keys.records_shard(job, split, index, 3) for index in range(3)]
        assert [keys.records_file(job, name) for name in stats[split]["shards"]] == shard_keys
        examples = read_examples(pipeline, shard_keys, tmp_path)
        assert len(examples) == len(coco["images"])
        by_id = {feature(e, "image/source_id")[0].decode(): e for e in examples}
        assert set(by_id) == {str(image["id"]) for image in coco["images"]}
        objects = coco["annotations"]
        names = {c["id"]: c["name"] for c in coco["categories"]}
        per_class = Counter(names[a["category_id"]] for a in objects)
        shrunk = 0
        for image in coco["images"]:
            example = by_id[str(image["id"])]
            mine = [a for a in objects if a["image_id"] == image["id"]]
            assert feature(example, "image/filename") == [image["file_name"].encode()]
            assert feature(example, "image/object/class/label") == [a["category_id"] for a in mine]
            assert len(feature(example, "image/object/mask")) == len(mine)
            assert max(feature(example, "image/width") + feature(example, "image/height")) <= 160
            x, y, w, h = mine[0]["bbox"]
            box = [feature(example, f"image/object/bbox/{side}")[0] for side in ("xmin", "ymin", "xmax", "ymax")]
            width, height = image["width"], image["height"]  # boxes are normalised to the COCO size
            assert box == pytest.approx([x / width, y / height, (x + w) / width, (y + h) / height], rel=1e-6)
            shrunk += max(image["width"], image["height"]) > 160
            if max(image["width"], image["height"]) <= 160:  # passed through untouched
                original = pipeline.store.get_bytes(keys.images(job) + image["file_name"])
                assert feature(example, "image/encoded") == [original]
        encoded = sum(len(feature(e, "image/encoded")[0]) for e in examples)
        assert stats[split] | {"per_class": None} == {
            "images": len(coco["images"]),
            "objects": len(objects),
            "bytes": encoded,
            "reencoded": shrunk,
            "skipped": [],
            "per_class": None,
            "shards": [key.rsplit("/", 1)[-1] for key in shard_keys],
        }
        assert stats[split]["per_class"] == dict(sorted(per_class.items()))
        assert counters[f"{split}_images"] == len(coco["images"]) and counters[f"{split}_objects"] == len(objects)
        assert counters[f"{split}_shards"] == 3 and counters[f"{split}_skipped"] == 0
        assert counters[f"{split}_bytes"] == encoded and counters[f"{split}_reencoded"] == shrunk
        for index in range(4):
            with Image.open(io.BytesIO(pipeline.store.get_bytes(keys.records_sample(job, split, index)))) as sample:
                assert sample.format == "JPEG" and max(sample.size) <= 320
    assert set(outcome["data"]["outputs"]) == {"label_map", "stats"}
    done = status.read_status(pipeline.store, job, stage.name)
    assert done is not None and done.state == "succeeded"


def put_bad_images(pipeline: Pipeline, job: str, dataset: GtDataset) -> list[dict[str, str]]:
    """One train split whose 2nd image is missing, 4th is garbage bytes, 6th has the wrong size and 7th is cut
    short; returns the skipped entries stats.json should list, in order."""
    coco = stored_coco(dataset, store_images(pipeline.store, job, dataset.pictures()), job)
    missing, unreadable, resized, truncated = (coco["images"][i] for i in (1, 3, 5, 6))
    missing["file_name"] = "ab/missing.jpg"
    for entry, data in [
        (unreadable, b"this is not a picture" * 10),
        (truncated, (whole := dataset.images[6].jpeg())[: len(whole) // 2]),
    ]:
        key = keys.image(job, hashlib.sha256(data).hexdigest(), "jpg")
        pipeline.store.put_bytes(key, data, "image/jpeg")
        entry["file_name"] = key.removeprefix(keys.images(job))
    resized["width"] += 1
    put_splits(pipeline, job, coco, {"train": len(coco["images"])})
    size = f"{resized['width'] - 1}x{resized['height']}"
    return [
        {"file_name": "ab/missing.jpg", "reason": f"missing image {keys.images(job)}ab/missing.jpg"},
        {"file_name": unreadable["file_name"], "reason": "not a readable image (UnidentifiedImageError)"},
        {
            "file_name": resized["file_name"],
            "reason": f"image is {size}, the COCO entry says {resized['width']}x{resized['height']}",
        },
        {"file_name": truncated["file_name"], "reason": "not a readable image (OSError)"},
    ]


def test_bad_images_are_reported_per_image_and_fail_the_stage_over_the_limit(pipeline: Pipeline, tmp_path) -> None:
    stage, tolerant, strict = renamed(RecordsStage), unique("job-"), unique("job-")
    dataset = make_dataset(seed=5, images=8)
    expected = put_bad_images(pipeline, tolerant, dataset)
    expected_strict = put_bad_images(pipeline, strict, dataset)
    pipeline.request(stage.name, tolerant, num_shards=2, max_bad_fraction=0.6)
    pipeline.request(stage.name, strict, num_shards=2)
    pipeline.run_in_thread(stage, max_events=2).join(180)

    [kept] = pipeline.outcomes(tolerant, 1, timeout=180)
    assert kept["type"].endswith(".completed"), kept["data"]
    stats = json.loads(pipeline.store.get_bytes(keys.records_stats(tolerant)))["splits"]["train"]
    assert stats["skipped"] == expected
    assert stats["images"] == 4 and len(stats["skipped"]) == 4 and kept["data"]["counters"]["train_skipped"] == 4
    examples = read_examples(pipeline, [keys.records_shard(tolerant, "train", i, 2) for i in range(2)], tmp_path)
    assert sorted(int(feature(e, "image/source_id")[0]) for e in examples) == [1, 3, 5, 8]

    [failed] = pipeline.outcomes(strict, 1, timeout=180)
    assert failed["type"].endswith(".failed") and failed["data"]["reason"] == "invalid-input"
    first = "; ".join(f"{s['file_name']}: {s['reason']}" for s in expected_strict[:3])
    assert failed["data"]["message"] == f"train: 4 of 8 images could not be used, over the 5% limit (first: {first})"
    assert not pipeline.store.exists(keys.records_stats(strict))
    assert not list(pipeline.store.list(keys.job_prefix(strict) + "records/"))  # nothing published


def test_stage_without_coco_splits_asks_for_the_convert_stage(pipeline: Pipeline) -> None:
    stage, job = renamed(RecordsStage), unique("job-")
    empty = {"images": [], "annotations": [], "categories": [{"id": 1, "name": "cup"}]}
    pipeline.store.put_bytes(keys.coco(job, "test"), json.dumps(empty).encode())  # a split without images
    pipeline.request(stage.name, job)
    pipeline.run_in_thread(stage, max_events=1).join(120)

    [outcome] = pipeline.outcomes(job, 1)
    assert outcome["type"].endswith(".failed") and outcome["data"]["reason"] == "invalid-input"
    assert outcome["data"]["message"] == (
        f"no COCO split with images under {keys.job_prefix(job)}labels/: run the convert stage first"
    )


def test_stage_refuses_a_shape_pycocotools_would_crash_on_naming_file_row_and_field(pipeline: Pipeline) -> None:
    """A polygon at 1e12 used to kill a worker process (and hang the pool); now the stage fails before any work,
    its message naming the stored file, the annotation and the coordinate."""
    stage, job = renamed(RecordsStage), unique("job-")
    dataset = make_dataset(seed=23, images=40)
    stored = store_images(pipeline.store, job, dataset.pictures())
    coco = stored_coco(dataset, stored, job)
    coco["annotations"][5]["segmentation"] = [[0, 0, 1e12, 0, 1e12, 1e12]]
    put_splits(pipeline, job, coco, {"train": 40})
    pipeline.request(stage.name, job, num_shards=2, workers=2, include_masks=True)
    pipeline.run_in_thread(stage, max_events=1).join(180)

    [outcome] = pipeline.outcomes(job, 1, timeout=180)
    assert outcome["type"].endswith(".failed") and outcome["data"]["reason"] == "invalid-input"
    image = next(i for i in coco["images"] if i["id"] == coco["annotations"][5]["image_id"])
    assert outcome["data"]["message"] == (
        f"{keys.coco(job, 'train')} annotations[5].segmentation[0]: x 1000000000000.0 at [2] lies more than one "
        f"image size outside the {image['width']}x{image['height']} image (annotation id 6, image id {image['id']})"
    )
    assert not list(pipeline.store.list(keys.job_prefix(job) + "records/"))  # nothing published
