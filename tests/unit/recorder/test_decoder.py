"""The recorder's shards, read back by Model Garden's own TfExampleDecoder: what a training job will see."""

from __future__ import annotations

import copy
import random
import shutil
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st
from official.vision.dataloaders.tf_example_decoder import TfExampleDecoder
from PIL import Image
from pycocotools import mask as rle_tools
from shapely.geometry import Polygon

from tests.support.labels import GtDataset, GtImage, make_dataset, truth_coco
from transferline.errors import InvalidInput
from transferline_recorder.encode import EncodeOptions
from transferline_recorder.records import IN_PROCESS_BELOW, RecordOptions, Records, build_records
from transferline_recorder.shard import ShardWriter, Task, draw_boxes
from transferline_recorder.source import ImageSource

DECODER = TfExampleDecoder(include_mask=True)
MASKS = EncodeOptions(include_masks=True)


# --- input ------------------------------------------------------------------------------------------------------


def coco_of(dataset: GtDataset, crowd_seed: int | None = None, empty: frozenset[int] = frozenset()) -> dict[str, Any]:
    """`truth_coco` with what the converter adds: polygon objects get their segmentation and polygon area.

    With `crowd_seed`, about one object in five becomes a crowd whose shape is compressed RLE (as COCO holds
    crowds); images whose position is in `empty` lose their objects.
    """
    coco = truth_coco(dataset)
    objects = [obj for image in dataset.images for obj in image.objects]
    sizes = {entry["id"]: (entry["width"], entry["height"]) for entry in coco["images"]}
    rng = random.Random(crowd_seed)
    for annotation, obj in zip(coco["annotations"], objects, strict=True):
        if obj.polygon is not None:
            annotation["segmentation"] = [[c for point in obj.polygon for c in point]]
            annotation["area"] = Polygon(obj.polygon).area
        if crowd_seed is not None and rng.random() < 0.2:
            bitmap = expected_mask(annotation, *sizes[annotation["image_id"]])
            rle = rle_tools.encode(np.asfortranarray(bitmap))
            annotation["segmentation"] = {"size": rle["size"], "counts": rle["counts"].decode()}
            annotation["iscrowd"] = 1
    dropped = {coco["images"][position]["id"] for position in empty if position < len(coco["images"])}
    coco["annotations"] = [a for a in coco["annotations"] if a["image_id"] not in dropped]
    return coco


def expected_mask(annotation: dict[str, Any], width: int, height: int) -> np.ndarray:
    """The instance's 0/1 mask: a polygon as pycocotools rasterises it, a box-only object as its box."""
    segmentation = annotation.get("segmentation")
    if isinstance(segmentation, dict):
        return rle_tools.decode({"size": segmentation["size"], "counts": segmentation["counts"].encode()})
    if segmentation:
        return np.max(rle_tools.decode(rle_tools.frPyObjects(segmentation, height, width)), axis=2)
    x, y, w, h = annotation["bbox"]
    bitmap = np.zeros((height, width), dtype=np.uint8)
    bitmap[y : y + h, x : x + w] = 1
    return bitmap


def split_by_position(coco: dict[str, Any], parts: int) -> dict[str, dict[str, Any]]:
    names = ["train", "val", "test"][:parts]
    splits = {}
    for number, name in enumerate(names):
        images = coco["images"][number::parts]
        ids = {image["id"] for image in images}
        annotations = [a for a in coco["annotations"] if a["image_id"] in ids]
        splits[name] = {"images": images, "annotations": annotations, "categories": coco["categories"]}
    return splits


# --- output -----------------------------------------------------------------------------------------------------


def build(
    splits: dict[str, dict[str, Any]], images: Path, out: Path, options: RecordOptions
) -> tuple[Records, dict[str, list[Path]]]:
    """build_records with a publish that moves each shard into `out`, checking it is called once per shard."""
    out.mkdir(parents=True, exist_ok=True)
    published: defaultdict[str, list[Path]] = defaultdict(list)

    def publish(path: Path, split: str, index: int, count: int) -> None:
        assert path.is_file() and index == len(published[split]) and 0 <= index < count
        assert path.name == f"{split}-{index:05d}-of-{count:05d}.tfrecord"
        target = out / path.name
        shutil.move(path, target)
        published[split].append(target)

    records = build_records(splits, ImageSource.folder(images), options, publish)
    for split, paths in published.items():
        assert records.stats[split].shards == [p.name for p in paths]
        assert len(paths) == int(paths[0].name.rsplit("-of-", 1)[1].split(".")[0])
    return records, dict(published)


