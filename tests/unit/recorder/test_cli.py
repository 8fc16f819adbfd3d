"""`transferline records`: COCO splits + an image folder -> shards, label map and stats; clear exits on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import tensorflow as tf

from tests.support.labels import make_dataset, truth_coco
from transferline.cli import EXIT_USAGE, main
from transferline_recorder.records import IN_PROCESS_BELOW


@pytest.fixture(autouse=True)
def embedded(tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSFERLINE_DATA_DIR", str(tmp_path / "data"))


def write_splits(folder: Path, coco: dict[str, Any], sizes: dict[str, int]) -> dict[str, dict[str, Any]]:
    """coco_<split>.json files cut from `coco`, as `transferline convert` writes them."""
    folder.mkdir(parents=True, exist_ok=True)
    splits, start = {}, 0
    for split, size in sizes.items():
        images = coco["images"][start : start + size]
        ids = {image["id"] for image in images}
        annotations = [a for a in coco["annotations"] if a["image_id"] in ids]
        splits[split] = {"images": images, "annotations": annotations, "categories": coco["categories"]}
        (folder / f"coco_{split}.json").write_text(json.dumps(splits[split]))
        start += size
    return splits


def source_ids(paths: list[Path]) -> list[str]:
    examples = [tf.train.Example.FromString(raw.numpy()) for raw in tf.data.TFRecordDataset([str(p) for p in paths])]
    return [e.features.feature["image/source_id"].bytes_list.value[0].decode() for e in examples]


def test_records_writes_shards_label_map_and_stats(tmp_path: Path, capsys) -> None:
    dataset = make_dataset(seed=3, images=9)
    images = dataset.write_images(tmp_path / "images")
    splits = write_splits(tmp_path / "labels", truth_coco(dataset), {"train": 6, "val": 3})
    (tmp_path / "labels" / "coco_test.json").write_text(json.dumps({"images": [], "annotations": []}))
    out = tmp_path / "out"
    args = ["records", str(tmp_path / "labels"), "--images", str(images), "--out", str(out), "--num-shards", "2"]
    assert main(args) == 0

    stats = json.loads((out / "stats.json").read_text())["splits"]
    assert set(stats) == {"train", "val"}  # a split without images is left out
    for split, coco in splits.items():
        shards = [out / f"{split}-{index:05d}-of-00002.tfrecord" for index in range(2)]
        assert stats[split]["shards"] == [path.name for path in shards]
        assert sorted(source_ids(shards)) == sorted(str(image["id"]) for image in coco["images"])
        assert stats[split]["images"] == len(coco["images"])
        assert stats[split]["objects"] == len(coco["annotations"]) and stats[split]["skipped"] == []
    label_map = (out / "label_map.pbtxt").read_text()
    assert [line.strip() for line in label_map.splitlines() if "name:" in line and "display" not in line] == [
        f'name: "{name}"' for name in sorted(dataset.categories)
    ]
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        f"train: 6 images, {len(splits['train']['annotations'])} objects, 2 shards, 0 skipped, 0 re-encoded",
        f"val: 3 images, {len(splits['val']['annotations'])} objects, 2 shards, 0 skipped, 0 re-encoded",
    ]
    assert not list(out.glob("test-*"))


def test_records_shard_count_follows_shard_mb_by_default(tmp_path: Path, capsys) -> None:
    dataset = make_dataset(seed=4, images=3)
    images = dataset.write_images(tmp_path / "images")
    write_splits(tmp_path / "labels", truth_coco(dataset), {"train": 3})
    out = tmp_path / "out"
    assert main(["records", str(tmp_path / "labels"), "--images", str(images), "--out", str(out)]) == 0
    assert sorted(path.name for path in out.glob("*.tfrecord")) == ["train-00000-of-00001.tfrecord"]
    assert capsys.readouterr().out.startswith("train: 3 images")


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("empty-labels", "labels/: run the convert stage first"),
        ("no-images-folder", "no-such-folder: no such file or folder"),
        ("broken-json", "coco_train.json is not JSON"),
        ("missing-images", "train: 1 of 3 images could not be used, over the 5% limit (first: gone.jpg: missing image"),
    ],
)
def test_bad_input_exits_2_with_a_message(tmp_path: Path, case: str, message: str, capsys) -> None:
    dataset = make_dataset(seed=6, images=3)
    images = dataset.write_images(tmp_path / "images")
    labels = tmp_path / "labels"
    labels.mkdir()
    coco = truth_coco(dataset)
    if case == "no-images-folder":
        write_splits(labels, coco, {"train": 3})
        images = tmp_path / "no-such-folder"
    elif case == "broken-json":
        (labels / "coco_train.json").write_text('{"images": [')
    elif case == "missing-images":
        coco["images"][0]["file_name"] = "gone.jpg"
        write_splits(labels, coco, {"train": 3})
    code = main(["records", str(labels), "--images", str(images), "--out", str(tmp_path / "out")])
    assert code == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err
    assert "jobs/local" not in err  # the user's own folders are named, not the keys they were mounted at


def test_records_never_imports_tensorflow(tmp_path: Path) -> None:
    """The command as a user runs it, worker processes included (spawn passes -X importtime on to them)."""
    dataset = make_dataset(seed=5, images=IN_PROCESS_BELOW + 4)
    images = dataset.write_images(tmp_path / "images")
    write_splits(tmp_path / "labels", truth_coco(dataset), {"train": len(dataset.images)})
    run = "import sys; from transferline.cli import main; sys.exit(main())"
    args = ["records", str(tmp_path / "labels"), "--images", str(images), "--out", str(tmp_path / "out")]
    found = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", run, *args, "--num-shards", "2", "--workers", "2"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert found.returncode == 0, found.stderr[-2000:]
    imported = [line.rsplit("|", 1)[1].strip() for line in found.stderr.splitlines() if line.startswith("import time:")]
    assert imported.count("transferline_recorder.shard") == 3  # the command and both workers
    assert not [name for name in imported if name.split(".")[0] == "tensorflow"]
