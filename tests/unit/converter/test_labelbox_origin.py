"""The y origin of legacy Labelbox rows in the 2018 class -> geometry form, decided per row from `Created At`.

The fixture has the shape of a real legacy export of that form (a project labelled through 2018 and 2019): each
row carries the export's own keys, `Label` maps a class to `[{"geometry": [{x, y}, ...]}]`, and the rows fall on
both sides of 2018-10-15, the day Labelbox stopped measuring y from the bottom.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from transferline_converter.convert import ConvertOptions, convert
from transferline_converter.images import ImageIndex, StoredImage
from transferline_converter.masks import MaskSource
from transferline_converter.readers import ReadOptions
from transferline_converter.readers.labelbox_origin import parse_day, row_ranges
from transferline_converter.sources import ExportFile, ExportSource
from transferline_converter.splits import SplitPlan

WIDTH, HEIGHT = 100, 200
# One drawn square, x 10..50 and y 20..60 as the editor wrote it.
SQUARE = [{"x": 10, "y": 20}, {"x": 50, "y": 20}, {"x": 50, "y": 60}, {"x": 10, "y": 60}]
TOP_LEFT_BOX = [10.0, 20.0, 40.0, 40.0]
BOTTOM_LEFT_BOX = [10.0, HEIGHT - 60.0, 40.0, 40.0]  # y measured up from the bottom: flipped


def legacy_row(number: int, created_at: str | None) -> dict[str, Any]:
    name = f"{number:06d}_1.jpg"
    row: dict[str, Any] = {
        "ID": f"cjvhb7q4h0000{number:04d}",
        "DataRow ID": f"cjvh9xkzq0000{number:04d}",
        "Labeled Data": f"https://storage.labelbox.com/cjvh9w%2F{name}",
        "Label": {"Hole": [{"geometry": SQUARE}], "is_it_paved": "yes"},
        "Created By": "labeller@example.org",
        "Project Name": "Accessible Geodatabase",
        "Created At": created_at,
        "Updated At": "2019-05-21T14:32:36.000Z",
        "Seconds to Label": 38.555,
        "External ID": name,
        "Agreement": -1,
        "Benchmark Agreement": -1,
        "Benchmark ID": None,
        "Dataset Name": "street views",
        "Reviews": [],
        "View Label": f"https://editor.labelbox.com?project=p&label=l{number}",
    }
    if created_at is None:
        del row["Created At"]
    return row


ROWS = [
    legacy_row(1, "2018-06-04T10:11:12.000Z"),  # before: bottom-left
    legacy_row(2, "2018-10-14T23:59:59.000Z"),  # the last second before
    legacy_row(3, "2018-10-15T00:00:00.000Z"),  # the day itself: top-left
    legacy_row(4, "2019-06-11T14:57:50.000Z"),  # the 2019 export the issue met
    legacy_row(5, None),  # no date: the 2018 reading, with a warning
    legacy_row(6, "last tuesday"),  # unreadable: the same
]


def convert_rows(rows: list[dict[str, Any]], origin: str = "auto"):
    source = ExportSource("export", [ExportFile("export.json", json.dumps(rows).encode())])
    stored = [StoredImage(row["External ID"], WIDTH, HEIGHT, read=bytes) for row in rows]
    options = ConvertOptions(
        read=ReadOptions(legacy_y_origin=origin),  # type: ignore[arg-type]
        split=SplitPlan({"train": 1.0}, near_duplicate_bits=-1),
    )
    return convert([source], ImageIndex(stored), MaskSource(), options)


def boxes(result) -> dict[str, list[float]]:
    names = {image["id"]: image["file_name"] for image in result.coco["images"]}
    return {names[a["image_id"]]: a["bbox"] for a in result.coco["annotations"]}


def test_auto_reads_each_row_by_its_created_at():
    result = convert_rows(ROWS)

    assert result.failure is None
    assert boxes(result) == {
        "000001_1.jpg": BOTTOM_LEFT_BOX,
        "000002_1.jpg": BOTTOM_LEFT_BOX,
        "000003_1.jpg": TOP_LEFT_BOX,
        "000004_1.jpg": TOP_LEFT_BOX,
        "000005_1.jpg": BOTTOM_LEFT_BOX,
        "000006_1.jpg": BOTTOM_LEFT_BOX,
    }
    assert result.report["notes"] == [
        "6 of 6 rows use Labelbox's 2018 class -> geometry label, read by their Created At "
        "(legacy_y_origin=auto): 2 (rows 1-2) created before 2018-10-15, when Labelbox measured y from the bottom: "
        "y read from the bottom; 2 (rows 3-4) created on or after 2018-10-15, when Labelbox measured y from the top: "
        "y read from the top; 2 (rows 5-6) with no readable Created At: y read from the bottom, as 2018 exports "
        "measured it"
    ]
    assert "rows 3-4) created on or after 2018-10-15" in result.report_text  # the page people read says it too


def test_a_row_without_a_readable_date_is_warned_about_by_row_and_field():
    result = convert_rows(ROWS)

    warned = [p for p in result.report["problems"]["items"] if p["code"] == "undated-row"]
    assert [(p["severity"], p["row"], p["field"]) for p in warned] == [
        ("warning", "row 5 (ID cjvhb7q4h00000005)", "Created At"),
        ("warning", "row 6 (ID cjvhb7q4h00000006)", "Created At"),
    ]
    assert "Created At is missing" in warned[0]["message"]
    assert "'last tuesday' is not an ISO 8601 date" in warned[1]["message"]
    assert result.report["problems"]["errors"] == 0


@pytest.mark.parametrize(("origin", "box"), [("top-left", TOP_LEFT_BOX), ("bottom-left", BOTTOM_LEFT_BOX)])
def test_an_explicit_origin_overrides_every_date_and_warns_of_none(origin, box):
    result = convert_rows(ROWS, origin)

    assert set(map(tuple, boxes(result).values())) == {tuple(box)}
    assert result.report["problems"]["warnings"] == 0
    assert result.report["notes"][0].endswith(f"(legacy_y_origin={origin})")


def test_objects_form_rows_are_top_left_whatever_their_date():
    row = legacy_row(1, "2017-01-01T00:00:00.000Z")
    row["Label"] = {"objects": [{"title": "Hole", "polygon": SQUARE}], "classifications": []}

    result = convert_rows([row])

    assert boxes(result) == {"000001_1.jpg": TOP_LEFT_BOX}
    assert result.report["notes"] == [] and result.report["problems"]["warnings"] == 0


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("2019-06-11T14:57:50.000Z", date(2019, 6, 11)),
        ("2018-10-15", date(2018, 10, 15)),
        ("2018-10-14T23:00:00-05:00", date(2018, 10, 15)),  # the UTC day decides
        ("2018-10-14 22:00:00", date(2018, 10, 14)),
        ("", None),
        ("2018-13-01", None),
        (1539561600, None),
    ],
)
def test_parse_day(text, day):
    assert parse_day(text) == day


def test_row_ranges():
    assert row_ranges([4]) == "row 4"
    assert row_ranges([7, 1, 2, 3, 9]) == "rows 1-3, 7, 9"
    assert row_ranges(list(range(1, 100, 2))).endswith("39 and 30 more runs")
