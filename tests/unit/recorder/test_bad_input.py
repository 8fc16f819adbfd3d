"""`transferline records` on bad input: every malformed COCO, out-of-range argument, shape pycocotools would crash
on and dead worker ends with an exit status and one line naming the file, the row and the field."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pycocotools import mask as rle_tools

from tests.support.labels import make_dataset, truth_coco
from transferline.cli import EXIT_FAILED, EXIT_USAGE, main
from transferline_recorder.records import IN_PROCESS_BELOW

RUN = "import sys; from transferline.cli import main; sys.exit(main())"


@pytest.fixture(autouse=True)
def embedded(tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSFERLINE_DATA_DIR", str(tmp_path / "data"))


def inputs(tmp_path: Path, images: int = 3, seed: int = 11) -> tuple[Path, Path, dict[str, Any]]:
    """An image folder, an empty labels folder and the images' true COCO (sizes 64-200 px a side)."""
    dataset = make_dataset(seed=seed, images=images, polygons=True)
    folder = dataset.write_images(tmp_path / "images")
    labels = tmp_path / "labels"
    labels.mkdir()
    return folder, labels, truth_coco(dataset)


def records(labels: Path, images: Path, out: Path, *extra: str) -> list[str]:
    return ["records", str(labels), "--images", str(images), "--out", str(out), *extra]


def the_error(capsys: pytest.CaptureFixture[str]) -> str:
    """stderr, which must be one `error: ` line."""
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


# --- COCO files ---------------------------------------------------------------------------------------------------


def _drop(row: dict[str, Any], key: str) -> None:
    del row[key]


