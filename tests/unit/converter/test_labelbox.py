"""Labelbox readers: the legacy JSON export (every Label form) and export v2 NDJSON, read without image sizes."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.exports import labelbox_json, labelbox_ndjson
from tests.support.labels import GtDataset, GtImage, GtObject, make_dataset
from transferline.errors import InvalidInput
from transferline_converter.dataset import CODES, LabeledImage, MaskRef, Problem, Problems, ReadResult
from transferline_converter.readers import ReadOptions, detect
from transferline_converter.readers import labelbox_legacy as legacy
from transferline_converter.readers import labelbox_ndjson as ndjson
from transferline_converter.sources import ExportFile, ExportSource

URL = "https://storage.test/photos/a.jpg"
DATED_2018 = {"Created At": "2018-06-04T10:11:12.000Z"}  # before Labelbox stopped measuring y from the bottom
MASK = "https://api.labelbox.com/masks/feature/f3?token=abc"


def source(name: str, data: bytes | str) -> ExportSource:
    return ExportSource("export", [ExportFile(name, data.encode() if isinstance(data, str) else data)])


def read_legacy(rows: Any, origin: str = "auto") -> tuple[ReadResult, Problems]:
    data = rows if isinstance(rows, str | bytes) else json.dumps(rows)
    problems = Problems()
    result = legacy.read(source("export.json", data), ReadOptions(legacy_y_origin=origin), problems)  # type: ignore[arg-type]
    return result, problems


def read_ndjson(lines: list[Any] | str | bytes) -> tuple[ReadResult, Problems]:
    data = lines if isinstance(lines, str | bytes) else "\n".join(json.dumps(line) for line in lines)
    problems = Problems()
    return ndjson.read(source("export.ndjson", data), ReadOptions(), problems), problems


def row(label: Any, **extra: Any) -> dict[str, Any]:
    return {"ID": "l1", "Labeled Data": URL, "External ID": "a.jpg", "Label": label, **extra}


def only(problems: Problems, code: str) -> Problem:
    found = [p for p in problems.items if p.code == code]
    assert len(found) == 1, problems.items
    return found[0]


def rings(image: LabeledImage) -> list[list[list[tuple[float, float]]]]:
    return [shape.polygons for shape in image.shapes]


# ---- legacy JSON: the objects form ----


def test_objects_form_reads_every_shape_in_the_top_left_frame():
    label = {
        "objects": [
            {
                "title": "Car",
                "value": "car",
                "bbox": {"top": 40, "left": 10, "height": 30, "width": 50},
                "instanceURI": MASK,
            },
            {"title": "road", "polygon": [{"x": 0, "y": 99}, {"x": 60.5, "y": 90}, {"x": 60, "y": 120}]},
            {"value": "kp", "point": {"x": 5, "y": 7}},
            {"title": "lane", "line": [{"x": 1, "y": 2}, {"x": 3, "y": 4}]},
            {"title": "sky", "instanceURI": MASK},
        ],
        "classifications": [{"title": "weather", "value": "weather", "answer": {"title": "sunny", "value": "sunny"}}],
    }
    result, problems = read_legacy([row(label, **{"DataRow ID": "dr1", "Skipped": False})])
    (image,) = result.images
    assert problems.items == []
    assert result.format == "labelbox-json" and result.notes == []
    assert image.where.row == "row 1 (ID l1)" and not image.skipped
    assert (image.ids.url, image.ids.external_id, image.ids.file_name) == (URL, "a.jpg", "a.jpg")
    assert image.ids.global_key is None and image.ids.digest is None and image.width is None
    assert [(s.category, s.kind, s.frame) for s in image.shapes] == [
        ("Car", "box", "top-left"),  # title, not the value slug; the drawn bbox wins over the rendered mask
        ("road", "polygon", "top-left"),
        ("kp", "point", "top-left"),
        ("lane", "line", "top-left"),
        ("sky", "mask", "top-left"),
    ]
    assert image.shapes[0].box == (10, 40, 50, 30)
    assert image.shapes[0].where.field == "Label.objects[0].bbox"
    assert rings(image)[1:4] == [[[(0, 99), (60.5, 90), (60, 120)]], [[(5, 7)]], [[(1, 2), (3, 4)]]]
    assert image.shapes[4].mask == MaskRef(url=MASK)
    assert image.attributes == {"classifications": {"weather": "sunny"}}
    assert result.categories == ["Car", "road", "kp", "lane", "sky"]


def test_object_classifications_become_shape_attributes():
    nested = [
        {"title": "has_handbag", "answer": {"title": "True", "value": "True"}},
        {"title": "note", "answer": "hmmm"},
        {"title": "colours", "answers": [{"title": "red"}, {"value": "blue"}]},
        {"title": "broken", "answer": 5},
    ]
    obj = {"title": "person", "bbox": {"top": 1, "left": 2, "height": 3, "width": 4}, "classifications": nested}
    result, problems = read_legacy([row({"objects": [obj], "classifications": []})])
    assert result.images[0].shapes[0].attributes == {
        "classifications": {"has_handbag": "True", "note": "hmmm", "colours": ["red", "blue"]}
    }
    lost = only(problems, "malformed-row")
    assert lost.severity == "warning" and lost.field == "Label.objects[0].classifications[3].answer"


# ---- legacy JSON: the 2018 class -> geometry forms ----


def test_wkt_v2_is_one_shape_per_polygon_in_the_bottom_left_frame_with_exact_numbers():
    wkt = "MULTIPOLYGON (((10 20, 50 20, 50 60.25, 10 60.25, 10 20)), ((0 0, 5 0, 5 5, 0 0)))"
    result, problems = read_legacy([row({"Car": wkt}, **DATED_2018)])
    (image,) = result.images
    assert problems.items == []
    assert [(s.category, s.kind, s.frame, s.box) for s in image.shapes] == [("Car", "polygon", "bottom-left", None)] * 2
    assert rings(image) == [[[(10, 20), (50, 20), (50, 60.25), (10, 60.25)]], [[(0, 0), (5, 0), (5, 5)]]]
    assert image.shapes[1].where.field == "Label.Car (polygon 2)"
    assert result.notes == [
        "1 of 1 rows use Labelbox's 2018 class -> geometry label, read by their Created At (legacy_y_origin=auto): "
        "1 (row 1) created before 2018-10-15, when Labelbox measured y from the bottom: y read from the bottom"
    ]


def test_wkt_v3_multipolygon_is_one_object_and_holes_are_dropped_with_a_warning():
    holed = "POLYGON ((0 0, 10 0, 10 10, 0 10, 0 0), (2 2, 4 2, 4 4, 2 2))"
    two = "MULTIPOLYGON (((0 0, 1 0, 1 1, 0 0)), ((5 5, 6 5, 6 6, 5 5)))"
    result, problems = read_legacy([row({"Car": [{"geometry": holed}, {"geometry": two}]}, **DATED_2018)])
    image = result.images[0]
    assert rings(image) == [
        [[(0, 0), (10, 0), (10, 10), (0, 10)]],
        [[(0, 0), (1, 0), (1, 1)], [(5, 5), (6, 5), (6, 6)]],
    ]
    assert {s.frame for s in image.shapes} == {"bottom-left"}
    hole = only(problems, "unsupported-shape")
    assert hole.severity == "warning" and hole.field == "Label.Car[0].geometry" and "1 dropped" in hole.message


def test_xy_forms_points_and_2018_answers():
    label = {
        "Car": [[{"x": 1, "y": 2}, {"x": 3, "y": 2}, {"x": 3, "y": 5}]],
        "Bus": [{"geometry": [{"x": 7, "y": 8}, {"x": 9, "y": 8}, {"x": 9, "y": 10}]}],
        "box": [{"geometry": {"x": 1259, "y": 1411}}],
        "select_the_cup_models": ["model_3"],
        "is_it_day": "yes",
    }
    result, problems = read_legacy([row(label, **DATED_2018)])
    image = result.images[0]
    assert problems.items == []
    assert [(s.category, s.kind, s.frame) for s in image.shapes] == [
        ("Car", "polygon", "bottom-left"),
        ("Bus", "polygon", "bottom-left"),
        ("box", "point", "bottom-left"),
    ]
    assert rings(image) == [[[(1, 2), (3, 2), (3, 5)]], [[(7, 8), (9, 8), (9, 10)]], [[(1259, 1411)]]]
    assert image.attributes == {"classifications": {"select_the_cup_models": ["model_3"], "is_it_day": "yes"}}


@pytest.mark.parametrize(
    ("origin", "frame", "word"), [("top-left", "top-left", "top"), ("bottom-left", "bottom-left", "bottom")]
)
def test_legacy_y_origin_option_sets_the_frame_of_2018_rows_only(origin, frame, word):
    rows = [
        row({"Car": "POLYGON ((0 0, 4 0, 4 4, 0 0))"}),
        row({"objects": [{"title": "a", "point": {"x": 1, "y": 1}}]}),
    ]
    result, _ = read_legacy(rows, origin)
    assert [s.frame for image in result.images for s in image.shapes] == [frame, "top-left"]
    assert f"from the {word} of the image (legacy_y_origin={origin})" in result.notes[0]
    assert result.notes[0].startswith("1 of 2 rows")


def test_skip_skipped_and_empty_labels():
    rows = [
        row("Skip"),
        row({"objects": [{"title": "a", "point": {"x": 1, "y": 1}}]}, Skipped=True),
        row({}),
        row(None),
        row({"objects": [], "classifications": []}),
    ]
    result, problems = read_legacy(rows)
    assert [(i.skipped, len(i.shapes)) for i in result.images] == [
        (True, 0),
        (True, 0),
        (False, 0),
        (False, 0),
        (False, 0),
    ]
    assert problems.items == [] and result.notes == []


# ---- legacy JSON: sniff ----


GOOD = json.dumps([row({})])


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("export.json", GOOD, True),
        ("export.JSON", "\ufeff \n " + GOOD, True),
        ("export.json", json.dumps([{"ID": "x", "Label": "Skip"}]), True),
        ("export.ndjson", GOOD, False),
        ("export.json", json.dumps({"images": [], "annotations": []}), False),
        ("export.json", "[]", False),
        ("export.json", json.dumps([{"Labeled Data": URL}]), False),
        ("export.json", json.dumps([["Label", "ID"]]), False),
        ("export.json", '[{"ID": "l1", "Label": {', False),
        ("export.json", b"\xff\xfe[", False),
        ("export.json", json.dumps({"data_row": {"id": "x"}}), False),
    ],
)
def test_legacy_sniff(name, data, expected):
    assert legacy.sniff(source(name, data)) is expected


def test_legacy_sniff_refuses_several_files():
    files = [ExportFile("a.json", GOOD.encode()), ExportFile("b.json", GOOD.encode())]
    assert legacy.sniff(ExportSource("zip", files)) is False


# ---- legacy JSON: malformed input ----


BOX = {"top": 1, "left": 2, "height": 3, "width": 4}


@pytest.mark.parametrize(
    ("obj", "code", "field"),
    [
        ('{"title": "car", "bbox": "x"}', "malformed-row", "Label.objects[0].bbox"),
        (
            '{"title": "car", "bbox": {"top": "10", "left": 1, "height": 2, "width": 3}}',
            "malformed-row",
            "Label.objects[0].bbox.top",
        ),
        (
            '{"title": "car", "bbox": {"left": 1, "height": 2, "width": 3}}',
            "malformed-row",
            "Label.objects[0].bbox.top",
        ),
        ('{"title": "car", "circle": {"r": 3}}', "unknown-geometry", "Label.objects[0]"),
        (
            '{"title": "car", "bbox": {"top": NaN, "left": 1, "height": 2, "width": 3}}',
            "nan-coordinate",
            "Label.objects[0].bbox.top",
        ),
        ('{"title": "car", "polygon": [{"x": 1, "y": Infinity}]}', "nan-coordinate", "Label.objects[0].polygon[0].y"),
        ('{"title": "car", "polygon": "x"}', "malformed-row", "Label.objects[0].polygon"),
        ('{"title": "car", "point": [1, 2]}', "malformed-row", "Label.objects[0].point"),
        ('{"title": "car", "instanceURI": 7}', "malformed-row", "Label.objects[0].instanceURI"),
        (
            '{"title": 5, "bbox": {"top": 1, "left": 2, "height": 3, "width": 4}}',
            "malformed-row",
            "Label.objects[0].title",
        ),
        (
            '{"value": "", "bbox": {"top": 1, "left": 2, "height": 3, "width": 4}}',
            "empty-class",
            "Label.objects[0].title",
        ),
        ('"car"', "malformed-row", "Label.objects[0]"),
    ],
)
def test_a_bad_object_costs_only_itself(obj, code, field):
    good = json.dumps({"title": "ok", "bbox": BOX})
    data = f'[{{"ID": "cjl8x", "Labeled Data": "{URL}", "Label": {{"objects": [{obj}, {good}]}}}}]'
    result, problems = read_legacy(data)
    assert [s.category for s in result.images[0].shapes] == ["ok"]
    problem = only(problems, code)
    assert (problem.severity, problem.row, problem.field) == ("error", "row 1 (ID cjl8x)", field)
    assert code in CODES


@pytest.mark.parametrize(
    ("label", "code", "field"),
    [
        ('{"Car": "POLYGON ((0 0, 1"}', "invalid-wkt", "Label.Car"),
        ('{"Car": [{"geometry": "POLYGON ((0 0, 1"}]}', "invalid-wkt", "Label.Car[0].geometry"),
        ('{"Car": [{"geometry": "POINT (1 2)"}]}', "unknown-geometry", "Label.Car[0].geometry"),
        ('{"Car": "LINESTRING (0 0, 1 1)"}', "unknown-geometry", "Label.Car"),
        ('{"Car": "POLYGON EMPTY"}', "degenerate-shape", "Label.Car"),
        ('{"Car": "POLYGON ((nan 0, 1 0, 1 1, nan 0))"}', "nan-coordinate", "Label.Car"),
        ('{"Car": [[{"x": 1, "y": NaN}]]}', "nan-coordinate", "Label.Car[0][0].y"),
        ('{"Car": [[{"x": 1}]]}', "malformed-row", "Label.Car[0][0].y"),
        ('{"Car": [{"shape": []}]}', "malformed-row", "Label.Car[0].geometry"),
        ('{"Car": [{"geometry": 5}]}', "unknown-geometry", "Label.Car[0].geometry"),
        ('{"Car": 5}', "unknown-geometry", "Label.Car"),
        ('{"": [[{"x": 1, "y": 2}]]}', "empty-class", "Label."),
    ],
)
def test_a_bad_2018_shape_costs_only_itself(label, code, field):
    good = '"Bus": [[{"x": 0, "y": 0}, {"x": 4, "y": 0}, {"x": 4, "y": 4}]]'
    data = f'[{{"ID": "cjl8x", "Labeled Data": "{URL}", "Label": {{{good}, {label[1:]}}}]'
    result, problems = read_legacy(data)
    assert [s.category for s in result.images[0].shapes] == ["Bus"]
    problem = only(problems, code)
    assert (problem.row, problem.field) == ("row 1 (ID cjl8x)", field)


@pytest.mark.parametrize(
    ("bad", "field", "words"),
    [
        ("5", "", "expected a label object, got number"),
        ('{"ID": "l9", "Label": {}}', "Labeled Data", "no External ID"),
        ('{"ID": "l9", "Labeled Data": 5, "Label": {}}', "Labeled Data", "expected str, got int"),
        ('{"ID": "l9", "Labeled Data": "u"}', "Label", "missing"),
        ('{"ID": "l9", "Labeled Data": "u", "Label": 3}', "Label", 'expected an object or "Skip"'),
        ('{"ID": "l9", "Labeled Data": "u", "Label": {}, "Skipped": "no"}', "Skipped", "expected bool"),
        ('{"ID": "l9", "Labeled Data": "u", "Label": {"objects": {}}}', "Label.objects", "expected list"),
    ],
)
def test_a_bad_row_costs_only_itself(bad, field, words):
    result, problems = read_legacy(f"[{bad}, {json.dumps(row({}))}]")
    assert [i.where.row for i in result.images] == ["row 2 (ID l1)"]
    problem = only(problems, "malformed-row")
    assert problem.row in ("row 1", "row 1 (ID l9)") and problem.field == field and words in problem.message


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (GOOD[:-5], "export.json is not valid JSON: Expecting"),
        ('{"ID": "l1", "Label": {}}', "is an array of label rows, not a JSON object"),
        ('"Skip"', "not a JSON string"),
        ("[]", "no label row could be read"),
        ('[{"ID": "l1"}]', "no label row could be read (row 1 (ID l1): missing"),
    ],
)
def test_structurally_broken_files_raise_invalid_input(data, words):
    with pytest.raises(InvalidInput, match=r"export\.json") as caught:
        read_legacy(data)
    assert words in str(caught.value)


def test_truncated_json_names_line_and_column():
    with pytest.raises(InvalidInput, match=r"line 3 column 1"):
        read_legacy('[{"ID": "l1",\n "Label": {}\n')


def test_a_100_mb_single_line_json_is_read_or_refused_naming_its_position():
    # One huge value (a pasted image, a log) dominates: it is read whole and a cut-off file names its position.
    huge = "x" * (100 * 2**20)
    whole = json.dumps([row({"objects": [{"title": "car", "bbox": BOX}]}, Reviews=huge)])
    assert len(whole) > 100 * 2**20 and "\n" not in whole
    assert legacy.sniff(source("big.json", whole)) is True
    result, problems = read_legacy(whole)
    assert [s.box for s in result.images[0].shapes] == [(2, 1, 4, 3)] and problems.items == []
    with pytest.raises(InvalidInput, match=r"not valid JSON: Unterminated string .* at line 1 column \d+$"):
        read_legacy(whole[: len(whole) // 2])


# ---- NDJSON export v2 ----


def ndrow(objects: list[Any], classifications: list[Any] | None = None, **extra: Any) -> dict[str, Any]:
    label = {
        "id": "lab1",
        "annotations": {"objects": objects, "classifications": classifications or [], "relationships": []},
    }
    return {
        "data_row": {"id": "dr1", "global_key": "key-a", "external_id": "a.jpg", "row_data": URL},
        "media_attributes": {"height": 480, "width": 640, "mime_type": "image/jpeg"},
        "projects": {"P1": {"labels": [label]}},
        **extra,
    }


OBJ = "projects.P1.labels[0].annotations.objects"


def test_ndjson_reads_every_kind_with_sizes_ids_and_answers():
    objects = [
        {
            "name": "car",
            "value": "car_slug",
            "annotation_kind": "ImageBoundingBox",
            "bounding_box": {"top": 40.0, "left": 10.0, "height": 30.0, "width": 50.0},
        },
        {
            "value": "road",
            "annotation_kind": "ImagePolygon",
            "polygon": [{"x": 0, "y": 99}, {"x": 60, "y": 90}, {"x": 60, "y": 120}],
        },
        {"name": "lane", "annotation_kind": "ImagePolyline", "line": [{"x": 1, "y": 2}, {"x": 3, "y": 4}]},
        {"name": "kp", "annotation_kind": "ImagePoint", "point": {"x": 5, "y": 7}},
        {"name": "sky", "annotation_kind": "ImageSegmentationMask", "mask": {"url": MASK}},
        {
            "name": "grass",
            "annotation_kind": "ImageSegmentationMask",
            "composite_mask": {"url": MASK, "color_rgb": [0, 128, 255]},
            "classifications": [{"name": "wet", "radio_answer": {"name": "yes"}}],
        },
    ]
    answers = [
        {"name": "weather", "radio_answer": {"name": "sunny"}},
        {"name": "tags", "checklist_answers": [{"name": "urban"}, {"value": "night"}]},
        {"value": "note", "text_answer": {"content": "blurry"}},
    ]
    result, problems = read_ndjson([ndrow(objects, answers)])
    (image,) = result.images
    assert problems.items == [] and result.format == "labelbox-ndjson"
    assert image.where.row == "line 1 (data row dr1)" and (image.width, image.height) == (640, 480)
    assert (image.ids.global_key, image.ids.url, image.ids.external_id, image.ids.file_name) == (
        "key-a",
        URL,
        "a.jpg",
        "a.jpg",
    )
    assert [(s.category, s.kind, s.frame) for s in image.shapes] == [
        ("car", "box", "top-left"),
        ("road", "polygon", "top-left"),
        ("lane", "line", "top-left"),
        ("kp", "point", "top-left"),
        ("sky", "mask", "top-left"),
        ("grass", "mask", "top-left"),
    ]
    assert image.shapes[0].box == (10, 40, 50, 30) and image.shapes[0].where.field == f"{OBJ}[0].bounding_box"
    assert rings(image)[1:4] == [[[(0, 99), (60, 90), (60, 120)]], [[(1, 2), (3, 4)]], [[(5, 7)]]]
    assert image.shapes[4].mask == MaskRef(url=MASK) and image.shapes[5].mask == MaskRef(url=MASK, color=(0, 128, 255))
    assert image.shapes[5].attributes == {"classifications": {"wet": "yes"}}
    assert image.attributes == {"classifications": {"weather": "sunny", "tags": ["urban", "night"], "note": "blurry"}}
    assert result.categories == ["car", "road", "lane", "kp", "sky", "grass"]


def test_consensus_labels_keep_the_first_and_warn_how_many_were_ignored():
    line = ndrow([{"name": "first", "point": {"x": 1, "y": 1}}])
    second = {"id": "lab2", "annotations": {"objects": [{"name": "second", "point": {"x": 2, "y": 2}}]}}
    line["projects"] = {
        "P0": {"labels": []},
        "P1": {"labels": [*line["projects"]["P1"]["labels"], second]},
        "P2": {"labels": [second]},
    }
    result, problems = read_ndjson([line])
    assert [s.category for s in result.images[0].shapes] == ["first"]
    warning = only(problems, "duplicate-row")
    assert warning.severity == "warning" and warning.row == "line 1 (data row dr1)" and "ignored 2" in warning.message


def test_lenient_kind_skipped_and_unlabeled_rows():
    wrong_kind = {"name": "car", "annotation_kind": "ImagePolygon", "bounding_box": BOX}
    no_kind = {"name": "bus", "polygon": [{"x": 0, "y": 0}, {"x": 1, "y": 0}, {"x": 1, "y": 1}]}
    skipped = ndrow([])
    skipped["projects"]["P1"]["labels"][0] = {"id": "lab1", "performance_details": {"skipped": True}}
    unlabeled = {"data_row": {"id": "dr3", "row_data": "https://x/api/rows/3"}}
    result, problems = read_ndjson([ndrow([wrong_kind, no_kind]), skipped, unlabeled])
    assert [s.kind for s in result.images[0].shapes] == ["box", "polygon"]
    assert [(i.skipped, len(i.shapes)) for i in result.images] == [(False, 2), (True, 0), (False, 0)]
    assert result.images[2].ids.file_name is None and result.images[2].width is None
    assert problems.items == []


@pytest.mark.parametrize(
    ("obj", "code", "field"),
    [
        (
            '{"name": "car", "annotation_kind": "ImageBoundingBox", "bounding_box": "x"}',
            "malformed-row",
            f"{OBJ}[0].bounding_box",
        ),
        (
            '{"name": "car", "bounding_box": {"top": "10", "left": 1, "height": 2, "width": 3}}',
            "malformed-row",
            f"{OBJ}[0].bounding_box.top",
        ),
        ('{"name": "car", "annotation_kind": "ImageCircle", "circle": {}}', "unknown-geometry", f"{OBJ}[0]"),
        # A box of the usual kind that is not plain leaves the one-step reading for the checked one.
        *(
            (
                '{"name": "car", "annotation_kind": "ImageBoundingBox", "bounding_box": '
                f'{{"top": {top}, "left": 1, "height": 2, "width": 3}}}}',
                code,
                f"{OBJ}[0].bounding_box.top",
            )
            for top, code in [("NaN", "nan-coordinate"), ("true", "malformed-row"), ("9" * 400, "nan-coordinate")]
        ),
        (
            '{"name": "car", "annotation_kind": "ImageBoundingBox", "classifications": {}, '
            '"bounding_box": {"top": 1, "left": 1, "height": 2, "width": 3}}',
            "malformed-row",
            f"{OBJ}[0].classifications",
        ),
        (
            '{"name": "car", "bounding_box": {"top": NaN, "left": 1, "height": 2, "width": 3}}',
            "nan-coordinate",
            f"{OBJ}[0].bounding_box.top",
        ),
        ('{"name": "car", "polygon": [{"x": -Infinity, "y": 0}]}', "nan-coordinate", f"{OBJ}[0].polygon[0].x"),
        (
            '{"name": "m", "composite_mask": {"url": "u", "color_rgb": [1, 2]}}',
            "malformed-row",
            f"{OBJ}[0].composite_mask.color_rgb",
        ),
        ('{"name": "m", "mask": {"uri": "u"}}', "malformed-row", f"{OBJ}[0].mask.url"),
        ('{"bounding_box": {"top": 1, "left": 2, "height": 3, "width": 4}}', "empty-class", f"{OBJ}[0].name"),
        (
            '{"name": "car", "annotation_kind": 3, "point": {"x": 1, "y": 1}}',
            "malformed-row",
            f"{OBJ}[0].annotation_kind",
        ),
        ("[]", "malformed-row", f"{OBJ}[0]"),
    ],
)
def test_ndjson_bad_object_costs_only_itself(obj, code, field):
    line = json.dumps(ndrow([{}, {"name": "ok", "point": {"x": 1, "y": 1}}])).replace("{}", obj, 1)
    result, problems = read_ndjson(line)
    assert [s.category for s in result.images[0].shapes] == ["ok"]
    problem = only(problems, code)
    assert (problem.row, problem.field) == ("line 1 (data row dr1)", field)


@pytest.mark.parametrize(
    ("bad", "row", "field", "words"),
    [
        ("{not json", "line 1", "", "not a JSON object"),
        ("[1, 2]", "line 1", "", "expected a data row object, got array"),
        ('{"projects": {}}', "line 1", "data_row", "missing"),
        ('{"data_row": {"id": "d9"}}', "line 1 (data row d9)", "data_row", "names no image"),
        (
            '{"data_row": {"id": "d9", "row_data": "u"}, "media_attributes": {"width": "640"}}',
            "line 1 (data row d9)",
            "media_attributes.width",
            "expected a number",
        ),
        (
            '{"data_row": {"id": "d9", "row_data": "u"}, "media_attributes": {"width": 10.5}}',
            "line 1 (data row d9)",
            "media_attributes.width",
            "whole number",
        ),
        (
            '{"data_row": {"id": "d9", "row_data": "u"}, "media_attributes": {"mime_type": "video/mp4"}}',
            "line 1 (data row d9)",
            "media_attributes.mime_type",
            "video rows are not images",
        ),
        (
            '{"data_row": {"id": "d9", "row_data": "u"}, '
            '"projects": {"P": {"labels": [{"annotations": {"frames": {}}}]}}}',
            "line 1 (data row d9)",
            "projects.P.labels[0].annotations.frames",
            "video rows are not images",
        ),
        (
            '{"data_row": {"id": "d9", "row_data": "u"}, "projects": {"P": {"labels": [{"id": "x"}]}}}',
            "line 1 (data row d9)",
            "projects.P.labels[0].annotations",
            "missing",
        ),
        (
            '{"data_row": {"id": "d9", "row_data": "u"}, "projects": []}',
            "line 1 (data row d9)",
            "projects",
            "expected dict",
        ),
    ],
)
def test_ndjson_bad_row_costs_only_itself(bad, row, field, words):
    result, problems = read_ndjson(bad + "\n\n" + json.dumps(ndrow([])) + "\n")
    assert [i.where.row for i in result.images] == ["line 3 (data row dr1)"]
    problem = only(problems, "malformed-row")
    assert (problem.row, problem.field) == (row, field) and words in problem.message


@pytest.mark.parametrize("data", ["", "\n  \n", "{broken\n", '{"data_row": 5}\n'])
def test_ndjson_with_no_readable_row_raises(data):
    with pytest.raises(InvalidInput, match=r"export\.ndjson: no data row could be read"):
        read_ndjson(data)


def test_a_100_mb_single_line_ndjson_is_refused_with_the_line_limit():
    one = json.dumps({"name": "car", "annotation_kind": "ImageBoundingBox", "bounding_box": BOX})
    huge = json.dumps(ndrow(["@"])).replace('"@"', ", ".join([one] * (100 * 2**20 // len(one))))
    assert len(huge) > 99 * 2**20
    assert ndjson.sniff(source("big.ndjson", huge)) is True
    with pytest.raises(InvalidInput, match=r"line 1: line is \d+ MiB, over the 16 MiB limit"):
        read_ndjson(huge)
    result, problems = read_ndjson(huge + "\n" + json.dumps(ndrow([])))
    assert [i.where.row for i in result.images] == ["line 2 (data row dr1)"]
    assert only(problems, "malformed-row").row == "line 1"


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("export.ndjson", "\n" + json.dumps(ndrow([])) + "\n", True),
        ("export.json", json.dumps(ndrow([])), True),
        ("export.ndjson", json.dumps({"data": {"image": URL}}), False),
        ("export.json", GOOD, False),
        ("export.ndjson", "{broken\n" + json.dumps(ndrow([])), False),
        ("export.ndjson", "", False),
        ("export.ndjson", b"\xff\xfe{", False),
    ],
)
def test_ndjson_sniff(name, data, expected):
    assert ndjson.sniff(source(name, data)) is expected


# ---- writers, round trips and robustness ----


def expected(image: GtImage, form: str) -> list[tuple[Any, ...]]:
    """What the reader should give for `image` in `form`: the 2018 forms flip y and turn boxes into polygons."""
    found = []
    for obj in image.objects:
        if form in ("objects", "ndjson"):
            geometry = obj.polygon if obj.polygon else obj.box
            found.append((obj.category, "polygon" if obj.polygon else "box", "top-left", geometry))
        else:
            points = [(x, image.height - y) for x, y in labelbox_json.outline(obj)]
            found.append((obj.category, "polygon", "bottom-left", points))
    return sorted(found, key=_order)


def actual(image: LabeledImage) -> list[tuple[Any, ...]]:
    found = []
    for shape in image.shapes:
        geometry = shape.box if shape.kind == "box" else shape.polygons[0]
        assert shape.kind == "box" or len(shape.polygons) == 1
        found.append((shape.category, shape.kind, shape.frame, geometry))
    return sorted(found, key=_order)


def _order(shape: tuple[Any, ...]) -> tuple[Any, ...]:
    return (*shape[:3], [float(v) for v in _flatten(shape[3])])


def assert_same(got: list[tuple[Any, ...]], want: list[tuple[Any, ...]]) -> None:
    assert [g[:3] for g in got] == [w[:3] for w in want]
    flat = [float(v) for g in got for v in _flatten(g[3])]
    assert flat == pytest.approx([float(v) for w in want for v in _flatten(w[3])], rel=1e-12, abs=1e-9)


def _flatten(geometry: Any) -> list[float]:
    return [v for item in geometry for v in (item if isinstance(item, tuple) else (item,))]


def read_written(dataset: GtDataset, form: str) -> ReadResult:
    files = labelbox_ndjson.write(dataset) if form == "ndjson" else labelbox_json.write(dataset, form)
    ((name, data),) = files.items()
    export = source(name, data)
    assert detect(export) == ("labelbox-ndjson" if form == "ndjson" else "labelbox-json")
    problems = Problems()
    reader = ndjson if form == "ndjson" else legacy
    result = reader.read(export, ReadOptions(), problems)
    assert problems.items == []
    return result


FORMS = [*labelbox_json.FORMS, "ndjson"]


@pytest.mark.parametrize("form", FORMS)
def test_a_generated_dataset_reads_back_in_every_form(form):
    dataset = make_dataset(seed=3, images=5)
    result = read_written(dataset, form)
    assert [i.ids.file_name for i in result.images] == [i.file_name for i in dataset.images]
    assert [i.ids.external_id for i in result.images] == [i.file_name for i in dataset.images]
    for got, truth in zip(result.images, dataset.images, strict=True):
        assert_same(actual(got), expected(truth, form))
        if form == "ndjson":
            assert (got.ids.global_key, got.width, got.height) == (truth.file_name, truth.width, truth.height)
    assert (result.notes != []) is (form not in ("objects", "ndjson"))


@st.composite
def gt_objects(draw: Any, width: int, height: int) -> GtObject:
    category = draw(st.sampled_from(["bottle", "can", "cup", "Red car"]))
    if draw(st.booleans()):
        w, h = draw(st.integers(1, width)), draw(st.integers(1, height))
        return GtObject(category, (draw(st.integers(0, width - w)), draw(st.integers(0, height - h)), w, h))
    coords = st.tuples(st.floats(0, width, allow_subnormal=False), st.floats(0, height, allow_subnormal=False))
    polygon = draw(st.lists(coords, min_size=3, max_size=8))
    xs, ys = [x for x, _ in polygon], [y for _, y in polygon]
    box = (min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys))
    return GtObject(category, box, polygon)  # type: ignore[arg-type]


@st.composite
def gt_datasets(draw: Any) -> GtDataset:
    images = []
    for index in range(draw(st.integers(1, 3))):
        width, height = draw(st.integers(1, 4000)), draw(st.integers(1, 4000))
        objects = draw(st.lists(gt_objects(width, height), max_size=4))
        images.append(GtImage(f"img_{index}.png", width, height, index, objects))
    return GtDataset(images, ["bottle", "can", "cup", "Red car"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dataset=gt_datasets(), form=st.sampled_from(FORMS))
def test_random_boxes_and_polygons_read_back_in_the_right_frame(dataset, form):
    result = read_written(dataset, form)
    for got, truth in zip(result.images, dataset.images, strict=True):
        assert_same(actual(got), expected(truth, form))
        assert all(math.isfinite(v) for s in got.shapes for ring in s.polygons for p in ring for v in p)


# Values shaped like real rows, where any field at any depth may instead be any JSON value (wrong types, NaN).
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.floats() | st.sampled_from(["", "Skip", "x", "POLYGON ((0"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["x", "y", "url", "top"]), inner),
    max_leaves=8,
)


class Need:
    """A dict value `loose` always includes, well shaped at its own level (the spine that reaches deep fields)."""

    def __init__(self, shape: Any) -> None:
        self.shape = shape

    def __repr__(self) -> str:
        return f"Need({self.shape!r})"


# Drawn through a composite whose repr is just `loose(shape=...)`: the strategy tree built up front had a repr that
# repeated every level for each branch, exponential in depth (123 MB for ND_ROW), and Hypothesis writes a strategy's
# repr into the notes of any error raised while drawing from it (and so into CI's log).
@st.composite
def loose(draw: st.DrawFn, shape: Any, need: bool = False) -> Any:
    """`shape` with dict keys optional unless `Need`, lists of its first item, a tuple a choice; each value
    sometimes any JSON value instead (wrong types, NaN)."""
    return draw(loose_level(shape, need))


LEVELS: dict[tuple[int, bool], tuple[Any, st.SearchStrategy[Any]]] = {}


def loose_level(shape: Any, need: bool) -> st.SearchStrategy[Any]:
    """One level of `loose(shape)`, its fields drawn through `loose` again; built once per shape (kept alive with it,
    so its id stays its own), since building and validating strategies on every draw doubles the tests' time."""
    key = (id(shape), need)
    if key not in LEVELS:
        if isinstance(shape, tuple):
            level = st.one_of([loose(choice, need) for choice in shape])
        else:
            if isinstance(shape, dict):
                required = {key: loose(value.shape, True) for key, value in shape.items() if isinstance(value, Need)}
                rest = {key: loose(value) for key, value in shape.items() if not isinstance(value, Need)}
                inner = st.fixed_dictionaries(required, optional=rest)
            elif isinstance(shape, list):
                inner = st.lists(loose(shape[0]), min_size=1 if need else 0, max_size=3)
            else:
                inner = st.just(shape)
            level = inner if need else st.one_of(inner, inner, inner, JSON)
        LEVELS[key] = (shape, level)
    return LEVELS[key][1]


