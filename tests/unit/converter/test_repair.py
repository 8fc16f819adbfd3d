"""repair_coco leaves nothing check_coco calls an error, and pycocotools scores the result against itself as AP 1;
validate_file runs both on a file."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from tests.support.labels import make_dataset
from tests.unit.converter.test_checks import coco_of, flip, flippable, hostile_cocos, rle_of, valid_cocos
from transferline.errors import InvalidInput
from transferline_converter.checks import check_coco
from transferline_converter.dataset import CODES, Problems
from transferline_converter.repair import repair_coco
from transferline_converter.validate import render_problems, render_result, validate_file


def repaired(coco: Any) -> tuple[dict, Problems]:
    changes = Problems()
    result = repair_coco(coco, changes)
    return result, changes


def errors_after(coco: dict) -> list:
    problems = Problems()
    check_coco(coco, problems)
    return [p for p in problems.items if p.severity == "error"]


def self_ap(coco: dict, iou_type: str = "bbox") -> float:
    """COCOeval of the ground truth against itself (each annotation a detection with score 1)."""
    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO()
        truth.dataset = copy.deepcopy(coco)
        truth.createIndex()
        detections = [
            {
                "image_id": a["image_id"],
                "category_id": a["category_id"],
                "bbox": a["bbox"],
                "score": 1.0,
                **({"segmentation": truth.annToRLE(a)} if iou_type == "segm" else {}),
            }
            for a in coco["annotations"]
        ]
        evaluation = COCOeval(truth, truth.loadRes(detections), iou_type)
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return float(evaluation.stats[0])


# pycocotools divides by (tp + fp + eps): with a single detection "AP 1" is 1 - 2e-16
AP_1 = pytest.approx(1.0, abs=1e-12)


def test_flipped_bboxes_are_fixed_to_the_polygon_bounds_exactly():
    coco = coco_of(make_dataset(seed=1, images=10))
    targets = flippable(coco)
    truth = {a["id"]: list(a["bbox"]) for a in targets}
    for annotation in targets:
        flip(coco, annotation)
    assert errors_after(coco)
    result, changes = repaired(coco)
    fixed = {a["id"]: a["bbox"] for a in result["annotations"] if a["id"] in truth}
    assert fixed == truth
    assert changes.counts["bbox-flipped"] == len(targets) and changes.severities["bbox-flipped"] == "warning"
    assert errors_after(result) == []


def test_a_clean_file_comes_back_unchanged():
    coco = coco_of(make_dataset(seed=2, images=6))
    result, changes = repaired(coco)
    assert result == coco and changes.items == []


def test_the_input_is_not_modified():
    coco = coco_of(make_dataset(seed=4, images=3))
    flip(coco, coco["annotations"][0])
    coco["annotations"][0]["id"] = "x"
    before = copy.deepcopy(coco)
    result, _ = repaired(coco)
    assert coco == before and result["annotations"][0] is not coco["annotations"][0]


def test_bad_ids_are_renumbered_and_references_follow():
    coco = coco_of(make_dataset(seed=5, images=4, max_objects=3))
    names = {image["id"]: image["file_name"] for image in coco["images"]}
    classes = {c["id"]: c["name"] for c in coco["categories"]}
    pairs = sorted((names[a["image_id"]], classes[a["category_id"]]) for a in coco["annotations"])
    for index, image in enumerate(coco["images"]):
        image["id"] = f"img-{index}" if index % 2 else image["id"]
    for annotation in coco["annotations"]:
        annotation["image_id"] = (
            f"img-{annotation['image_id'] - 1}" if (annotation["image_id"] - 1) % 2 else annotation["image_id"]
        )
    coco["annotations"][0]["id"] = 0
    coco["annotations"][1]["id"] = coco["annotations"][2]["id"]
    coco["categories"][0]["id"] = "zero"
    for annotation in coco["annotations"]:
        annotation["category_id"] = "zero" if annotation["category_id"] == 1 else annotation["category_id"]
    result, changes = repaired(coco)
    for table in ("images", "annotations", "categories"):
        ids = [row["id"] for row in result[table]]
        assert len(set(ids)) == len(ids) and all(isinstance(i, int) and i > 0 for i in ids)
    names = {image["id"]: image["file_name"] for image in result["images"]}
    classes = {c["id"]: c["name"] for c in result["categories"]}
    assert sorted((names[a["image_id"]], classes[a["category_id"]]) for a in result["annotations"]) == pairs
    assert changes.counts["bad-id"] == len(coco["images"]) // 2 + 2 + 1
    assert errors_after(result) == []


def test_duplicate_category_names_are_merged():
    coco = coco_of(make_dataset(seed=6, images=3))
    coco["categories"].append({"id": 9, "name": coco["categories"][0]["name"]})
    coco["annotations"][0]["category_id"] = 9
    result, changes = repaired(coco)
    assert [c["name"] for c in result["categories"]] == [c["name"] for c in coco["categories"][:-1]]
    assert result["annotations"][0]["category_id"] == coco["categories"][0]["id"]
    assert changes.counts["duplicate-id"] == 1 and errors_after(result) == []


def test_unusable_annotations_are_dropped_and_shapes_clipped():
    coco = {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 50, "height": 40}],
        "categories": [{"id": 1, "name": "car"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [40, 30, 20, 20], "area": 400, "iscrowd": 0},
            {"id": 2, "image_id": 1, "category_id": 1, "bbox": [60, 1, 5, 5], "area": 25, "iscrowd": 0},
            {"id": 3, "image_id": 7, "category_id": 1, "bbox": [1, 1, 5, 5], "area": 25, "iscrowd": 0},
            {"id": 4, "image_id": 1, "category_id": 2, "bbox": [1, 1, 5, 5], "area": 25, "iscrowd": 0},
            {"id": 5, "image_id": 1, "category_id": 1, "bbox": [1, 1, 0, 5], "area": 0, "iscrowd": 0},
            {"id": 6, "image_id": 1, "category_id": 1, "bbox": [1, 1, math.nan, 5], "area": 0},
            {"id": 7, "image_id": 1, "category_id": 1, "segmentation": [[-10, -10, 10, -10, 10, 10, -10, 10]]},
            {"id": 8, "image_id": 1, "category_id": 1, "segmentation": [[0, 0, 10, 10, 10, 0, 0, 10]], "bbox": [0] * 4},
        ],
    }
    result, changes = repaired(coco)
    kept = {a["id"]: a for a in result["annotations"]}
    assert sorted(kept) == [1, 7]  # 8, a bow tie (two triangles or a square?), is not guessed at
    assert kept[1]["bbox"] == [40, 30, 10, 10] and kept[1]["area"] == 100
    assert kept[7]["bbox"] == [0, 0, 10, 10] and kept[7]["area"] == 100 and kept[7]["iscrowd"] == 0
    assert {"out-of-bounds", "bad-reference", "degenerate-shape", "self-intersecting"} <= set(changes.counts)
    assert errors_after(result) == []


def test_rle_segmentations_are_kept_and_their_bbox_rebuilt():
    bitmap = np.zeros((40, 30), dtype=np.uint8)
    bitmap[5:12, 3:20] = 1
    rle = rle_of(bitmap, compressed=False)
    coco = {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 30, "height": 40}],
        "categories": [{"id": 1, "name": "car"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "segmentation": rle, "bbox": [3, 28, 17, 7]}],
    }
    result, changes = repaired(coco)
    annotation = result["annotations"][0]
    assert annotation["segmentation"] == rle and annotation["bbox"] == [3, 5, 17, 7]
    assert annotation["area"] == bitmap.sum() and changes.counts["bbox-flipped"] == 1
    assert errors_after(result) == []


@settings(max_examples=300, deadline=None)
@given(hostile_cocos())
def test_any_hostile_coco_repairs_to_no_errors(coco):
    result, changes = repaired(coco)
    assert errors_after(result) == []
    assert {p.severity for p in changes.items} <= {"warning"} and set(changes.counts) <= set(CODES)
    json.dumps(result)  # still JSON


@settings(max_examples=40, deadline=None)
@given(valid_cocos())
def test_repaired_random_coco_scores_ap_1_in_pycocotools(coco):
    if coco["annotations"]:
        for annotation in flippable(coco):
            flip(coco, annotation)
        coco["annotations"][0]["id"] = 0
        result, _ = repaired(coco)
        assert self_ap(result) == AP_1


def test_annotation_id_0_costs_ap_until_repaired():
    coco = coco_of(make_dataset(seed=7, images=5))
    coco["annotations"][0]["id"] = 0
    for index, image in enumerate(coco["images"]):
        image["id"] = str(index + 1)  # string image ids too
    for annotation in coco["annotations"]:
        annotation["image_id"] = str(annotation["image_id"])
    assert self_ap(coco) < 1.0
    result, _ = repaired(coco)
    assert self_ap(result) == AP_1
    polygons = {**result, "annotations": [a for a in result["annotations"] if "segmentation" in a]}
    assert polygons["annotations"] and self_ap(polygons, "segm") == AP_1


# ---- validate_file and render_problems ----


def test_validate_reports_then_repairs_a_flipped_file(tmp_path):
    coco = coco_of(make_dataset(seed=8, images=6))
    targets = flippable(coco)
    for annotation in targets:
        flip(coco, annotation)
    path = tmp_path / "train.json"
    path.write_text(json.dumps(coco))
    checked = validate_file(path)
    assert checked.exit_code == 1 and checked.repaired_path is None
    assert checked.problems.counts["bbox-flipped"] == len(targets) == checked.summary.errors
    fixed = validate_file(path, repair=True)
    assert fixed.exit_code == 0 and fixed.repaired_path == tmp_path / "train.repaired.json"
    assert fixed.repairs is not None and fixed.repairs.counts["bbox-flipped"] == len(targets)
    assert errors_after(json.loads(fixed.repaired_path.read_text())) == []
    other = validate_file(path, repair=True, out=tmp_path / "out.json")
    assert other.repaired_path is not None and other.repaired_path.exists()
    text = render_result(path, fixed)
    assert text.startswith(f"{path}: {checked.summary.describe()}") and f"written to {fixed.repaired_path}" in text
    assert ["bbox-flipped", str(len(targets)), "warning"] in [line.split() for line in text.splitlines()]
    assert "the repaired copy: " in text


@pytest.mark.parametrize("text", ['{"images": [', "not json", '{"a": 1} trailing'])
def test_validate_names_broken_json(tmp_path, text):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(InvalidInput, match=r"bad\.json is not valid JSON: .* line 1 column \d+"):
        validate_file(path)


def test_validate_refuses_missing_files_and_overwriting_its_input(tmp_path):
    with pytest.raises(InvalidInput, match="cannot read"):
        validate_file(tmp_path / "absent.json")
    path = tmp_path / "a.json"
    path.write_text("[]")
    assert validate_file(path).exit_code == 1  # not an object: a problem, not a crash
    with pytest.raises(InvalidInput, match="must not replace its input"):
        validate_file(path, repair=True, out=path)


def test_render_problems_counts_by_code_and_lists_errors_first():
    problems = Problems()
    check_coco({"images": [], "annotations": [{"id": 0}] * 3, "categories": []}, problems)
    text = render_problems(problems, limit=2)
    lines = text.splitlines()
    assert lines[0] == f"{problems.count('error')} errors, {problems.count('warning')} warnings, 0 info"
    assert any(line.split() == ["bad-id", "3", "error"] for line in lines)
    listed = [line for line in lines if line.startswith(("error ", "warning "))]
    assert len(listed) == 2 and all(line.startswith("error ") for line in listed)
    assert listed[0].startswith("error bad-id annotation id 0 id: ")
    assert lines[-1] == f"... and {sum(problems.counts.values()) - 2} more"
    assert render_problems(Problems()) == "no problems found"


COORDINATE = st.floats(-20, 120) | st.integers(-20, 120)


@st.composite
def wild_geometry(draw: st.DrawFn) -> dict:
    """One 100x80 image with annotations of random rings (crossing, collinear, outside) and random bboxes."""
    annotations = []
    for index in range(draw(st.integers(1, 5))):
        rings = draw(st.lists(st.lists(COORDINATE, min_size=0, max_size=12), max_size=3))
        bbox = draw(st.lists(COORDINATE, min_size=4, max_size=4))
        annotation = {"id": index + 1, "image_id": 1, "category_id": 1, "bbox": bbox, "area": draw(COORDINATE)}
        annotations.append({**annotation, **({"segmentation": rings} if draw(st.booleans()) else {})})
    images = [{"id": 1, "file_name": "a.jpg", "width": 100, "height": 80}]
    return {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "car"}]}


@settings(max_examples=300, deadline=None)
@given(wild_geometry())
def test_wild_geometry_repairs_to_no_errors(coco):
    result, _ = repaired(coco)
    assert errors_after(result) == []
    for annotation in result["annotations"]:
        x, y, w, h = annotation["bbox"]
        assert w > 0 and h > 0 and x >= 0 and y >= 0 and x + w <= 100 and y + h <= 80
