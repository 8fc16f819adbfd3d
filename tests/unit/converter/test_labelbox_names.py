"""Export v2 NDJSON without --images: images are named by the row's external id (or global key), not by the storage
name Labelbox puts at the end of `row_data`; the URL stays in `coco_url`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from transferline.cli import main

STORAGE = "https://storage.labelbox.com/clfl1h1wi05sj07vjewprhj0s%2F{uuid}-{name}?Expires=1697187460210&KeyName=k"


def data_row(number: int, **names: str | None) -> dict[str, Any]:
    """A row of the shape `project.export()` streams, with one box."""
    row_data = STORAGE.format(uuid=f"b439ff3f-0c1d-4bb2-9b4e-{number:012d}", name=f"frame_{number:05d}.jpg")
    box = {"top": 10.0, "left": 20.0, "height": 30.0, "width": 40.0}
    obj = {"feature_id": f"f{number}", "name": "car", "annotation_kind": "ImageBoundingBox", "bounding_box": box}
    label = {"label_kind": "Default", "version": "1.0.0", "id": f"l{number}", "annotations": {"objects": [obj]}}
    return {
        "data_row": {"id": f"clhq7q8wu2j3o{number:04d}", "row_data": row_data, **names},
        "media_attributes": {"height": 375, "width": 720, "mime_type": "image/jpeg", "exif_rotation": "1"},
        "attachments": [],
        "metadata_fields": [],
        "projects": {"cligsku3003yp072g9zlu2n48": {"name": "p", "labels": [label]}},
    }


def convert(tmp_path: Path, rows: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    export = tmp_path / "export-result.ndjson"
    export.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    out = tmp_path / "out"
    assert main(["convert", str(export), "--out", str(out)]) == 0
    return json.loads((out / "coco.json").read_text()), json.loads((out / "report.json").read_text())


def test_file_names_are_external_ids_then_global_keys_and_urls_stay_as_coco_url(tmp_path: Path) -> None:
    rows = [
        data_row(1, external_id="frame_00001.jpg", global_key="clip-a/frame_00001.jpg"),
        data_row(2, global_key="clip-a/frame_00002.jpg"),
        data_row(3),
    ]

    coco, report = convert(tmp_path, rows)

    assert [image["file_name"] for image in coco["images"]] == [
        "frame_00001.jpg",
        "clip-a/frame_00002.jpg",
        "b439ff3f-0c1d-4bb2-9b4e-000000000003-frame_00003.jpg",  # no other name: the storage name
    ]
    assert [image["coco_url"] for image in coco["images"]] == [row["data_row"]["row_data"] for row in rows]
    assert [(image["width"], image["height"]) for image in coco["images"]] == [(720, 375)] * 3
    assert [a["bbox"] for a in coco["annotations"]] == [[20.0, 10.0, 40.0, 30.0]] * 3
    (note,) = report["notes"]
    assert "named by their Labelbox name (1 by data_row.external_id and 1 by data_row.global_key)" in note
    assert report["problems"]["errors"] == report["problems"]["warnings"] == 0


def test_rows_that_share_an_external_id_keep_names_of_their_own(tmp_path: Path) -> None:
    rows = [
        data_row(1, external_id="a.jpg", global_key="set-1/a.jpg"),
        data_row(2, external_id="a.jpg", global_key="set-2/a.jpg"),
        data_row(3, external_id="a.jpg"),
        data_row(4, external_id="b.jpg"),
    ]

    coco, report = convert(tmp_path, rows)

    assert [image["file_name"] for image in coco["images"]] == [
        "set-1/a.jpg",
        "set-2/a.jpg",
        "b439ff3f-0c1d-4bb2-9b4e-000000000003-frame_00003.jpg",
        "b.jpg",
    ]
    assert report["problems"]["errors"] == report["problems"]["warnings"] == 0
