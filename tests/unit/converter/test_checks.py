"""check_coco: each check fires on its case and stays quiet on the clean one; hostile input never raises."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pycocotools import mask as rle_tools
from shapely.geometry import Polygon

from tests.support.labels import GtDataset, make_dataset, truth_coco
from transferline_converter.checks import check_coco
from transferline_converter.dataset import CODES, Problems

# ---- builders shared with the repair and reader tests ----


def coco_of(dataset: GtDataset) -> dict:
    """`truth_coco` plus each polygon object's segmentation and polygon area (its box is exactly its bounds)."""
    coco = truth_coco(dataset)
    objects = [obj for image in dataset.images for obj in image.objects]
    for annotation, obj in zip(coco["annotations"], objects, strict=True):
        if obj.polygon:
            annotation["segmentation"] = [[c for point in obj.polygon for c in point]]
            annotation["area"] = Polygon(obj.polygon).area
    return coco


def flip(coco: dict, annotation: dict) -> None:
    """The legacy Labelbox bug: bbox y measured from the bottom (y = H - ymax)."""
    height = next(image["height"] for image in coco["images"] if image["id"] == annotation["image_id"])
    x, y, w, h = annotation["bbox"]
    annotation["bbox"] = [x, height - y - h, w, h]


def flippable(coco: dict, tolerance: float = 1.0) -> list[dict]:
    """Polygon annotations whose mirrored bbox differs from the real one by more than the tolerance."""
    heights = {image["id"]: image["height"] for image in coco["images"]}
    return [
        a
        for a in coco["annotations"]
        if "segmentation" in a and abs(heights[a["image_id"]] - 2 * a["bbox"][1] - a["bbox"][3]) > 2 * tolerance
    ]


def rle_of(bitmap: np.ndarray, compressed: bool = True) -> dict:
    """A COCO RLE of a 0/1 array: compressed (counts as text) or uncompressed (counts as a list)."""
    if compressed:
        encoded = rle_tools.encode(np.asfortranarray(bitmap.astype(np.uint8)))
        return {"size": list(bitmap.shape), "counts": encoded["counts"].decode()}
    flat = bitmap.flatten(order="F").astype(int)
    edges = np.flatnonzero(np.diff(flat)) + 1
    runs = np.diff(np.concatenate([[0], edges, [flat.size]])).tolist()
    return {"size": list(bitmap.shape), "counts": ([0] if flat[0] else []) + runs}


def problems_of(coco: Any, tolerance: float = 1.0) -> Problems:
    problems = Problems()
    check_coco(coco, problems, tolerance=tolerance)
    return problems


def found(problems: Problems) -> set[tuple[str, str, str, str]]:
    return {(p.severity, p.code, p.row, p.field) for p in problems.items}


@st.composite
def valid_cocos(draw: st.DrawFn) -> dict:
    """Random valid COCO: boxes inside their images and star-shaped (so simple) polygons."""
    names = draw(st.lists(st.sampled_from(["bottle", "can", "cup", "jar"]), min_size=1, max_size=4, unique=True))
    coco: dict = {
        "images": [],
        "annotations": [],
        "categories": [{"id": i + 1, "name": n} for i, n in enumerate(names)],
    }
    for image_id in range(1, draw(st.integers(1, 4)) + 1):
        width, height = draw(st.integers(16, 400)), draw(st.integers(16, 400))
        coco["images"].append({"id": image_id, "file_name": f"{image_id}.jpg", "width": width, "height": height})
        for _ in range(draw(st.integers(0, 4))):
            annotation = draw(_polygon_annotation(width, height) if draw(st.booleans()) else _box(width, height))
            annotation.update(id=len(coco["annotations"]) + 1, image_id=image_id, iscrowd=0)
            annotation["category_id"] = draw(st.integers(1, len(names)))
            coco["annotations"].append(annotation)
    return coco


@st.composite
def _box(draw: st.DrawFn, width: int, height: int) -> dict:
    x, y = draw(st.floats(0, width - 1)), draw(st.floats(0, height - 1))
    w, h = draw(st.floats(0.5, width - x)), draw(st.floats(0.5, height - y))
    return {"bbox": [x, y, w, h], "area": w * h}


