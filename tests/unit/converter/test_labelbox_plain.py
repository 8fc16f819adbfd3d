"""The one-step reading of the usual Export v2 row (readers.labelbox_plain) gives what the checked reading gives: the
same image, shapes, paths and problems; a row of any other shape is left to the checked reading with nothing
recorded."""

from __future__ import annotations

import contextlib
import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench import labelbox_v2
from transferline_converter.dataset import Problems, Where
from transferline_converter.readers import labelbox_ndjson as ndjson
from transferline_converter.readers.common import RowError
from transferline_converter.readers.labelbox_plain import plain_row

BASE = json.loads(labelbox_v2.export(copies=1).data.splitlines()[0])
PROJECT = next(iter(BASE["projects"]))


def checked(value: Any) -> tuple[Any, Problems]:
    problems = Problems()
    try:
        return ndjson._row(value, Where("line 1"), problems), problems
    except RowError as err:
        err.record(problems)
        return None, problems


def one_step(value: Any) -> tuple[Any, Problems]:
    problems = Problems()
    found = plain_row(value, Where("line 1"), problems, ndjson._object)
    if found is None:
        assert problems.items == [], "a row left to the checked reading must have recorded nothing"
        return checked(value)
    return found, problems


def label(row: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = row["projects"][PROJECT]["labels"][0]
    return found


def edited(path: str, value: Any, base: dict[str, Any] = BASE) -> dict[str, Any]:
    """A copy of `base` with the value at a dotted path (`label.` starts at the first label) set, or deleted when
    it is `...`."""
    row = copy.deepcopy(base)
    *parents, last = path.split(".")
    target: Any = row
    for part in parents:
        target = label(row) if part == "label" else target[int(part) if isinstance(target, list) else part]
    if value is ...:
        del target[int(last) if isinstance(target, list) else last]
    else:
        target[int(last) if isinstance(target, list) else last] = value
    return row


CASES = [
    ("data_row.id", ""),
    ("data_row.id", None),
    ("data_row.id", 7),
    ("data_row.global_key", ...),
    ("data_row.row_data", []),
    ("data_row", "x"),
    ("data_row", ...),
    ("media_attributes", ...),
    ("media_attributes", {}),
    ("media_attributes", [1]),
    ("media_attributes.width", 1920.0),
    ("media_attributes.width", 1920.5),
    ("media_attributes.width", True),
    ("media_attributes.width", 0),
    ("media_attributes.width", 2**60 + 1),
    ("media_attributes.height", None),
    ("media_attributes.mime_type", "video/mp4"),
    ("media_attributes.mime_type", 3),
    ("projects", {}),
    ("projects", None),
    ("projects", []),
    ("projects", {PROJECT: {"labels": []}, "other": {"labels": None}}),
    ("projects", {PROJECT: "x"}),
    ("projects", {PROJECT: {"labels": "x"}}),
    ("projects", {PROJECT: {"labels": [1]}}),
    ("projects", {"a": {"labels": [{"annotations": {"objects": []}}]}, "b": {"labels": [{"annotations": {}}]}}),
    ("projects", {"a": {"labels": [{"annotations": {}}, {"annotations": {}}]}}),
    ("label.performance_details", None),
    ("label.performance_details", "x"),
    ("label.performance_details.skipped", True),
    ("label.performance_details.skipped", 1),
    ("label.annotations", ...),
    ("label.annotations", []),
    ("label.annotations.frames", {}),
    ("label.annotations.objects", None),
    ("label.annotations.objects", {}),
    ("label.annotations.classifications", [{"name": "weather", "radio_answer": {"name": "sunny"}}]),
    ("label.annotations.classifications", [{"broken": 1}]),
    ("label.annotations.classifications", "x"),
    ("label.annotations.objects.0.bounding_box.left", float("nan")),
    ("label.annotations.objects.0.bounding_box.left", True),
    ("label.annotations.objects.0.bounding_box.left", 10**400),
    ("label.annotations.objects.0.bounding_box", ...),
    ("label.annotations.objects.0.name", ""),
    ("label.annotations.objects.0.classifications", [{"name": "q", "text_answer": {"content": "a"}}]),
    ("label.annotations.objects.0.annotation_kind", "ImagePolygon"),
    ("label.annotations.objects.0", "x"),
]


def test_the_usual_row_is_read_in_one_step_as_the_checked_reading_reads_it():
    problems = Problems()
    found = plain_row(BASE, Where("line 1"), problems, ndjson._object)
    assert found is not None and found.shapes
    assert (found, problems.items) == (checked(BASE)[0], checked(BASE)[1].items)
    assert found.shapes[0].where.field == f"projects.{PROJECT}.labels[0].annotations.objects[0].bounding_box"


@pytest.mark.parametrize(("path", "value"), CASES, ids=[f"{p}={v!r}"[:60] for p, v in CASES])
def test_any_other_row_reads_as_the_checked_reading_reads_it(path, value):
    row = edited(path, value)
    found, problems = one_step(row)
    want, want_problems = checked(row)
    assert found == want
    assert problems.items == want_problems.items


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(CASES), st.sampled_from(CASES))
def test_two_changes_at_once_read_as_the_checked_reading_reads_them(first, second):
    row = copy.deepcopy(BASE)
    for path, value in (first, second):
        with contextlib.suppress(KeyError, IndexError, TypeError, ValueError):  # the first removed where it goes
            row = edited(path, value, row)
    found, problems = one_step(row)
    want, want_problems = checked(row)
    assert (found, problems.items) == (want, want_problems.items)
