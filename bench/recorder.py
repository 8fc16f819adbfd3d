"""TFRecord writing throughput: a COCO file + a folder of 640x480-ish JPEGs -> sharded TFRecords.

Beside it, what users run today: tf-models-official's own `official.vision.data.create_coco_tf_record` (a
multiprocessing pool over all cores). Both run as the commands a user types, in subprocesses, on the same COCO
file and folder in the same run, so each pays its own imports: TensorFlow's for create_coco_tf_record, none for
transferline, which writes Examples and TFRecords without it. A bare `python -c "import tensorflow"` is timed too,
to show how much of the gap that import is. Generating the images is not timed.
Usage: python -m bench.recorder [--images 2000] [--shards 8] [--repeat 1] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import multiprocessing
import os
import pstats
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from tests.support.labels import GtDataset, GtImage, GtObject, truth_coco

CATEGORIES = ("bottle", "can", "cup", "jar", "lid")


def make_images(count: int, seed: int = 0) -> GtDataset:
    """640x480-ish images (each side varies by about a tenth), 1-5 boxes each (3 on average)."""
    rng = random.Random(seed)
    images = []
    for index in range(count):
        width, height = rng.randint(576, 704), rng.randint(432, 528)
        image = GtImage(f"img_{index:05d}.jpg", width, height, seed * 1_000_000 + index)
        for _ in range(rng.randint(1, 5)):
            w, h = rng.randint(16, width // 2), rng.randint(16, height // 2)
            box = (rng.randint(0, width - w), rng.randint(0, height - h), w, h)
            image.objects.append(GtObject(rng.choice(CATEGORIES), box))
        images.append(image)
    return GtDataset(images, list(CATEGORIES))


def picture(image: GtImage, quality: int = 90) -> bytes:
    """A photo-like JPEG (smooth shapes plus grain, about 100 KB at 640x480): GtImage.jpeg() alone is so
    smooth that it compresses to a few KB, which would make every byte-moving cost look smaller than it is."""
    rng = np.random.default_rng(image.seed)
    coarse = rng.integers(0, 256, size=(12, 16, 3), dtype=np.uint8)
    size = (image.width, image.height)
    base = np.asarray(Image.fromarray(coarse).resize(size, Image.Resampling.BICUBIC), dtype=np.int16)
    grain = rng.normal(0, 10, size=(image.height // 2 + 1, image.width // 2 + 1, 3))
    grain = np.repeat(np.repeat(grain, 2, axis=0), 2, axis=1)[: image.height, : image.width]
    out = io.BytesIO()
    Image.fromarray(np.clip(base + grain, 0, 255).astype(np.uint8)).save(out, "JPEG", quality=quality)
    return out.getvalue()


def _write_picture(job: tuple[GtImage, Path]) -> int:
    image, folder = job
    data = picture(image)
    (folder / image.file_name).write_bytes(data)
    return len(data)


def write_inputs(dataset: GtDataset, root: Path) -> tuple[Path, Path, int]:
    """images/ (every picture), labels/coco_train.json (all of them); returns both paths and the image bytes."""
    images, labels = root / "images", root / "labels"
    images.mkdir(parents=True)
    labels.mkdir(parents=True)
    with multiprocessing.get_context("fork").Pool() as pool:
        total = sum(pool.imap_unordered(_write_picture, [(i, images) for i in dataset.images], chunksize=16))
    (labels / "coco_train.json").write_text(json.dumps(truth_coco(dataset)))
    return images, labels, total


def timed(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    found = subprocess.run(command, capture_output=True, text=True, cwd=cwd, check=False)
    seconds = time.perf_counter() - started
    if found.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({found.returncode}):\n{found.stderr[-4000:]}")
    return seconds


def source_ids(shards: list[Path]) -> list[int]:
    """Every example's image/source_id, read back through tf.data (after the timing: TF is imported here)."""
    import tensorflow as tf

    ids = []
    for raw in tf.data.TFRecordDataset([str(path) for path in shards]):
        example = tf.train.Example.FromString(raw.numpy())
        ids.append(int(example.features.feature["image/source_id"].bytes_list.value[0]))
    return ids


