"""Artifact keys: one builder, and user-supplied parts never escape the job's folder."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from transferline import keys
from transferline.errors import InvalidInput

SHA = "ab" + "0" * 62


def test_keys_follow_the_documented_layout():
    assert keys.urls("j1") == "jobs/j1/urls/urls.jsonl"
    assert keys.image("j1", SHA, "JPG") == f"jobs/j1/images/ab/{SHA}.jpg"
    assert keys.image_manifest("j1") == "jobs/j1/images/manifest.jsonl"
    assert keys.raw_labels("j1", "export.ndjson") == "jobs/j1/labels/raw/export.ndjson"
    assert keys.coco("j1") == "jobs/j1/labels/coco.json"
    assert keys.coco("j1", "val") == "jobs/j1/labels/coco_val.json"
    assert keys.label_report("j1") == "jobs/j1/labels/report.json"
    assert keys.records_shard("j1", "train", 2, 8) == "jobs/j1/records/train-00002-of-00008.tfrecord"
    assert keys.label_map("j1") == "jobs/j1/records/label_map.pbtxt"
    assert keys.model("j1", "run1", "eval", "metrics.json") == "jobs/j1/models/run1/eval/metrics.json"
    assert keys.stage_status("j1", "download") == "jobs/j1/stages/download.json"


@pytest.mark.parametrize("job", ["..", "../x", "/abs", "a/b", "", ".hidden", "a" * 129, "a\x00b", "a b", "é"])
def test_hostile_job_ids_are_rejected(job):
    with pytest.raises(InvalidInput, match="job id"):
        keys.urls(job)


@pytest.mark.parametrize(
    ("name", "cleaned"),
    [
        ("../../etc/passwd", "passwd"),
        ("/abs/path.json", "path.json"),
        ("C:\\x\\..\\e.json", "e.json"),
        ("my export (1).ndjson", "my_export_1_.ndjson"),
        ("..", None),
        ("////", None),
    ],
)
def test_user_file_names_are_reduced_to_one_safe_segment(name, cleaned):
    if cleaned is None:
        with pytest.raises(InvalidInput):
            keys.raw_labels("j1", name)
    else:
        assert keys.raw_labels("j1", name) == f"jobs/j1/labels/raw/{cleaned}"


def test_splits_digests_and_shard_numbers_are_checked():
    with pytest.raises(InvalidInput, match="split"):
        keys.coco("j1", "../train")
    with pytest.raises(InvalidInput, match="sha256"):
        keys.image("j1", "../../x", "jpg")
    with pytest.raises(InvalidInput, match="shard index"):
        keys.records_shard("j1", "train", 8, 8)


@given(st.text(min_size=1, max_size=300))
def test_no_name_ever_leaves_its_folder(name):
    try:
        key = keys.raw_labels("j1", name)
    except InvalidInput:
        return
    tail = key.removeprefix("jobs/j1/labels/raw/")
    assert "/" not in tail and tail not in (".", "..") and not tail.startswith(".")