def decode_shard(path: Path) -> list[dict[str, Any]]:
    """Every example of a shard through TfExampleDecoder, as NumPy, in file order."""
    examples = []
    for record in tf.data.TFRecordDataset(str(path)):
        decoded = DECODER.decode(record)
        example = {key: value.numpy() for key, value in decoded.items()}
        example["source_id"] = example["source_id"].decode()
        example["encoded"] = tf.train.Example.FromString(record.numpy()).features.feature["image/encoded"]
        examples.append(example)
    return examples


def check_example(example: dict[str, Any], entry: dict[str, Any], annotations: list[dict[str, Any]]) -> None:
    """One decoded example against its COCO image entry and annotations (in order)."""
    width, height = entry["width"], entry["height"]
    assert int(example["source_id"]) == entry["id"]  # numeric: Model Garden's evaluation casts it to int64
    assert example["image"].shape == (height, width, 3) and example["image"].dtype == np.uint8
    assert (int(example["height"]), int(example["width"])) == (height, width)
    boxes = [
        [y / height, x / width, (y + h) / height, (x + w) / width] for x, y, w, h in (a["bbox"] for a in annotations)
    ]
    np.testing.assert_allclose(example["groundtruth_boxes"], np.array(boxes).reshape(-1, 4), rtol=0, atol=1e-6)
    assert example["groundtruth_classes"].tolist() == [a["category_id"] for a in annotations]
    assert example["groundtruth_is_crowd"].tolist() == [bool(a["iscrowd"]) for a in annotations]
    np.testing.assert_allclose(example["groundtruth_area"], [a["area"] for a in annotations], rtol=1e-6)
    masks = example["groundtruth_instance_masks"]
    assert masks.dtype == np.float32 and masks.shape == (len(annotations), height, width)
    for mask, annotation in zip(masks, annotations, strict=True):
        assert np.array_equal(mask, expected_mask(annotation, width, height).astype(np.float32))


def check_records(
    splits: dict[str, dict[str, Any]], images: Path, records: Records, published: dict[str, list[Path]]
) -> None:
    """Every image written once, by position over the shards, and decoding to exactly its COCO truth."""
    assert published.keys() == splits.keys()
    for split, coco in splits.items():
        stats = records.stats[split]
        assert stats.skipped == [] and stats.images == len(coco["images"])
        assert stats.objects == len(coco["annotations"])
        by_image: defaultdict[int, list[dict[str, Any]]] = defaultdict(list)
        for annotation in coco["annotations"]:
            by_image[annotation["image_id"]].append(annotation)
        shards = [decode_shard(path) for path in published[split]]
        for index, examples in enumerate(shards):  # shard i holds positions i, i + n, i + 2n, ...
            expected = coco["images"][index :: len(shards)]
            assert [int(e["source_id"]) for e in examples] == [entry["id"] for entry in expected]
            for example, entry in zip(examples, expected, strict=True):
                check_example(example, entry, by_image[entry["id"]])
                original = (images / entry["file_name"]).read_bytes()
                assert example["encoded"].bytes_list.value == [original]  # a JPEG passes through untouched
                assert np.array_equal(example["image"], tf.io.decode_image(original, channels=3).numpy())


# --- tests ------------------------------------------------------------------------------------------------------


@settings(max_examples=10, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    size=st.integers(1, 8),
    parts=st.integers(1, 2),
    num_shards=st.none() | st.integers(1, 4),
    crowds=st.booleans(),
    empty=st.frozensets(st.integers(0, 7), max_size=3),
)
def test_shards_decode_to_the_coco_truth(
    seed: int, size: int, parts: int, num_shards: int | None, crowds: bool, empty: frozenset[int]
) -> None:
    dataset = make_dataset(seed=seed, images=size, polygons=True)
    coco = coco_of(dataset, crowd_seed=seed if crowds else None, empty=empty)
    splits = {name: s for name, s in split_by_position(coco, parts).items() if s["images"]}
    with tempfile.TemporaryDirectory() as scratch:
        images = dataset.write_images(Path(scratch) / "images")
        options = RecordOptions(MASKS, num_shards=num_shards, workers=1)
        records, published = build(splits, images, Path(scratch) / "out", options)
        check_records(splits, images, records, published)
    assert records.label_map.count("item {") == len(coco["categories"])