def profile_in_process(images: Path, labels: Path, shards: int) -> None:
    """Our path with workers=1 under cProfile (workers' time is invisible to a profiler in the parent)."""
    from transferline import keys
    from transferline.oneshot import LOCAL_JOB
    from transferline.store.filesystem import FilesystemStore, Mount
    from transferline_recorder.job import read_splits
    from transferline_recorder.records import RecordOptions, build_records
    from transferline_recorder.source import ImageSource

    splits = read_splits(FilesystemStore(labels, {keys.labels(LOCAL_JOB): Mount(labels)}), LOCAL_JOB)
    options = RecordOptions(num_shards=shards, workers=1)
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    build_records(splits, ImageSource.folder(images), options, lambda *_: None)
    profiler.disable()
    print(f"\nin-process (workers=1) build_records: {time.perf_counter() - started:.2f} s, cProfile by own time:")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(14)


def commands(python: str, images: Path, labels: Path, root: Path, shards: int) -> dict[str, list[str]]:
    """Each tool as a user types it; `bare` times TensorFlow's import alone, which create_coco_tf_record pays."""
    ours = [str(Path(python).with_name("transferline")), "records", str(labels), "--images", str(images)]
    ours += ["--num-shards", str(shards)]
    return {
        "bare": [python, "-c", "import tensorflow"],
        "theirs": [
            python,
            "-m",
            "official.vision.data.create_coco_tf_record",
            "--logtostderr",
            f"--image_dir={images}",
            f"--object_annotations_file={labels / 'coco_train.json'}",
            f"--output_file_prefix={root / 'theirs' / 'train'}",
            f"--num_shards={shards}",
        ],
        "ours": [*ours, "--out", str(root / "ours")],
        # one process: on few cores, starting worker processes can cost more than the work they spread out
        "ours-1": [*ours, "--out", str(root / "ours-1"), "--workers", "1"],
    }


def check_outputs(root: Path, coco: dict) -> int:
    """Every tool wrote every example once; ours is the same bytes with or without worker processes."""
    expected = sorted(image["id"] for image in coco["images"])
    shards = {name: sorted((root / name).glob("train-*.tfrecord")) for name in ("theirs", "ours", "ours-1")}
    for name, paths in shards.items():
        found = source_ids(paths)
        assert sorted(found) == expected, f"{name}: {len(found)} examples, expected {len(expected)}"
    assert [p.read_bytes() for p in shards["ours"]] == [p.read_bytes() for p in shards["ours-1"]]
    return len(expected)


def report(median: dict[str, float], images: int) -> None:
    rows = [
        ("tf-models create_coco_tf_record", median["theirs"]),
        ("transferline records", median["ours"]),
        ("transferline records --workers 1", median["ours-1"]),
        ("python -c 'import tensorflow'", median["bare"]),
    ]
    print(f"\n{'approach':<34} {'seconds':>8} {'images/s':>9}")
    for name, seconds in rows:
        print(f"{name:<34} {seconds:>8.2f} {images / seconds:>9.0f}")
    theirs_work = median["theirs"] - median["bare"]
    for name, label in (("ours", "default"), ("ours-1", "--workers 1")):
        print(
            f"ratio of images/s, ours ({label}) / theirs: {median['theirs'] / median[name]:.2f}x end to end, "
            f"{theirs_work / median[name]:.2f}x if TensorFlow's import cost theirs nothing"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each command; the median is shown")
    parser.add_argument("--profile", action="store_true", help="also profile our code in-process with cProfile")
    args = parser.parse_args()
    repo = Path(__file__).resolve().parents[1]
    dataset = make_images(args.images)
    coco = truth_coco(dataset)
    with tempfile.TemporaryDirectory(prefix="bench-recorder-") as scratch:
        root = Path(scratch)
        started = time.perf_counter()
        images, labels, image_bytes = write_inputs(dataset, root)
        print(
            f"generated {args.images} JPEGs ({image_bytes / 2**20:.0f} MiB, {len(coco['annotations'])} boxes) "
            f"in {time.perf_counter() - started:.0f} s (not timed); {os.cpu_count()} cores"
        )
        runs = commands(sys.executable, images, labels, root, args.shards)
        timed(runs["theirs"], repo)  # warm-up, untimed: every tool then reads the images from a warm cache
        seconds: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(args.repeat):
            for name, command in runs.items():
                shutil.rmtree(root / name, ignore_errors=True)
                seconds[name].append(timed(command, repo))
        examples = check_outputs(root, coco)
        print(f"every output holds {examples} examples with the right source ids, in {args.shards} shards")
        report({name: statistics.median(found) for name, found in seconds.items()}, args.images)
        if args.repeat > 1:
            print("all runs (s): " + "; ".join(f"{k} " + ", ".join(f"{s:.2f}" for s in v) for k, v in seconds.items()))
        if args.profile:
            profile_in_process(images, labels, args.shards)


if __name__ == "__main__":
    main()
