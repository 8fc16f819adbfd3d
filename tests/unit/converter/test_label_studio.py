"""Label Studio reader: percent regions, rotated rectangles, image names from task URLs, skipped and duplicate
annotations, and broken tasks."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from transferline.errors import InvalidInput
from transferline_converter.dataset import Problems, Where
from transferline_converter.readers import ReadOptions, label_studio
from transferline_converter.sources import ExportFile, ExportSource


def region(kind: str, value: dict[str, Any], region_id: str = "r1", **extra: Any) -> dict[str, Any]:
    item = {"id": region_id, "type": kind, "value": value, "from_name": "label", "to_name": "image"}
    return {**item, "original_width": 200, "original_height": 100, **extra}


def task(result: list[Any], task_id: int = 1, image: str = "/data/upload/3/0a1b2c3d-cat.jpg", **extra: Any):
    annotation = {"id": 10 + task_id, "result": result, "was_cancelled": False}
    return {"id": task_id, "data": {"image": image}, "annotations": [annotation], "predictions": [], **extra}


def read_tasks(tasks: Any):
    problems = Problems()
    files = [ExportFile("export.json", json.dumps(tasks).encode())]
    return label_studio.read(ExportSource("export.json", files), ReadOptions(), problems), problems


def test_golden_task_reads_every_documented_region():
    rect = {"x": 10, "y": 20, "width": 30, "height": 40, "rotation": 0, "rectanglelabels": ["cat"]}
    polygon = {"points": [[10, 10], [50, 10], [30, 60]], "polygonlabels": ["dog"]}
    result_items = [
        region("rectanglelabels", rect, "r1"),
        region("polygonlabels", polygon, "r2"),
        region("keypointlabels", {"x": 5, "y": 7, "width": 1, "keypointlabels": ["eye"]}, "r3"),
        region("choices", {"choices": ["indoor"]}, "c1", from_name="scene"),
        region("textarea", {"text": ["fluffy"]}, "r1", from_name="note"),
    ]
    result, problems = read_tasks([task(result_items)])
    assert problems.items == []
    (image,) = result.images
    assert (image.ids.url, image.ids.file_name) == ("/data/upload/3/0a1b2c3d-cat.jpg", "cat.jpg")
    assert (image.width, image.height) == (200, 100)
    assert image.attributes == {"scene": ["indoor"]}
    cat, dog, eye = image.shapes
    assert (cat.category, cat.kind, cat.frame) == ("cat", "box", "normalized")
    assert cat.box == pytest.approx((0.1, 0.2, 0.3, 0.4))
    assert cat.attributes == {"note": ["fluffy"]}  # a per-region answer shares the region's id
    assert cat.where == Where("task 1", "annotations[0].result[0]")
    assert (dog.kind, dog.polygons) == ("polygon", [[(0.1, 0.1), (0.5, 0.1), (0.3, 0.6)]])
    assert (eye.kind, eye.polygons) == ("point", [[(0.05, 0.07)]])  # kept; the build step drops points


def test_a_generic_labels_result_takes_its_geometry_from_its_value():
    value = {"x": 50, "y": 50, "width": 10, "height": 10, "labels": ["cup"]}
    result, _ = read_tasks([task([region("labels", value)])])
    assert [(s.category, s.kind) for s in result.images[0].shapes] == [("cup", "box")]


def test_a_region_with_two_labels_is_one_object_per_label():
    value = {"x": 1, "y": 1, "width": 10, "height": 10, "rectanglelabels": ["cup", "mug"]}
    result, _ = read_tasks([task([region("rectanglelabels", value)])])
    assert [s.category for s in result.images[0].shapes] == ["cup", "mug"]


def test_rotated_rectangle_turns_clockwise_about_its_top_left_corner_in_pixels():
    value = {"x": 10, "y": 20, "width": 20, "height": 40, "rotation": 90, "rectanglelabels": ["cat"]}
    result, _ = read_tasks([task([region("rectanglelabels", value)])])  # 200 x 100 image: a 40 x 40 px square
    (shape,) = result.images[0].shapes
    assert (shape.kind, shape.frame) == ("polygon", "normalized")
    pixels = [c for x, y in shape.polygons[0] for c in (x * 200, y * 100)]
    assert pixels == pytest.approx([20, 20, 20, 60, -20, 60, -20, 20])


def test_rotated_rectangle_keeps_its_pixel_sides_and_angle():
    value = {"x": 25, "y": 25, "width": 30, "height": 20, "rotation": 30, "rectanglelabels": ["cat"]}
    result, _ = read_tasks([task([region("rectanglelabels", value)])])
    (a, b, c, d) = [(x * 200, y * 100) for x, y in result.images[0].shapes[0].polygons[0]]
    assert a == pytest.approx((50, 25))  # the pivot stays
    assert math.dist(a, b) == pytest.approx(60) and math.dist(b, c) == pytest.approx(20)
    assert math.degrees(math.atan2(b[1] - a[1], b[0] - a[0])) == pytest.approx(30)  # y down: clockwise on screen
    assert math.dist(a, c) == pytest.approx(math.hypot(60, 20)) and math.dist(c, d) == pytest.approx(60)


@pytest.mark.parametrize(
    ("image", "url", "file_name"),
    [
        ("/data/upload/7/deadbeef-street scene.png", "/data/upload/7/deadbeef-street scene.png", "street scene.png"),
        (
            "/data/local-files/?d=photos/2024/a%20b.jpg",
            "/data/local-files/?d=photos/2024/a%20b.jpg",
            "photos/2024/a b.jpg",
        ),
        ("https://cdn.test/x/img_1.jpg?sig=1", "https://cdn.test/x/img_1.jpg?sig=1", "img_1.jpg"),
        ("s3://bucket/dir/img_2.jpg", "s3://bucket/dir/img_2.jpg", "img_2.jpg"),
        ("folder/img_3.jpg", None, "folder/img_3.jpg"),
    ],
)
def test_image_names_come_from_the_task_url(image, url, file_name):
    result, _ = read_tasks([task([], image=image)])
    assert (result.images[0].ids.url, result.images[0].ids.file_name) == (url, file_name)


def test_the_image_key_may_be_named_otherwise_when_it_is_the_only_text():
    result, _ = read_tasks(
        [{"id": 4, "data": {"img": "/data/upload/1/a.jpg", "n": 3}, "annotations": [{"result": []}]}]
    )
    assert result.images[0].ids.url == "/data/upload/1/a.jpg"


def test_cancelled_annotations_are_skipped_and_extra_ones_reported():
    cancelled = {"id": 1, "result": [], "was_cancelled": True}
    good = {
        "id": 2,
        "result": [region("rectanglelabels", {"x": 1, "y": 1, "width": 5, "height": 5, "rectanglelabels": ["a"]})],
    }
    other = {"id": 3, "result": [], "was_cancelled": False}
    tasks = [
        {"id": 1, "data": {"image": "a.jpg"}, "annotations": [cancelled]},
        {"id": 2, "data": {"image": "b.jpg"}, "annotations": [cancelled, good]},
        {"id": 3, "data": {"image": "c.jpg"}, "annotations": [good, other]},
        {"id": 4, "data": {"image": "d.jpg"}, "annotations": [], "predictions": [{"result": []}]},
    ]
    result, problems = read_tasks(tasks)
    assert [(row.ids.file_name, row.skipped, len(row.shapes)) for row in result.images] == [
        ("a.jpg", True, 0),
        ("b.jpg", False, 1),
        ("c.jpg", False, 1),
    ]
    assert [(p.code, p.row) for p in problems.items] == [("duplicate-row", "task 3"), ("row-skipped", "task 4")]
    assert "only predictions" in problems.items[1].message


def test_brush_masks_are_an_unsupported_shape_warning():
    brush = region("brushlabels", {"format": "rle", "rle": [1, 2, 3], "brushlabels": ["cat"]})
    result, problems = read_tasks([task([brush])])
    assert result.images[0].shapes == []
    assert [(p.severity, p.code, p.field) for p in problems.items] == [
        ("warning", "unsupported-shape", "annotations[0].result[0]")
    ]


@pytest.mark.parametrize(
    ("item", "code", "field"),
    [
        (
            region("rectanglelabels", {"x": "1", "y": 1, "width": 5, "height": 5, "rectanglelabels": ["a"]}),
            "malformed-row",
            "annotations[0].result[0].value.x",
        ),
        (
            region("rectanglelabels", {"x": 1, "y": 1, "width": 5, "rectanglelabels": ["a"]}),
            "malformed-row",
            "annotations[0].result[0].value.height",
        ),
        (
            region("rectanglelabels", {"x": 1, "y": 1, "width": 5, "height": 5, "rectanglelabels": []}),
            "empty-class",
            "annotations[0].result[0].value.rectanglelabels",
        ),
        (
            region("polygonlabels", {"points": [[1, 2], [3]], "polygonlabels": ["a"]}),
            "malformed-row",
            "annotations[0].result[0].value.points[1]",
        ),
        (
            region("ellipselabels", {"x": 1, "y": 1, "radiusX": 2, "radiusY": 2, "ellipselabels": ["a"]}),
            "unknown-geometry",
            "annotations[0].result[0]",
        ),
        (
            {
                "id": "r1",
                "type": "rectanglelabels",
                "value": {"x": 1, "y": 1, "width": 5, "height": 5, "rotation": 9, "rectanglelabels": ["a"]},
            },
            "malformed-row",
            "annotations[0].result[0].original_width",
        ),
        ("not an object", "malformed-row", "annotations[0].result[0]"),
    ],
)
def test_a_broken_region_is_reported_with_its_path_and_the_rest_kept(item, code, field):
    good = region("rectanglelabels", {"x": 1, "y": 1, "width": 5, "height": 5, "rectanglelabels": ["ok"]}, "r9")
    result, problems = read_tasks([task([item, good], task_id=12)])
    assert [(p.code, p.row, p.field) for p in problems.items] == [(code, "task 12", field)]
    assert [s.category for s in result.images[0].shapes] == ["ok"]


def test_nan_coordinates_are_refused():
    text = json.dumps([task([region("keypointlabels", {"x": 1.0, "y": 2.0, "keypointlabels": ["a"]})])])
    problems = Problems()
    files = [ExportFile("e.json", text.replace("1.0", "NaN").encode())]
    result = label_studio.read(ExportSource("e.json", files), ReadOptions(), problems)
    assert [(p.code, p.field) for p in problems.items] == [("nan-coordinate", "annotations[0].result[0].value.x")]
    assert result.images[0].shapes == []


@pytest.mark.parametrize(
    ("tasks", "row", "field"),
    [
        (["oops"], "task [0]", ""),
        ([{"id": 5, "annotations": []}], "task 5", "data"),
        ([{"id": 6, "data": {"image": 3}, "annotations": []}], "task 6", "data.image"),
        ([{"id": 7, "data": {"a": "x", "b": "y"}, "annotations": []}], "task 7", "data.image"),
        ([task([], task_id=8) | {"annotations": [{"result": "nope"}]}], "task 8", "annotations[0].result"),
    ],
)
def test_a_broken_task_is_dropped_with_its_row_named(tasks, row, field):
    result, problems = read_tasks([*tasks, task([], task_id=99)])
    assert [(p.code, p.row, p.field) for p in problems.items] == [("malformed-row", row, field)]
    assert [r.where.row for r in result.images] == ["task 99"]


def test_a_file_that_is_not_a_task_list_is_invalid_input():
    expected = r"export\.json: a Label Studio JSON export is a list of tasks, not a JSON object"
    with pytest.raises(InvalidInput, match=expected):
        read_tasks({"images": []})
    problems = Problems()
    truncated = ExportSource("e.json", [ExportFile("e.json", b'[{"id": 1, "data": {"image": "a.jpg"},\n "annot')])
    with pytest.raises(InvalidInput, match=r"e\.json is not valid JSON: .* line 2 column"):
        label_studio.read(truncated, ReadOptions(), problems)


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("e.json", b'{"images": [], "annotations": []}'),
        ("e.json", b'[{"image": "a.jpg", "label": []}]'),
        ("e.json", b"[]"),
        ("e.json", b'[{"data": {"image": "a.jpg"}'),
        ("e.ndjson", b'[{"data": {}, "annotations": []}]'),
        ("e.json", b"\xff\xfe[]"),
    ],
    ids=["coco", "json-min", "empty", "truncated-first", "not-json-suffix", "binary"],
)
def test_sniff_is_false_without_raising(name, data):
    assert label_studio.sniff(ExportSource(name, [ExportFile(name, data)])) is False


def test_sniff_reads_only_the_first_task():
    data = b' [ {"id": 1, "data": {"image": "a.jpg"}, "predictions": []}, this is never parsed'
    assert label_studio.sniff(ExportSource("e.json", [ExportFile("e.json", data)])) is True