POINT = {"x": 1.5, "y": 2}
WKT = "POLYGON ((0 0, 1 0, 1 1, 0 0), (0 0, 1 0, 1 1, 0 0))"
ANSWER = {"title": "yes", "value": "yes"}
CLASSIFICATION = {"title": "q", "value": "q", "answer": (ANSWER, "text"), "answers": [ANSWER]}
OBJECT = {
    "title": Need("car"),
    "value": "car",
    **{"bbox": BOX, "polygon": [POINT], "point": POINT, "line": [POINT], "instanceURI": MASK},
    "classifications": [CLASSIFICATION],
}
OLD_FORM = {"Car": (WKT, "MULTIPOLYGON (((0 0, 1 0, 1 1, 0 0)))", [([POINT], {"geometry": ([POINT], WKT, POINT)})])}
LEGACY_ROW = {
    "ID": "l1",
    "Labeled Data": Need(URL),
    "Skipped": False,
    "Label": Need(("Skip", {"objects": [OBJECT], "classifications": [CLASSIFICATION]}, OLD_FORM)),
}
ND_ANSWER = {"name": "a", "value": "a"}
ND_CLASSIFICATION = {
    **{"name": "q", "value": "q", "radio_answer": ND_ANSWER},
    **{"checklist_answers": [ND_ANSWER], "text_answer": {"content": "t"}},
}
ND_OBJECT = {
    "name": Need("car"),
    "annotation_kind": ("ImageBoundingBox", "ImagePolygon", "ImagePoint", "ImageSegmentationMask", "Other"),
    **{"bounding_box": BOX, "polygon": [POINT], "line": [POINT], "point": POINT, "mask": {"url": MASK}},
    "composite_mask": {"url": MASK, "color_rgb": [255]},
    "classifications": [ND_CLASSIFICATION],
}
ND_LABEL = {
    "performance_details": {"skipped": False},
    "annotations": Need({"objects": [ND_OBJECT], "classifications": [ND_CLASSIFICATION]}),
}
ND_ROW = {
    "data_row": Need({"id": "dr1", "global_key": "k", "row_data": Need(URL), "external_id": "a.jpg"}),
    "media_attributes": {"width": 640, "height": 480, "mime_type": "image/jpeg"},
    "projects": Need({"P1": Need({"labels": Need([ND_LABEL])}), "P2": {"labels": [ND_LABEL]}}),
}