@st.composite
def _polygon_annotation(draw: st.DrawFn, width: int, height: int) -> dict:
    radius = draw(st.floats(2, min(width, height) / 2))
    cx, cy = draw(st.floats(radius, width - radius)), draw(st.floats(radius, height - radius))
    count = draw(st.integers(3, 8))
    jitter = draw(st.lists(st.floats(0, 0.9), min_size=count, max_size=count))
    radii = draw(st.lists(st.floats(radius / 2, radius), min_size=count, max_size=count))
    # angles with gaps under pi around the centre: a simple polygon containing it
    angles = [(k + j) * 2 * math.pi / count for k, j in enumerate(jitter)]
    points = [(cx + r * math.cos(a), cy + r * math.sin(a)) for r, a in zip(radii, angles, strict=True)]
    polygon = Polygon(points)
    x0, y0, x1, y1 = polygon.bounds
    ring = [c for point in points for c in point]
    return {"segmentation": [ring], "bbox": [x0, y0, x1 - x0, y1 - y0], "area": polygon.area}


JSON_SCALARS = (
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=4) | st.sampled_from([0, -1, "1", 1e308])
)
JSON_VALUES = st.recursive(
    JSON_SCALARS, lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
)
FIELDS = ["id", "image_id", "category_id", "bbox", "segmentation", "area", "iscrowd", "width", "height", "file_name"]


@st.composite
def hostile_cocos(draw: st.DrawFn) -> Any:
    """A valid COCO with random fields (or whole rows, tables, the top level) replaced by arbitrary JSON."""
    coco = draw(valid_cocos())
    for _ in range(draw(st.integers(1, 8))):
        table = draw(st.sampled_from(["images", "annotations", "categories"]))
        rows = coco[table]
        choice = draw(st.integers(0, 9))
        if choice == 0:
            coco[table] = draw(JSON_VALUES)
        elif isinstance(rows, list) and rows and choice == 1:
            rows[draw(st.integers(0, len(rows) - 1))] = draw(JSON_VALUES)
        elif isinstance(rows, list) and rows and isinstance(row := rows[draw(st.integers(0, len(rows) - 1))], dict):
            key = draw(st.sampled_from([*FIELDS, "name"]))
            if draw(st.booleans()):
                row[key] = draw(JSON_VALUES)
            else:
                row.pop(key, None)
    return draw(JSON_VALUES) if draw(st.integers(0, 20)) == 0 else coco


# ---- clean data ----


def test_a_clean_generated_dataset_has_no_problems_and_is_counted():
    dataset = make_dataset(seed=3, images=8)
    coco = coco_of(dataset)
    problems = Problems()
    summary = check_coco(coco, problems)
    assert problems.items == []
    expected = {name: sum(o.category == name for i in dataset.images for o in i.objects) for name in dataset.categories}
    assert summary.per_category == {name: n for name, n in expected.items() if n}
    assert (summary.images, summary.annotations, summary.categories) == (8, len(coco["annotations"]), 3)
    assert (summary.errors, summary.warnings) == (0, 0)
    assert "0 errors" in summary.describe()


@settings(max_examples=60, deadline=None)
@given(valid_cocos())
def test_random_valid_coco_has_no_errors(coco):
    problems = Problems()
    summary = check_coco(coco, problems)
    assert summary.errors == 0, [p for p in problems.items if p.severity == "error"]
    assert {p.code for p in problems.items} <= {"image-unlabeled"}


# ---- the legacy y-flip ----


def test_flipped_bboxes_are_reported_as_flipped_naming_row_and_field():
    coco = coco_of(make_dataset(seed=1, images=10))
    targets = flippable(coco)
    assert targets, "the generated dataset should hold off-centre polygons"
    for annotation in targets:
        flip(coco, annotation)
    problems = problems_of(coco)
    flipped = {(p.row, p.field) for p in problems.items if p.code == "bbox-flipped"}
    assert flipped == {(f"annotation id {a['id']}", "bbox") for a in targets}
    assert problems.counts["bbox-polygon-mismatch"] == 0 and problems.severities["bbox-flipped"] == "error"


@settings(max_examples=60, deadline=None)
@given(valid_cocos(), st.data())
def test_random_flips_are_always_detected(coco, data):
    candidates = flippable(coco)
    chosen = data.draw(st.lists(st.sampled_from(candidates), unique_by=id) if candidates else st.just([]))
    for annotation in chosen:
        flip(coco, annotation)
    problems = problems_of(coco)
    assert {p.row for p in problems.items if p.code == "bbox-flipped"} == {f"annotation id {a['id']}" for a in chosen}
    assert problems.counts["bbox-polygon-mismatch"] == 0