def test_a_large_split_through_the_worker_pool_gives_the_same_shards(tmp_path: Path) -> None:
    dataset = make_dataset(seed=7, images=IN_PROCESS_BELOW + 8, polygons=True)
    assert len(dataset.images) > IN_PROCESS_BELOW  # so the spawn pool is used
    coco = coco_of(dataset, crowd_seed=7, empty=frozenset({3}))
    images = dataset.write_images(tmp_path / "images")
    splits = {"train": coco}
    pooled, pooled_paths = build(splits, images, tmp_path / "pool", RecordOptions(MASKS, num_shards=3, workers=2))
    check_records(splits, images, pooled, pooled_paths)
    again, again_paths = build(splits, images, tmp_path / "again", RecordOptions(MASKS, num_shards=3, workers=2))
    alone, alone_paths = build(splits, images, tmp_path / "alone", RecordOptions(MASKS, num_shards=3, workers=1))
    for paths in (again_paths, alone_paths):  # deterministic, whatever the number of workers
        assert [p.name for p in paths["train"]] == [p.name for p in pooled_paths["train"]]
        assert [p.read_bytes() for p in paths["train"]] == [p.read_bytes() for p in pooled_paths["train"]]
    assert again.stats["train"].contract() == pooled.stats["train"].contract()
    assert alone.samples == pooled.samples


def test_a_resized_image_keeps_its_boxes_and_masks_in_step(tmp_path: Path) -> None:
    dataset = GtDataset([GtImage("big.jpg", 200, 120, seed=3)], ["bottle"])
    coco = truth_coco(dataset)
    coco["annotations"] = [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [40, 20, 80, 60], "area": 4800.0, "iscrowd": 0},
        {
            "id": 2,
            "image_id": 1,
            "category_id": 1,
            "bbox": [0, 0, 100, 120],
            "area": 6000.0,
            "iscrowd": 0,
            "segmentation": [[0, 0, 100, 0, 0, 120]],
        },
    ]
    images = dataset.write_images(tmp_path / "images")
    options = RecordOptions(EncodeOptions(include_masks=True, max_side=50), workers=1)
    records, published = build({"train": coco}, images, tmp_path / "out", options)
    [example] = decode_shard(published["train"][0])
    assert records.stats["train"].reencoded == 1
    assert example["image"].shape == (30, 50, 3) and (example["height"], example["width"]) == (30, 50)
    np.testing.assert_allclose(example["groundtruth_boxes"], [[1 / 6, 0.2, 4 / 6, 0.6], [0, 0, 1, 0.5]], atol=1e-6)
    masks = example["groundtruth_instance_masks"]
    assert masks.shape == (2, 30, 50) and set(np.unique(masks)) == {0.0, 1.0}
    assert masks[0][6:20, 10:30].all() and masks[0].sum() == pytest.approx(20 * 15, abs=20 + 15)
    assert masks[1].sum() == pytest.approx(25 * 30 / 2, rel=0.15)


def spoil(dataset: GtDataset, images: Path) -> dict[str, str]:
    """Three of the images made unusable; the reason each must be skipped with."""
    missing, unreadable, resized = (dataset.images[i].file_name for i in (1, 2, 4))
    (images / missing).unlink()
    (images / unreadable).write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    (images / resized).write_bytes(GtImage(resized, 33, 44, seed=1).jpeg())
    size = f"{dataset.images[4].width}x{dataset.images[4].height}"
    return {
        missing: "missing image",
        unreadable: "not a readable image",
        resized: f"image is 33x44, the COCO entry says {size}",
    }