BREAKAGES: dict[str, tuple[Any, str]] = {
    # case: (how the COCO is broken, what the one line must say after the file's path)
    "missing-bbox": (lambda c: _drop(c["annotations"][1], "bbox"), "annotations[1].bbox: field required"),
    "missing-width": (lambda c: _drop(c["images"][2], "width"), "images[2].width: field required (image id 3)"),
    "zero-height": (
        lambda c: c["images"][0].update(height=0),
        "images[0].height: input should be greater than 0 (image id 1)",
    ),
    "unknown-category": (
        lambda c: c["annotations"][0].update(category_id=99),
        "annotations[0].category_id: 99 names no category (annotation id 1, image id 1)",
    ),
    "unknown-image": (
        lambda c: c["annotations"][0].update(image_id=77),
        "annotations[0].image_id: 77 names no image in this file (annotation id 1, image id 77)",
    ),
    "string-bbox": (
        lambda c: c["annotations"][0].update(bbox="10,10,5,5"),
        "annotations[0].bbox: input should be a valid tuple (annotation id 1, image id 1)",
    ),
    "string-in-bbox": (lambda c: c["annotations"][0]["bbox"].__setitem__(2, "5"), "annotations[0].bbox[2]: input"),
    "nan-in-bbox": (
        lambda c: c["annotations"][0]["bbox"].__setitem__(0, float("nan")),
        "annotations[0].bbox[0]: input should be a finite number",
    ),
    "negative-box": (
        lambda c: c["annotations"][0]["bbox"].__setitem__(3, -4),
        "annotations[0].bbox: width and height must be >= 0",
    ),
    "far-box": (
        lambda c: c["annotations"][0]["bbox"].__setitem__(0, 1e12),
        "annotations[0].bbox: [1000000000000.0,",
    ),
    "int-file-name": (
        lambda c: c["images"][1].update(file_name=17),
        "images[1].file_name: input should be a valid string (image id 2)",
    ),
    "nul-file-name": (
        lambda c: c["images"][1].update(file_name="img\x00.jpg"),
        "images[1].file_name: must not contain a NUL character (image id 2)",
    ),
    "bool-image-id": (lambda c: c["images"][0].update(id=True), "images[0].id: input should be a valid integer"),
    "repeated-image-id": (
        lambda c: c["images"][2].update(id=1),
        "images[2].id: image id 1 is used by an earlier image too",
    ),
    "string-iscrowd": (
        lambda c: c["annotations"][0].update(iscrowd="no"),
        "annotations[0].iscrowd: must be 0 or 1 (annotation id 1, image id 1)",
    ),
    "null-area": (
        lambda c: c["annotations"][0].update(area=None),
        "annotations[0].area: input should be a valid number",
    ),
    "flat-polygon": (
        lambda c: c["annotations"][0].update(segmentation=[1, 2, 3, 4, 5, 6]),
        "annotations[0].segmentation[0]: a polygon must be a flat list of numbers",
    ),
    "two-point-polygon": (
        lambda c: c["annotations"][0].update(segmentation=[[1, 2, 3, 4]]),
        "annotations[0].segmentation[0]: a polygon needs an even count of numbers, at least 6 (3 points), got 4",
    ),
    "far-polygon": (
        lambda c: c["annotations"][0].update(segmentation=[[0, 0, 1e12, 0, 1e12, 1e12]]),
        "annotations[0].segmentation[0]: x 1000000000000.0 at [2] lies more than one image size outside the",
    ),
    "infinite-polygon": (
        lambda c: c["annotations"][0].update(segmentation=[[0, 0, 10, 0, 10, float("inf")]]),
        "annotations[0].segmentation[0]: y inf at [5] lies more than one image size outside the",
    ),
    "huge-int-polygon": (
        lambda c: c["annotations"][0].update(segmentation=[[0, 0, 10**400, 0, 10, 10]]),
        "annotations[0].segmentation[0]: x 10000000000000000000... (401 digits) at [2] lies more than one image",
    ),
    "rle-wrong-size": (
        lambda c: c["annotations"][0].update(segmentation={"size": [10, 10], "counts": [100]}),
        "annotations[0].segmentation.size: must be the image's [height, width]",
    ),
    "rle-runs-overrun": (
        lambda c: c["annotations"][0].update(segmentation=rle_of(c, 0, extra=[5, 7])),
        "annotations[0].segmentation.counts: runs must be >= 0 and add up to height x width",
    ),
    "rle-bad-string": (
        lambda c: c["annotations"][0].update(segmentation=rle_of(c, 0, text="\x01\x02")),
        "annotations[0].segmentation.counts: is not a valid compressed RLE string",
    ),
    "rle-string-overrun": (
        lambda c: c["annotations"][0].update(segmentation=rle_of(c, 0, text_extra="3")),
        "annotations[0].segmentation.counts: runs must be >= 0 and add up to height x width",
    ),
    "rle-negative-run": (
        lambda c: c["annotations"][0].update(segmentation=rle_of(c, 0, extra=[-3, 3])),
        "annotations[0].segmentation.counts: runs must be >= 0",
    ),
    "top-level-list": (lambda c: [c], "coco_train.json: must be a JSON object with images, annotations and categories"),
    "images-not-a-list": (lambda c: c.update(images={"1": c["images"][0]}), "coco_train.json images: input should be"),
}


def rle_of(coco: dict[str, Any], index: int, extra: list[int] = (), text: str = "", text_extra: str = "") -> dict:
    """A full-image RLE for annotation `index`'s image: uncompressed (with `extra` runs), or compressed text."""
    image = next(i for i in coco["images"] if i["id"] == coco["annotations"][index]["image_id"])
    height, width = image["height"], image["width"]
    if text or text_extra:
        compressed = rle_tools.encode(np.asfortranarray(np.ones((height, width), dtype=np.uint8)))
        return {"size": [height, width], "counts": text or compressed["counts"].decode() + text_extra}
    return {"size": [height, width], "counts": [0, height * width, *extra]}


@pytest.mark.parametrize("case", BREAKAGES)
def test_a_malformed_coco_exits_2_naming_file_row_and_field(tmp_path: Path, case: str, capsys) -> None:
    images, labels, coco = inputs(tmp_path)
    breakage, expected = BREAKAGES[case]
    broken = breakage(coco)
    path = labels / "coco_train.json"
    path.write_text(json.dumps(coco if broken is None else broken))
    assert main(records(labels, images, tmp_path / "out", "--include-masks")) == EXIT_USAGE
    error = the_error(capsys)
    assert error.startswith(f"error: {path}"), error  # the user's own file, not the key it was mounted at
    assert expected in error, error
    assert not (tmp_path / "out" / "stats.json").exists()


