"""`transferline convert` and `transferline validate-coco`: real files in, clear exits and messages out."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.exports import labelbox_json, labelbox_ndjson, yolo
from tests.support.files import write_files
from tests.support.labels import make_dataset, truth_coco
from transferline.cli import EXIT_FAILED, EXIT_USAGE, main

REPO = Path(__file__).resolve().parents[3]
# What `transferline convert` has no use for: the job, event and bus machinery of the platform's own commands, the
# stack's clients, the other services' libraries, and Pillow while no images are given.
NOT_FOR_CONVERT = (
    "transferline.commands",
    "transferline.events",
    "transferline.jobs",
    "transferline.plans",
    "transferline.jobview",
    "transferline.status",
    "transferline.bus",
    "transferline.runner",
    "kafka",
    "boto3",
    "botocore",
    "prometheus_client",
    "flask",
    "tensorflow",
    "PIL",
)


def test_convert_writes_coco_splits_and_report(tmp_path: Path, capsys) -> None:
    dataset = make_dataset(seed=9, images=10)
    images = dataset.write_images(tmp_path / "images")
    export = write_files(tmp_path / "export", yolo.write(dataset))
    out = tmp_path / "out"
    code = main(["convert", str(export), "--images", str(images), "--out", str(out), "--split", "train=3,val=1"])
    assert code == 0
    coco = json.loads((out / "coco.json").read_text())
    assert len(coco["images"]) == 10 and [c["name"] for c in coco["categories"]] == sorted(dataset.categories)
    train, val = (json.loads((out / f"coco_{s}.json").read_text()) for s in ("train", "val"))
    assert len(train["images"]) + len(val["images"]) == 10 and len(val["images"]) >= 1
    assert json.loads((out / "coco_test.json").read_text())["images"] == []
    assert json.loads((out / "report.json").read_text())["problems"]["errors"] == 0
    assert "# Label report: 10 images" in capsys.readouterr().out


def test_convert_with_too_many_broken_rows_exits_1_and_still_writes_the_report(tmp_path: Path, capsys) -> None:
    dataset = make_dataset(seed=2, images=4)
    export = tmp_path / "export.json"
    rows = json.loads(labelbox_json.write(dataset)[labelbox_json.FILE_NAME])
    rows[0]["Label"]["objects"][0]["bbox"] = {"top": "ten"}
    bow_tie = [{"x": 0, "y": 0}, {"x": 9, "y": 9}, {"x": 9, "y": 0}, {"x": 0, "y": 9}]
    rows[1]["Label"]["objects"][0] = {"featureId": "f0", "title": "can", "polygon": bow_tie}
    export.write_text(json.dumps(rows))
    out = tmp_path / "out"
    code = main(["convert", str(export), "--images", str(dataset.write_images(tmp_path / "i")), "--out", str(out)])
    assert code == EXIT_FAILED
    captured = capsys.readouterr()
    assert "errors in 4 rows is over the 10% limit" in captured.err
    report = json.loads((out / "report.json").read_text())
    codes = {item["code"]: item for item in report["problems"]["items"]}
    assert codes["malformed-row"]["row"] == "row 1 (ID label0001)" and "bbox" in codes["malformed-row"]["field"]
    assert codes["self-intersecting"]["row"] == "row 2 (ID label0002)"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["convert", "/no/such/export.json", "--out", "o"], "cannot read /no/such/export.json: no such file or folder"),
        (["convert", "e.json", "--out", "o", "--split", "train=0.5,holdout=0.5"], "split: Value error"),
        (
            ["convert", "e.json", "--out", "o", "--format", "excel"],
            "format: Value error, unknown export format 'excel'",
        ),
        (["convert", "e.json", "--out", "o", "--coco-class", "cup=mug"], "'mug' is not one of the 80 COCO classes"),
        (["convert", "e.json", "--out", "o", "--rename", "nothing"], "must look like NAME=VALUE"),
        (["convert", "e.json", "--out", "o", "--images", "/no/dir"], "cannot read /no/dir: no such file or folder"),
        (["validate-coco", "/no/such.json"], "/no/such.json"),
    ],
)
def test_bad_input_exits_2_with_a_message(tmp_path: Path, monkeypatch, args, message, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "e.json").write_text(json.dumps(truth_coco(make_dataset(images=1))))
    assert main(args) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err


def test_validate_coco_reports_flipped_boxes_and_repairs_them(tmp_path: Path, capsys) -> None:
    dataset = make_dataset(seed=5, images=5, polygons=True)
    coco = truth_coco(dataset)
    heights = {image["id"]: image["height"] for image in coco["images"]}
    objects = [obj for image in dataset.images for obj in image.objects]
    flipped = 0
    for annotation, obj in zip(coco["annotations"], objects, strict=True):
        if obj.polygon:
            annotation["segmentation"] = [[c for point in obj.polygon for c in point]]
            x, y, w, h = annotation["bbox"]
            annotation["bbox"] = [x, heights[annotation["image_id"]] - y - h, w, h]  # the legacy exporters' bug
            flipped += y * 2 + h != heights[annotation["image_id"]]  # a box centred vertically looks unflipped
    assert flipped > 0
    path = tmp_path / "flipped.json"
    path.write_text(json.dumps(coco))

    assert main(["validate-coco", str(path)]) == 1
    assert "bbox-flipped" in capsys.readouterr().out
    assert main(["validate-coco", str(path), "--repair", "--out", str(tmp_path / "fixed.json")]) == 0
    fixed = json.loads((tmp_path / "fixed.json").read_text())
    for annotation in fixed["annotations"]:
        if "segmentation" in annotation:
            xs, ys = annotation["segmentation"][0][0::2], annotation["segmentation"][0][1::2]
            assert annotation["bbox"] == pytest.approx([min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)])
    assert main(["validate-coco", str(tmp_path / "fixed.json")]) == 0


def test_the_installed_command_shows_no_traceback_on_a_truncated_export(tmp_path: Path) -> None:
    export = tmp_path / "export.json"
    export.write_text('[{"ID": "a", "Labeled Data": "http://x/a.jpg", "Label": {"objects": [{"bbox": ')
    found = subprocess.run(
        [sys.executable, "-m", "transferline.cli", "convert", str(export), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert found.returncode == EXIT_USAGE
    assert "export.json is not valid JSON" in found.stderr and "line 1 column" in found.stderr
    assert "Traceback" not in found.stderr


def test_convert_imports_only_what_converting_needs(tmp_path: Path) -> None:
    """Every service's CLI module is loaded to build the parser; nothing else of theirs, nor any NOT_FOR_CONVERT."""
    export = write_files(tmp_path / "export", labelbox_ndjson.write(make_dataset(seed=3, images=4)))
    command = ["convert", str(export / labelbox_ndjson.FILE_NAME), "--out", str(tmp_path / "out")]
    code = f"import json, sys; from transferline.cli import main; print(json.dumps([main({command}), [*sys.modules]]))"
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    exit_code, loaded = json.loads(found.stdout.splitlines()[-1])
    assert exit_code == 0, found.stderr
    assert [name for name in loaded if _within(name, NOT_FOR_CONVERT)] == []
    others = [name for name in loaded if name.startswith("transferline_") and "converter" not in name]
    assert others and all(name.count(".") == 0 or name.endswith(".cli") for name in others), others


def _within(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == package or name.startswith(package + ".") for package in packages)