def test_a_flipped_rle_bbox_is_found_with_to_bbox():
    bitmap = np.zeros((40, 30), dtype=np.uint8)
    bitmap[5:12, 3:20] = 1
    x, y, w, h = (float(v) for v in rle_tools.toBbox(rle_tools.encode(np.asfortranarray(bitmap))))
    coco = _one(bbox=[x, 40 - y - h, w, h], segmentation=rle_of(bitmap), area=float(bitmap.sum()), iscrowd=1)
    coco["images"][0].update(width=30, height=40)
    assert ("error", "bbox-flipped", "annotation id 1", "bbox") in found(problems_of(coco))
    coco["annotations"][0]["bbox"] = [x, y, w, h]
    assert problems_of(coco).items == []


# ---- each check: a case that triggers it ----


def _one(**annotation: Any) -> dict:
    """One 100x80 image, one category, one annotation (defaults: a clean 20x10 box)."""
    base = {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 20, 20, 10], "area": 200, "iscrowd": 0}
    return {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 100, "height": 80}],
        "annotations": [{**base, **annotation}],
        "categories": [{"id": 1, "name": "car"}],
    }


SQUARE = [[10, 20, 30, 20, 30, 30, 10, 30]]  # bounds [10, 20, 20, 10], area 200


def _set(table: str, index: int, **values: Any) -> Callable[[dict], None]:
    return lambda coco: coco[table][index].update(values)


def _drop(table: str, key: str) -> Callable[[dict], None]:
    return lambda coco: coco[table][0].pop(key)


def _append(table: str, row: Any) -> Callable[[dict], None]:
    return lambda coco: coco[table].append(copy.deepcopy(row))