LATIN_1 = '{"images": [{"file_name": "café.jpg"}]}'.encode("latin-1")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (LATIN_1, f"is not UTF-8 text (byte {LATIN_1.index(0xE9)}): it must be JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "nests deeper than a COCO file can: not read"),
        (b'{"images": [' + b"9" * 5000 + b"]}", "holds a number too long to read (over 4300 digits)"),
        (b'{"images": [', "is not JSON: Expecting value: line 1 column 13 (char 12)"),
    ],
    ids=["latin-1", "100k-deep", "5000-digit-number", "cut-short"],
)
def test_a_file_that_is_not_json_exits_2_naming_it(tmp_path: Path, data: bytes, expected: str, capsys) -> None:
    images, labels, _ = inputs(tmp_path)
    (labels / "coco_train.json").write_bytes(data)
    assert main(records(labels, images, tmp_path / "out")) == EXIT_USAGE
    assert the_error(capsys) == f"error: {labels / 'coco_train.json'} {expected}"


def test_splits_that_list_different_categories_are_refused(tmp_path: Path, capsys) -> None:
    images, labels, coco = inputs(tmp_path)
    val = {**coco, "categories": [{**coco["categories"][0], "name": "renamed"}, *coco["categories"][1:]]}
    (labels / "coco_train.json").write_text(json.dumps(coco))
    (labels / "coco_val.json").write_text(json.dumps(val))
    assert main(records(labels, images, tmp_path / "out")) == EXIT_USAGE
    assert the_error(capsys) == (
        f"error: {labels / 'coco_val.json'} categories differ from {labels / 'coco_train.json'}'s: "
        "every split must list the same categories"
    )


def test_what_the_converter_writes_and_small_overshoots_pass(tmp_path: Path, capsys) -> None:
    """The checks refuse only what is broken: both RLE forms, a polygon a few pixels past the edge, a width
    written as 640.0, no area or iscrowd, extra fields and a split without annotations are all fine."""
    images, labels, coco = inputs(tmp_path, images=4)
    first = coco["images"][0]
    height, width = first["height"], first["width"]
    bitmap = np.zeros((height, width), dtype=np.uint8)
    bitmap[5:20, 8:30] = 1
    compressed = rle_tools.encode(np.asfortranarray(bitmap))
    shapes = [
        {"size": [height, width], "counts": compressed["counts"].decode()},
        {"size": [height, width], "counts": [int(c) for c in rle_counts(bitmap)]},
        [[-5.0, -3.0, width + 4.0, 0.0, width / 2, height + 2.5]],
    ]
    for shape in shapes:
        coco["annotations"].append(
            {"id": len(coco["annotations"]) + 1, "image_id": first["id"], "category_id": 1, "bbox": [8, 5, 22, 15]}
        )
        coco["annotations"][-1]["segmentation"] = shape
    first["width"] = float(width)
    first["license"] = 3
    (labels / "coco_train.json").write_text(json.dumps(coco))
    (labels / "coco_val.json").write_text(json.dumps({**coco, "annotations": []}))
    out = tmp_path / "out"
    assert main(records(labels, images, out, "--include-masks")) == 0, capsys.readouterr().err
    stats = json.loads((out / "stats.json").read_text())["splits"]
    assert stats["train"]["objects"] == len(coco["annotations"]) and stats["train"]["skipped"] == []
    assert stats["val"]["images"] == 4 and stats["val"]["objects"] == 0


def rle_counts(bitmap: np.ndarray) -> list[int]:
    """COCO's uncompressed RLE counts: runs over the column-major pixels, starting with zeros."""
    flat = bitmap.flatten(order="F")
    edges = np.flatnonzero(np.diff(flat)) + 1
    runs = np.diff(np.concatenate([[0], edges, [flat.size]]))
    return [0, *runs.tolist()] if flat[0] else runs.tolist()


