"""Typed hand-offs: readers validate; a file of the first version is read, an unknown version refused clearly."""

from __future__ import annotations

import json
from typing import get_args

import pytest

from transferline import contracts, keys
from transferline.contracts import ImageRecord, RecordsStats, SplitRecords
from transferline.errors import InvalidInput


def test_records_stats_round_trip() -> None:
    stats = RecordsStats(splits={"train": SplitRecords(images=3, shards=["train-00000-of-00001.tfrecord"])})
    read = contracts.read_records_stats(contracts.records_stats_json(stats), "stats.json")
    assert read == stats and json.loads(contracts.records_stats_json(stats))["version"] == 2


def test_a_first_version_stats_file_is_read_with_its_shard_keys_as_names() -> None:
    old = {
        "train": {
            "images": 2,
            "objects": 5,
            "bytes": 10,
            "reencoded": 0,
            "skipped": [{"file_name": "x.jpg", "reason": "missing image"}],
            "skipped_count": 1,
            "per_class": {"cat": 5},
            "shards": ["jobs/j/records/train-00000-of-00001.tfrecord"],
        }
    }
    read = contracts.read_records_stats(json.dumps(old).encode(), "stats.json")
    assert read.splits["train"].shards == ["train-00000-of-00001.tfrecord"]
    assert read.splits["train"].skipped[0].reason == "missing image"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"version": 9, "splits": {}}', "stats.json is version 9; this version reads 1 and 2"),
        (b'{"version": 2, "splits": {"holdout": {}}}', "stats.json: splits.holdout"),
        (b'{"train": {"images": -1}}', "stats.json: splits.train.images"),
        (b"not json", "stats.json is not JSON"),
    ],
)
def test_bad_stats_are_refused_naming_the_file_and_field(data: bytes, message: str) -> None:
    with pytest.raises(InvalidInput, match=message.replace("(", r"\(")):
        contracts.read_records_stats(data, "stats.json")


def test_rows_name_the_bad_line_and_field() -> None:
    good = ImageRecord(sha256="a" * 64, key="k", width=1, height=1, format="png", bytes=1)
    data = contracts.rows_jsonl([good]) + b'\n{"sha256": "nope"}\n'
    rows = contracts.read_rows(data, ImageRecord, "manifest.jsonl")
    assert next(rows) == good
    with pytest.raises(InvalidInput, match=r"manifest\.jsonl line 3: sha256"):
        next(rows)


def test_categories_keep_their_coco_mapping_and_refuse_an_impossible_one() -> None:
    coco = {"categories": [{"id": 1, "name": "bottle", "coco_id": 44, "coco_name": "bottle", "keypoints": []}]}
    [category] = contracts.read_categories(coco, "coco_train.json")
    assert (category.id, category.coco_id) == (1, 44)
    with pytest.raises(InvalidInput, match=r"coco_train\.json: coco_id"):
        contracts.read_categories({"categories": [{"id": 1, "name": "x", "coco_id": 91}]}, "coco_train.json")
    with pytest.raises(InvalidInput, match=r"coco_train\.json: id"):
        contracts.read_categories({"categories": [{"id": 0, "name": "background"}]}, "coco_train.json")


def test_the_split_names_are_the_keys_ones() -> None:
    assert get_args(contracts.Split) == keys.SPLITS
