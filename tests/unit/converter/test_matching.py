"""Rows find their images through `transferline convert`, in the shapes real exports take: a CVAT project whose
tasks repeat image names, Labelbox external ids carrying a folder, a Roboflow YOLO download holding its own
images, Label Studio paths without a suffix."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from tests.support.exports import cvat, label_studio, labelbox_json, yolo
from tests.support.files import write_files
from tests.support.labels import GtDataset, make_dataset
from transferline.cli import main
from transferline_converter import sources

SUBSETS = ("Train", "Validation", "Test")


def convert(tmp_path: Path, export: Path, images: Path | None = None) -> tuple[int, dict, dict]:
    out = tmp_path / "out"
    code = main(["convert", str(export), "--out", str(out), *(["--images", str(images)] if images else [])])
    return code, json.loads((out / "coco.json").read_text()), json.loads((out / "report.json").read_text())


def problems(report: dict, code: str) -> list[dict]:
    return [item for item in report["problems"]["items"] if item["code"] == code]


def project() -> dict[str, GtDataset]:
    """Three tasks, each holding img_0000.jpg and img_0001.jpg (different pictures of different sizes)."""
    return {subset: make_dataset(seed=seed, images=2) for seed, subset in enumerate(SUBSETS, start=3)}


@pytest.mark.parametrize("images", [None, "export", "export/images"])
def test_a_cvat_project_with_repeated_names_converts_all_six_images(tmp_path: Path, images: str | None) -> None:
    """Without --images, and with --images in CVAT's own images/<subset>/ layout (given at the export's root or at
    its images/ folder): six images, each with its own task's size, picture and boxes."""
    subsets = project()
    export = write_files(tmp_path / "export", cvat.write_project(subsets, with_images=True))
    code, coco, report = convert(tmp_path, export, tmp_path / images if images else None)
    assert code == 0 and report["problems"]["errors"] == 0 and problems(report, "duplicate-row") == []
    truth = [(f"{s}/{i.file_name}", i.width, i.height, len(i.objects)) for s, d in subsets.items() for i in d.images]
    per_image = {i["id"]: 0 for i in coco["images"]}
    for annotation in coco["annotations"]:
        per_image[annotation["image_id"]] += 1
    found = [(i["external_id"], i["width"], i["height"], per_image[i["id"]]) for i in coco["images"]]
    assert found == truth
    if images:  # each row found its own task's picture, not another task's image of the same name
        pictures = [i.sha256 for d in subsets.values() for i in d.images]
        assert [i["sha256"] for i in coco["images"]] == pictures
        assert {i["file_name"].rsplit("/", 2)[-2] for i in coco["images"]} == set(SUBSETS)


def labelbox_export(tmp_path: Path, dataset: GtDataset) -> Path:
    """A 2021 legacy export: External IDs carry the folder they were uploaded from; Labeled Data is a storage URL
    that names no file of the user's."""
    rows = json.loads(labelbox_json.write(dataset)[labelbox_json.FILE_NAME])
    for number, row in enumerate(rows):
        row["External ID"] = f"uploaded_images/{row['External ID']}"
        row["Labeled Data"] = f"https://storage.labelbox.com/ck0/{number:08x}-stored.jpg?Expires=1"
    export = tmp_path / "export.json"
    export.write_text(json.dumps(rows))
    return export


def test_path_prefixed_external_ids_match_a_flat_folder_by_base_name(tmp_path: Path) -> None:
    dataset = make_dataset(seed=8, images=5)
    code, coco, report = convert(tmp_path, labelbox_export(tmp_path, dataset), dataset.write_images(tmp_path / "flat"))
    assert code == 0 and report["problems"]["errors"] == 0
    assert [i["file_name"] for i in coco["images"]] == [i.file_name for i in dataset.images]
    assert [i["sha256"] for i in coco["images"]] == [i.sha256 for i in dataset.images]


def test_a_name_two_images_share_is_an_error_naming_both(tmp_path: Path) -> None:
    dataset = make_dataset(seed=8, images=2)
    rows = json.loads(labelbox_json.write(dataset)[labelbox_json.FILE_NAME])
    for number, row in enumerate(rows):
        row["Labeled Data"] = f"https://storage.labelbox.com/ck0/{number:08x}-stored.jpg?Expires=1"
    export = tmp_path / "export.json"
    export.write_text(json.dumps(rows))
    dataset.write_images(tmp_path / "images" / "a")
    dataset.write_images(tmp_path / "images" / "b")
    code, coco, report = convert(tmp_path, export, tmp_path / "images")
    assert code == 1 and coco["images"] == []
    [first, _] = problems(report, "image-missing")
    assert "'img_0000.jpg' names 2 stored images (a/img_0000.jpg, b/img_0000.jpg)" in first["message"]


def test_a_missing_image_message_lists_the_names_tried(tmp_path: Path) -> None:
    dataset = make_dataset(seed=8, images=1)
    other = write_files(tmp_path / "other", {"a.jpg": make_dataset(seed=1, images=1).images[0].jpeg()})
    code, _, report = convert(tmp_path, labelbox_export(tmp_path, dataset), other)
    [missing] = problems(report, "image-missing")
    assert code == 1
    assert (
        "tried: 'uploaded_images/img_0000.jpg', 'img_0000.jpg', 'uploaded_images/img_0000', 'img_0000'"
        in (missing["message"])
    )