EXTRA = {"id": 2, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5], "area": 25, "iscrowd": 0}
CASES = {
    "annotation id 0": (_set("annotations", 0, id=0), "bad-id", "annotation id 0", "id"),
    "string annotation id": (_set("annotations", 0, id="1"), "bad-id", "annotation id '1'", "id"),
    "string image id": (_set("images", 0, id="a"), "bad-id", "image id 'a'", "id"),
    "float category id": (_set("categories", 0, id=1.0), "bad-id", "category id 1.0", "id"),
    "missing id": (_drop("annotations", "id"), "malformed-row", "annotations[0]", "id"),
    "duplicate annotation id": (_append("annotations", {**EXTRA, "id": 1}), "duplicate-id", "annotation id 1", "id"),
    "duplicate image id": (
        _append("images", {"id": 1, "file_name": "b.jpg", "width": 9, "height": 9}),
        "duplicate-id",
        "image id 1",
        "id",
    ),
    "duplicate category id": (_append("categories", {"id": 1, "name": "bus"}), "duplicate-id", "category id 1", "id"),
    "duplicate category name": (
        _append("categories", {"id": 2, "name": "car"}),
        "duplicate-id",
        "category id 2",
        "name",
    ),
    "empty category name": (_set("categories", 0, name=" "), "empty-class", "category id 1", "name"),
    "category name not a string": (_set("categories", 0, name=7), "malformed-row", "category id 1", "name"),
    "unknown image": (_set("annotations", 0, image_id=5), "bad-reference", "annotation id 1", "image_id"),
    "unknown category": (_set("annotations", 0, category_id="1"), "bad-reference", "annotation id 1", "category_id"),
    "NaN in bbox": (_set("annotations", 0, bbox=[1, 2, math.nan, 4]), "nan-coordinate", "annotation id 1", "bbox[2]"),
    "infinite bbox": (_set("annotations", 0, bbox=[math.inf, 2, 3, 4]), "nan-coordinate", "annotation id 1", "bbox[0]"),
    "huge int in bbox": (
        _set("annotations", 0, bbox=[10**400, 2, 3, 4]),
        "nan-coordinate",
        "annotation id 1",
        "bbox[0]",
    ),
    "3-number bbox": (_set("annotations", 0, bbox=[1, 2, 3]), "malformed-row", "annotation id 1", "bbox"),
    "string in bbox": (_set("annotations", 0, bbox=[1, "2", 3, 4]), "malformed-row", "annotation id 1", "bbox[1]"),
    "bbox missing": (_drop("annotations", "bbox"), "malformed-row", "annotation id 1", "bbox"),
    "zero-width bbox": (_set("annotations", 0, bbox=[1, 2, 0, 4]), "degenerate-shape", "annotation id 1", "bbox"),
    "bbox past the edge": (_set("annotations", 0, bbox=[90, 2, 12, 4]), "out-of-bounds", "annotation id 1", "bbox"),
    "negative bbox x": (_set("annotations", 0, bbox=[-2, 2, 12, 4]), "out-of-bounds", "annotation id 1", "bbox"),
    "4-number polygon": (
        _set("annotations", 0, segmentation=[[10, 20, 30, 30]]),
        "degenerate-shape",
        "annotation id 1",
        "segmentation[0]",
    ),
    "2-point polygon": (
        _set("annotations", 0, segmentation=[[10, 20, 30, 30, 10, 20]]),
        "degenerate-shape",
        "annotation id 1",
        "segmentation[0]",
    ),
    "odd polygon": (
        _set("annotations", 0, segmentation=[[10, 20, 30, 20, 30, 30, 10]]),
        "malformed-row",
        "annotation id 1",
        "segmentation[0]",
    ),
    "flat polygon list": (
        _set("annotations", 0, segmentation=SQUARE[0]),
        "malformed-row",
        "annotation id 1",
        "segmentation",
    ),
    "NaN in polygon": (
        _set("annotations", 0, segmentation=[[10, 20, 30, 20, math.nan, 30]]),
        "nan-coordinate",
        "annotation id 1",
        "segmentation[0][4]",
    ),
    "bow-tie polygon": (
        _set("annotations", 0, segmentation=[[10, 20, 30, 30, 30, 20, 10, 30]], area=100),
        "self-intersecting",
        "annotation id 1",
        "segmentation[0]",
    ),
    "bbox beside its polygon": (
        _set("annotations", 0, segmentation=[[40, 20, 60, 20, 60, 30, 40, 30]]),
        "bbox-polygon-mismatch",
        "annotation id 1",
        "bbox",
    ),
    "RLE size as [w, h]": (
        _set("annotations", 0, segmentation={"size": [100, 80], "counts": [8000]}),
        "malformed-row",
        "annotation id 1",
        "segmentation.size",
    ),
    "RLE counts not adding up": (
        _set("annotations", 0, segmentation={"size": [80, 100], "counts": [10, 20]}),
        "malformed-row",
        "annotation id 1",
        "segmentation.counts",
    ),
    "RLE counts a number": (
        _set("annotations", 0, segmentation={"size": [80, 100], "counts": 5}),
        "malformed-row",
        "annotation id 1",
        "segmentation.counts",
    ),
    "RLE counts garbage text": (
        _set("annotations", 0, segmentation={"size": [80, 100], "counts": "\x01zz"}),
        "malformed-row",
        "annotation id 1",
        "segmentation.counts",
    ),
    "area missing": (_drop("annotations", "area"), "malformed-row", "annotation id 1", "area"),
    "negative area": (_set("annotations", 0, area=-3), "malformed-row", "annotation id 1", "area"),
    "area as text": (_set("annotations", 0, area="200"), "malformed-row", "annotation id 1", "area"),
    "iscrowd 2": (_set("annotations", 0, iscrowd=2), "malformed-row", "annotation id 1", "iscrowd"),
    "width as text": (_set("images", 0, width="100"), "malformed-row", "image id 1", "width"),
    "zero height": (_set("images", 0, height=0), "malformed-row", "image id 1", "height"),
    "file_name missing": (_drop("images", "file_name"), "malformed-row", "image id 1", "file_name"),
    "images not a list": (lambda c: c.update(images={"id": 1}), "malformed-row", "top level", "images"),
    "categories missing": (lambda c: c.pop("categories"), "malformed-row", "top level", "categories"),
    "annotation not an object": (_append("annotations", [1, 2]), "malformed-row", "annotations[1]", ""),
    "category list id": (_set("categories", 0, id=[1]), "bad-id", "categories[0]", "id"),
    "category id 0": (_set("categories", 0, id=0), "bad-id", "category id 0", "id"),  # Model Garden's background
    "negative image id": (_set("images", 0, id=-1), "bad-id", "image id -1", "id"),
}
# A 900 px² triangle whose outline crosses itself at (40, 40) into a turned-back 4 px² loop: 8 px² apart, within 1 %
SLIVER_LOOP = [[10, 10, 10, 70, 42, 38, 42, 42]]
WARNINGS = {
    "area off by half": (_set("annotations", 0, area=100), "area-mismatch", "annotation id 1", "area"),
    "iscrowd missing": (_drop("annotations", "iscrowd"), "missing-field", "annotation id 1", "iscrowd"),
    "repairable crossing": (
        _set("annotations", 0, segmentation=SLIVER_LOOP, bbox=[10, 10, 32, 60], area=900),
        "self-intersecting",
        "annotation id 1",
        "segmentation[0]",
    ),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_each_error_names_its_code_row_and_field(case):
    coco = _one()
    assert problems_of(coco).items == []  # the clean case
    change, code, row, field = CASES[case]
    change(coco)
    problems = problems_of(coco)
    assert ("error", code, row, field) in found(problems)
    assert problems.count("error") >= 1


@pytest.mark.parametrize("case", WARNINGS, ids=list(WARNINGS))
def test_warnings_are_not_errors(case):
    coco = _one()
    change, code, row, field = WARNINGS[case]
    change(coco)
    problems = Problems()
    summary = check_coco(coco, problems)
    assert found(problems) == {("warning", code, row, field)}
    assert (summary.errors, summary.warnings) == (0, 1)


def test_an_image_without_annotations_is_noted_as_information():
    coco = _one()
    coco["images"].append({"id": 2, "file_name": "b.jpg", "width": 10, "height": 10})
    problems = problems_of(coco)
    assert found(problems) == {("info", "image-unlabeled", "image id 2", "")}


@pytest.mark.parametrize(
    "annotation",
    [
        {"bbox": [10.6, 19.4, 20.5, 10.9], "segmentation": SQUARE},  # bounds within the tolerance
        {"bbox": [-0.9, 2, 100.8, 4], "area": 403.2},  # over the edge by less than the tolerance
        {"area": 181},  # within 10 % of the box
        {"segmentation": []},  # no segmentation, as some exporters write it
        {"segmentation": rle_of(np.pad(np.ones((10, 20)), ((20, 50), (10, 70)))), "iscrowd": 1},
        {"segmentation": rle_of(np.pad(np.ones((10, 20)), ((20, 50), (10, 70))), compressed=False), "iscrowd": 1},
    ],
)
def test_near_misses_are_clean(annotation):
    assert problems_of(_one(**annotation)).items == []


def test_image_id_0_is_clean():
    coco = _one()
    coco["images"][0]["id"] = coco["annotations"][0]["image_id"] = 0
    assert problems_of(coco).items == []


def test_the_tolerance_is_applied():
    coco = _one(bbox=[10, 20, 22.5, 10], segmentation=SQUARE, area=200)
    assert problems_of(coco, tolerance=3).items == []
    assert ("error", "bbox-polygon-mismatch", "annotation id 1", "bbox") in found(problems_of(coco, tolerance=1))


# ---- hostile input ----


@pytest.mark.parametrize("coco", [None, [], "coco", 5, {}, {"images": None}, {"images": [None] * 3}])
def test_non_coco_values_become_problems(coco):
    problems = Problems()
    summary = check_coco(coco, problems)
    assert summary.errors >= 1 and problems.items[0].code == "malformed-row"


def test_deep_and_huge_values_do_not_raise():
    deep: Any = []
    for _ in range(5000):
        deep = [deep]
    huge = 10**5000  # too many digits for repr() or float()
    coco = _one(bbox=[huge, 1, 2, 3], segmentation=deep, area=huge, iscrowd=deep)
    coco["annotations"][0]["id"] = huge
    coco["categories"][0]["name"] = deep
    codes = {p.code for p in problems_of(coco).items}
    assert {"nan-coordinate", "malformed-row", "bad-id"} <= codes


@settings(max_examples=300, deadline=None)
@given(hostile_cocos())
def test_hostile_coco_never_raises_and_uses_known_codes(coco):
    problems = Problems()
    summary = check_coco(coco, problems)
    assert {p.code for p in problems.items} <= set(CODES)
    assert all(p.row for p in problems.items)
    assert summary.errors == sum(1 for p in problems.items if p.severity == "error")
