"""Round trips: a generated dataset written in each tool's export format converts back to the same boxes.

Two checks per format: the converted COCO scored against itself with pycocotools gives AP 1.0 (it loads and is
self-consistent), and the converted boxes scored against the generated truth give AP 1.0 (they are right).
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from tests.support.exports import cvat, label_studio, labelbox_json, labelbox_ndjson, voc, yolo
from tests.support.labels import GtDataset, make_dataset, truth_coco
from transferline_converter.checks import check_coco
from transferline_converter.convert import ConvertOptions, convert
from transferline_converter.dataset import Problems
from transferline_converter.images import ImageIndex
from transferline_converter.masks import MaskSource
from transferline_converter.readers import detect
from transferline_converter.sources import ExportSource


def coco_export(dataset: GtDataset) -> dict[str, bytes]:
    """The truth itself as a COCO export, with polygons as segmentations."""
    coco = truth_coco(dataset)
    objects = [obj for image in dataset.images for obj in image.objects]
    for annotation, obj in zip(coco["annotations"], objects, strict=True):
        if obj.polygon:
            annotation["segmentation"] = [[c for point in obj.polygon for c in point]]
    return {"instances.json": json.dumps(coco).encode()}


WRITERS = {
    "labelbox-json objects": ("labelbox-json", lambda d: labelbox_json.write(d, "objects")),
    "labelbox-json wkt-v2": ("labelbox-json", lambda d: labelbox_json.write(d, "wkt-v2")),
    "labelbox-json wkt-v3": ("labelbox-json", lambda d: labelbox_json.write(d, "wkt-v3")),
    "labelbox-json xy": ("labelbox-json", lambda d: labelbox_json.write(d, "xy")),
    "labelbox-json xy-geometry": ("labelbox-json", lambda d: labelbox_json.write(d, "xy-geometry")),
    "labelbox-ndjson": ("labelbox-ndjson", labelbox_ndjson.write),
    "coco": ("coco", coco_export),
    "voc": ("voc", voc.write),
    "yolo": ("yolo", yolo.write),
    "label-studio": ("label-studio", label_studio.write),
    "cvat": ("cvat", cvat.write),
}


def average_precision(truth: dict, detections: list[dict]) -> float:
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        ground = COCO()
        ground.dataset = truth
        ground.createIndex()
        evaluation = COCOeval(ground, ground.loadRes(detections), "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return float(evaluation.stats[0])


def as_detections(coco: dict, image_ids: dict[str, int] | None = None, category_ids: dict[str, int] | None = None):
    """Annotations as scored detections, optionally renumbered into another dataset's ids."""
    names = {c["id"]: c["name"] for c in coco["categories"]}
    files = {i["id"]: i["file_name"] for i in coco["images"]}
    return [
        {
            "image_id": image_ids[files[a["image_id"]]] if image_ids else a["image_id"],
            "category_id": category_ids[names[a["category_id"]]] if category_ids else a["category_id"],
            "bbox": a["bbox"],
            "score": 1.0,
        }
        for a in coco["annotations"]
    ]


@pytest.mark.parametrize("form", WRITERS)
def test_each_format_converts_back_to_the_truth(tmp_path: Path, form: str) -> None:
    expected_format, write = WRITERS[form]
    dataset = make_dataset(seed=len(form), images=8)
    images = dataset.write_images(tmp_path / "images")
    export = tmp_path / "export"
    for name, data in write(dataset).items():
        (export / name).parent.mkdir(parents=True, exist_ok=True)
        (export / name).write_bytes(data)
    source = ExportSource.from_path(export)
    assert detect(source) == expected_format

    result = convert([source], ImageIndex.from_folder(images), MaskSource(), ConvertOptions())

    assert result.failure is None and result.report["problems"]["errors"] == 0, result.report_text
    coco = result.coco
    own = Problems()
    check_coco(coco, own)  # what validate-coco would say about the output
    assert own.count("error") == own.count("warning") == 0, [p.as_dict() for p in own.items]
    assert len(coco["images"]) == len(dataset.images)
    assert len(coco["annotations"]) == sum(len(i.objects) for i in dataset.images)
    assert average_precision(coco, as_detections(coco)) == 1.0
    truth = truth_coco(dataset)
    image_ids = {i["file_name"]: i["id"] for i in truth["images"]}
    category_ids = {c["name"]: c["id"] for c in truth["categories"]}
    assert average_precision(truth, as_detections(coco, image_ids, category_ids)) == 1.0


def test_a_wrong_box_is_caught_by_the_truth_comparison(tmp_path: Path) -> None:
    """The comparison above can fail: move one converted box and AP drops below 1."""
    dataset = make_dataset(seed=1, images=4)
    truth = truth_coco(dataset)
    moved = json.loads(json.dumps(truth))
    moved["annotations"][0]["bbox"][1] += moved["annotations"][0]["bbox"][3] / 2
    assert average_precision(truth, as_detections(moved)) < 1.0