def check_outcome(read: Any, data: Any, name: str) -> None:
    """The reader returns rows and coded problems, or raises InvalidInput naming the file: nothing raw escapes."""
    try:
        result, problems = read(data)
    except InvalidInput as exc:
        assert name in str(exc)
        return
    assert all(p.code in CODES and p.row for p in problems.items)
    assert all(isinstance(s.category, str) and s.category for i in result.images for s in i.shapes)


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(loose(LEGACY_ROW), max_size=3))
def test_legacy_wrong_types_never_escape_as_raw_errors(rows):
    check_outcome(read_legacy, rows, "export.json")


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(loose(ND_ROW), max_size=3))
def test_ndjson_wrong_types_never_escape_as_raw_errors(lines):
    check_outcome(read_ndjson, lines, "export.ndjson")


# ---- boxes: the one-go reading of plain numbers agrees with the field-by-field one ----


@pytest.mark.parametrize(
    ("box", "expected", "code"),
    [
        ({"top": 1, "left": 2.5, "height": 3, "width": 4}, (2.5, 1.0, 4.0, 3.0), None),
        ({"top": 1e308, "left": 1e308, "height": 1e308, "width": 1e308}, (1e308,) * 4, None),  # sum overflows
        ({"top": True, "left": 2, "height": 3, "width": 4}, None, "malformed-row"),
        ({"top": "1", "left": 2, "height": 3, "width": 4}, None, "malformed-row"),
        ({"top": 10**400, "left": 2, "height": 3, "width": 4}, None, "nan-coordinate"),
        ({"top": float("nan"), "left": 2, "height": 3, "width": 4}, None, "nan-coordinate"),
        ({"left": 2, "height": 3, "width": 4}, None, "malformed-row"),
    ],
)
def test_box_numbers_are_checked_however_they_are_read(box, expected, code):
    where = legacy.Where("row 1")
    if code is None:
        assert legacy.tlhw_box({"bbox": box}, "bbox", where).box == expected
        return
    with pytest.raises(legacy.RowError) as caught:
        legacy.tlhw_box({"bbox": box}, "bbox", where)
    assert caught.value.code == code and caught.value.where.field == "bbox.top"