@pytest.mark.parametrize("layout", ["roboflow", "ultralytics"])
def test_a_yolo_folder_with_its_own_images_needs_no_images_option(tmp_path: Path, layout: str) -> None:
    """Roboflow's train/images + train/labels, or Ultralytics' images/train + labels/train: sizes come from the
    export's own images, and the same name in two splits stays two images."""
    splits = {"train": make_dataset(seed=4, images=3), "valid": make_dataset(seed=5, images=2)}
    files = yolo.write_roboflow(splits)
    if layout == "ultralytics":
        files = {_ultralytics(name): data for name, data in files.items()}
    code, coco, report = convert(tmp_path, write_files(tmp_path / "export", files))
    assert code == 0 and report["problems"]["errors"] == 0
    truth = [(_path(layout, s, i.file_name), i.width, i.height) for s, d in splits.items() for i in d.images]
    assert sorted((i["file_name"], i["width"], i["height"]) for i in coco["images"]) == sorted(truth)
    assert len(coco["annotations"]) == sum(len(i.objects) for d in splits.values() for i in d.images)


def _path(layout: str, split: str, name: str) -> str:
    return f"{split}/images/{name}" if layout == "roboflow" else f"images/{split}/{name}"


def _ultralytics(name: str) -> str:
    split, _, rest = name.partition("/")
    folder, _, file = rest.partition("/")
    return f"{folder}/{split}/{file}" if folder in ("images", "labels") else name


def test_yolo_labels_without_images_are_reported_about_the_image(tmp_path: Path) -> None:
    dataset = make_dataset(seed=6, images=2)
    code, _, report = convert(tmp_path, write_files(tmp_path / "export", yolo.write(dataset)))
    first = problems(report, "image-missing")[0]
    assert code == 1 and (first["row"], first.get("field")) == ("labels/img_0000.txt", None)
    assert first["message"].startswith("the image 'images/img_0000' has no size in the export")


def test_label_studio_paths_without_a_suffix_match_by_stem(tmp_path: Path) -> None:
    dataset = make_dataset(seed=7, images=3)
    tasks = json.loads(label_studio.write(dataset)[label_studio.FILE_NAME])
    for task, image in zip(tasks, dataset.images, strict=True):
        task["data"]["image"] = "/" + image.file_name.rsplit(".", 1)[0]  # `/img_0000`, as an import by path gives
    export = tmp_path / "tasks.json"
    export.write_text(json.dumps(tasks))
    code, coco, report = convert(tmp_path, export, dataset.write_images(tmp_path / "images"))
    assert code == 0 and report["problems"]["errors"] == 0
    assert [i["file_name"] for i in coco["images"]] == [i.file_name for i in dataset.images]


def test_a_split_list_of_cvat_subset_names_keeps_the_subsets_as_splits(tmp_path: Path) -> None:
    """What the report's note suggests works: the names <subset>/<name> place each task's images in its split."""
    subsets = project()
    export = write_files(tmp_path / "export", cvat.write_project(subsets, with_images=True))
    listed = {
        split: [f"{subset}/{i.file_name}" for i in subsets[subset].images]
        for split, subset in (("train", "Train"), ("val", "Validation"), ("test", "Test"))
    }
    (tmp_path / "splits.json").write_text(json.dumps(listed))
    out = tmp_path / "out"
    args = ["convert", str(export), "--images", str(export), "--split-list", str(tmp_path / "splits.json")]
    assert main([*args, "--out", str(out)]) == 0
    for split, names in listed.items():
        coco = json.loads((out / f"coco_{split}.json").read_text())
        assert [i["external_id"] for i in coco["images"]] == names
    report = json.loads((out / "report.json").read_text())
    assert any("CVAT project subsets Train (2), Validation (2), Test (2)" in note for note in report["notes"])


def test_label_studio_local_files_in_two_folders_with_one_name_stay_two_images(tmp_path: Path) -> None:
    """Local-files storage names the image by its path under the storage root: train/img_0000.jpg and
    val/img_0000.jpg are different pictures, each found in its own folder."""
    splits = {"train": make_dataset(seed=1, images=1), "val": make_dataset(seed=2, images=1)}
    tasks = []
    for split, dataset in splits.items():
        [task] = json.loads(label_studio.write(dataset)[label_studio.FILE_NAME])
        task["id"] = len(tasks) + 1
        task["data"]["image"] = f"/data/local-files/?d={split}/{dataset.images[0].file_name}"
        tasks.append(task)
        dataset.write_images(tmp_path / "images" / split)
    export = tmp_path / "tasks.json"
    export.write_text(json.dumps(tasks))
    code, coco, report = convert(tmp_path, export, tmp_path / "images")
    assert code == 0 and report["problems"]["errors"] == 0
    assert [(i["file_name"], i["sha256"]) for i in coco["images"]] == [
        (f"{split}/img_0000.jpg", dataset.images[0].sha256) for split, dataset in splits.items()
    ]


@pytest.mark.parametrize("packed", ["folder", "zip"])
def test_the_images_a_yolo_export_carries_count_against_no_cap(tmp_path: Path, monkeypatch, packed: str) -> None:
    """The cap on what an export may unpack to holds the labels; the pictures it carries are only opened for their
    headers (so a Roboflow download of many images converts, as a folder or as its zip)."""
    splits = {"train": make_dataset(seed=4, images=3), "valid": make_dataset(seed=5, images=2)}
    files = yolo.write_roboflow(splits)
    labels = sum(len(data) for name, data in files.items() if not name.endswith(".jpg"))
    monkeypatch.setattr(sources, "MAX_UNPACKED_BYTES", labels + 10)
    assert sum(len(data) for data in files.values()) > labels + 10
    export = write_files(tmp_path / "export", files)
    if packed == "zip":
        archive = tmp_path / "export.zip"
        with zipfile.ZipFile(archive, "w") as out:
            for name, data in files.items():
                out.writestr(name, data)
        export = archive
    code, coco, report = convert(tmp_path, export)
    assert code == 0 and report["problems"]["errors"] == 0 and len(coco["images"]) == 5
