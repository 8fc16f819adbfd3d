"""A slim install: `pip install '.[recorder]'` into a fresh venv brings no TensorFlow, and `transferline records` works.

The wheel is built from a copy of the project files in tmp_path (building in place would leave build/ and
*.egg-info in the repo); pip's cache keeps the dependencies' downloads between runs.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.labels import make_dataset, truth_coco

REPO = Path(__file__).resolve().parents[3]
PROJECT = ["pyproject.toml", "README.md", "shared", "services"]
# pip's words when it cannot reach the package index: with a dependency missing from its cache, nothing to test
OFFLINE = ("Failed to establish a new connection", "Temporary failure in name resolution", "Network is unreachable")


def run(command: list[str | Path], cwd: Path, env: dict[str, str], timeout: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(part) for part in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def clean_env(tmp_path: Path) -> dict[str, str]:
    """This process's environment less anything that would point Python at the repo, its venv or its settings."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"} and not key.startswith("TRANSFERLINE_")
    }
    return {**env, "TRANSFERLINE_DATA_DIR": str(tmp_path / "data")}


def tfrecord_count(path: Path) -> int:
    """Records in a TFRecord file, read by its framing (length, CRC, data, CRC) so no TensorFlow is needed."""
    raw, count, at = path.read_bytes(), 0, 0
    while at < len(raw):
        (length,) = struct.unpack_from("<Q", raw, at)
        at += 8 + 4 + length + 4
        count += 1
    assert at == len(raw), f"{path.name}: truncated record"
    return count


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_recorder_extra_installs_and_runs_records_without_tensorflow(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    for name in PROJECT:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(REPO / name, source / name)
    env = clean_env(tmp_path)
    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    made = run([sys.executable, "-m", "venv", venv], tmp_path, env, 300)
    assert made.returncode == 0, made.stderr
    pip = [python, "-m", "pip", "install", "--disable-pip-version-check", "--no-compile", f"{source}[recorder]"]
    installed = run(pip, tmp_path, env, 900)
    if installed.returncode != 0 and any(words in installed.stderr for words in OFFLINE):
        pytest.skip(f"no package index and a dependency missing from pip's cache: {installed.stderr[-500:]}")
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]

    tensorflow = run([python, "-c", "import tensorflow"], tmp_path, env, 60)
    assert tensorflow.returncode != 0
    assert "No module named 'tensorflow'" in tensorflow.stderr
    found = "import transferline_recorder; print(transferline_recorder.__file__)"
    where = run([python, "-c", found], tmp_path, env, 60)
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(venv)  # the built wheel, not the repo's editable install

    dataset = make_dataset(seed=11, images=6)
    images = dataset.write_images(tmp_path / "images")
    coco, labels = truth_coco(dataset), tmp_path / "labels"
    labels.mkdir()
    for split, part in (("train", coco["images"][:4]), ("val", coco["images"][4:])):
        ids = {image["id"] for image in part}
        annotations = [a for a in coco["annotations"] if a["image_id"] in ids]
        (labels / f"coco_{split}.json").write_text(json.dumps({**coco, "images": part, "annotations": annotations}))
    out = tmp_path / "out"
    command = [venv / "bin" / "transferline", "records", labels, "--images", images, "--out", out]
    records = run(command, tmp_path, env, 300)
    assert records.returncode == 0, records.stderr[-3000:]

    stats = json.loads((out / "stats.json").read_text())["splits"]
    assert {name: split["images"] for name, split in stats.items()} == {"train": 4, "val": 2}
    for split in stats.values():
        shards = [out / name for name in split["shards"]]
        assert shards and all(shard.is_file() for shard in shards)
        assert sum(tfrecord_count(shard) for shard in shards) == split["images"]
    assert (out / "label_map.pbtxt").is_file()
    assert records.stdout.splitlines()[0].startswith("train: 4 images")