def test_unusable_images_are_skipped_with_their_reasons_and_the_rest_is_written(tmp_path: Path) -> None:
    dataset = make_dataset(seed=11, images=7, polygons=True)
    coco = coco_of(dataset)
    images = dataset.write_images(tmp_path / "images")
    reasons = spoil(dataset, images)
    options = RecordOptions(MASKS, num_shards=2, workers=1, max_bad_fraction=0.5)
    records, published = build({"train": coco}, images, tmp_path / "out", options)
    stats = records.stats["train"]
    assert [s["file_name"] for s in stats.skipped] == list(reasons)  # in input order
    for skipped in stats.skipped:
        assert reasons[skipped["file_name"]] in skipped["reason"]
    assert len(stats.contract().skipped) == 3 and stats.images == 4
    kept = [entry for entry in coco["images"] if entry["file_name"] not in reasons]
    written = [e for path in published["train"] for e in decode_shard(path)]
    assert sorted(int(e["source_id"]) for e in written) == [entry["id"] for entry in kept]
    # positions are input positions: a skipped image leaves a gap, it does not move the others to other shards
    for index, path in enumerate(published["train"]):
        expected = [e["id"] for e in coco["images"][index::2] if e["file_name"] not in reasons]
        assert [int(e["source_id"]) for e in decode_shard(path)] == expected
    annotations = {e["id"]: [a for a in coco["annotations"] if a["image_id"] == e["id"]] for e in kept}
    for example, entry in zip(sorted(written, key=lambda e: int(e["source_id"])), kept, strict=True):
        check_example(example, entry, annotations[entry["id"]])
    # the samples are the first images written, in input order, whichever shard wrote them
    writer = ShardWriter(ImageSource.folder(images), {c["id"]: c["name"] for c in coco["categories"]}, MASKS)
    tasks = [Task(coco["images"].index(entry), entry, annotations[entry["id"]]) for entry in kept]
    assert records.samples["train"] == [draw_boxes(writer.encode(task)) for task in tasks[: options.samples]]


def test_too_many_unusable_images_fail_naming_the_split(tmp_path: Path) -> None:
    dataset = make_dataset(seed=11, images=7, polygons=True)
    coco = coco_of(dataset)
    images = dataset.write_images(tmp_path / "images")
    reasons = spoil(dataset, images)
    good = [image for image in coco["images"] if image["file_name"] not in reasons]
    splits = {"train": {**coco, "images": good}, "val": copy.deepcopy(coco)}
    with pytest.raises(InvalidInput, match=r"^val: 3 of 7 images could not be used, over the 40% limit"):
        build(splits, images, tmp_path / "out", RecordOptions(MASKS, workers=1, max_bad_fraction=0.4))
    assert not list((tmp_path / "out").iterdir())  # not even the train split, which passed, was published
    records, _ = build(splits, images, tmp_path / "out", RecordOptions(MASKS, workers=1, max_bad_fraction=3 / 7))
    assert len(records.stats["val"].skipped) == 3  # exactly at the limit is allowed
    assert records.stats["train"].images == len(good)


def test_the_label_map_names_every_category(tmp_path: Path) -> None:
    dataset = make_dataset(seed=2, images=2, categories=("bottle", 'a "quoted" can'))
    coco = coco_of(dataset)
    records, _ = build({"train": coco}, dataset.write_images(tmp_path / "images"), tmp_path / "out", RecordOptions())
    for category in coco["categories"]:
        assert f"id: {category['id']}\n" in records.label_map
    assert 'name: "a \\"quoted\\" can"' in records.label_map


def test_images_are_jpeg_or_png_for_decode_image(tmp_path: Path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    Image.new("RGB", (64, 48), (10, 200, 30)).save(images / "a.webp", "WEBP", lossless=True)
    Image.new("RGBA", (64, 48), (10, 200, 30, 255)).save(images / "b.png", "PNG")
    coco = {
        "images": [
            {"id": 1, "file_name": "a.webp", "width": 64, "height": 48},
            {"id": 2, "file_name": "b.png", "width": 64, "height": 48},
        ],
        "annotations": [],
        "categories": [{"id": 1, "name": "thing"}],
    }
    records, published = build({"train": coco}, images, tmp_path / "out", RecordOptions(MASKS, workers=1))
    examples = decode_shard(published["train"][0])
    assert records.stats["train"].reencoded == 1
    for example in examples:
        assert example["image"].shape == (48, 64, 3)
        assert np.abs(example["image"].astype(int) - [10, 200, 30]).max() <= 3
        assert example["groundtruth_instance_masks"].shape == (0, 48, 64)