# --- arguments ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "value", "field"),
    [
        ("--num-shards", "-1", "num_shards"),
        ("--max-side", "0", "max_side"),
        ("--shard-mb", "0", "shard_mb"),
        ("--workers", "-1", "workers"),
        ("--workers", "0", "workers"),
    ],
)
def test_out_of_range_numbers_exit_2_naming_the_field(tmp_path: Path, flag: str, value: str, field: str, capsys):
    images, labels, coco = inputs(tmp_path)
    (labels / "coco_train.json").write_text(json.dumps(coco))
    assert main(records(labels, images, tmp_path / "out", flag, value)) == EXIT_USAGE
    assert the_error(capsys) == f"error: {field}: Input should be greater than 0"
    assert not (tmp_path / "out").exists()  # refused before anything was made


# --- crashes ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [3, IN_PROCESS_BELOW + 8], ids=["in-process", "worker-pool"])
def test_a_huge_polygon_is_refused_before_pycocotools_sees_it(tmp_path: Path, count: int) -> None:
    """It used to crash the command (exit 139), or hang the pool with a worker dead. A subprocess: a crash
    in this process would take pytest with it."""
    images, labels, coco = inputs(tmp_path, images=count)
    coco["annotations"][-1]["segmentation"] = [[0, 0, 1e12, 0, 1e12, 1e12]]
    (labels / "coco_train.json").write_text(json.dumps(coco))
    args = records(labels, images, tmp_path / "out", "--include-masks", "--num-shards", "2", "--workers", "2")
    found = subprocess.run([sys.executable, "-c", RUN, *args], capture_output=True, text=True, timeout=120)
    assert found.returncode == EXIT_USAGE, found.stderr[-2000:]
    last = len(coco["annotations"]) - 1
    assert found.stderr.splitlines() == [
        f"error: {labels / 'coco_train.json'} annotations[{last}].segmentation[0]: x 1000000000000.0 at [2] lies "
        f"more than one image size outside the {coco['images'][-1]['width']}x{coco['images'][-1]['height']} image "
        f"(annotation id {last + 1}, image id {coco['images'][-1]['id']})"
    ]


def test_a_worker_killed_by_a_signal_fails_the_run_instead_of_hanging(tmp_path: Path) -> None:
    """What the kernel's out-of-memory killer or a crash in an image library does to a worker, done for real:
    SIGKILL to a spawned worker in the middle of writing its shard (multiprocessing.Pool waited for it forever)."""
    images, labels, coco = inputs(tmp_path, images=IN_PROCESS_BELOW * 3)
    (labels / "coco_train.json").write_text(json.dumps(coco))
    out = tmp_path / "out"
    args = records(labels, images, out, "--include-masks", "--verify-pixels", "--num-shards", "2", "--workers", "2")
    command = subprocess.Popen([sys.executable, "-c", RUN, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        os.kill(writing_worker(command), signal.SIGKILL)
        _, err = command.communicate(timeout=120)
    finally:
        if command.poll() is None:  # still running: the pool hangs; stop it so the test fails rather than waits
            command.kill()
            command.communicate()
    assert command.returncode == EXIT_FAILED, err.decode()[-2000:]
    errors = [line for line in err.decode().splitlines() if line.startswith("error: ")]
    assert errors == [
        "error: a worker process writing shards died (killed by a signal: a crash or out of memory); nothing was "
        "published"
    ]
    assert "Traceback" not in err.decode()
    assert not list(out.glob("*.tfrecord")) and not (out / "stats.json").exists()


def writing_worker(command: subprocess.Popen[bytes], timeout: float = 60) -> int:
    """The pid of a spawned worker of `command` that has a shard open (found in /proc: parent, command line and
    open files)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and command.poll() is None:
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and _is_worker_of(entry, command.pid) and _writes_a_shard(entry):
                return int(entry.name)
        time.sleep(0.002)
    raise AssertionError(f"no worker was seen writing a shard (exit status {command.poll()})")


def _is_worker_of(entry: Path, parent: int) -> bool:
    try:
        stat = (entry / "stat").read_text()
        cmdline = (entry / "cmdline").read_bytes()
    except OSError:  # gone already
        return False
    ppid = int(stat.rsplit(")", 1)[1].split()[1])
    return ppid == parent and b"--multiprocessing-fork" in cmdline


def _writes_a_shard(entry: Path) -> bool:
    try:
        return any(os.readlink(fd).endswith(".tfrecord") for fd in (entry / "fd").iterdir())
    except OSError:
        return False
