"""The one-step reading of the usual Export v2 row (readers.labelbox_plain) gives what the checked reading gives: the
same images, shapes, paths and problems, for a line of any shape and any spelling; and the build makes of a row's
compact boxes what it makes of their Shapes."""

from __future__ import annotations

import contextlib
import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench import labelbox_v2
from transferline.errors import InvalidInput
from transferline_converter.build import BuildOptions, build
from transferline_converter.dataset import ImageIds, LabeledImage, PlainBoxes, Problems, Where
from transferline_converter.images import ImageIndex, StoredImage
from transferline_converter.masks import MaskSource
from transferline_converter.readers import ReadOptions
from transferline_converter.readers import labelbox_ndjson as ndjson
from transferline_converter.readers.common import loads
from transferline_converter.readers.labelbox_plain import _Box, _Object, plain_row
from transferline_converter.sources import ExportFile, ExportSource

BASE = json.loads(labelbox_v2.export(copies=1).data.splitlines()[0])
PROJECT = next(iter(BASE["projects"]))
BOX = "label.annotations.objects.0.bounding_box"


def read(data: bytes, checked_only: bool = False) -> tuple[Any, list[Any]]:
    """(images, categories and notes, or the error) and the problems of reading `data`; with `checked_only`, every
    line read by json.loads and the checked reading, as before the one-step reading."""
    problems = Problems()
    source = ExportSource("export", [ExportFile("export.ndjson", data)])
    with pytest.MonkeyPatch.context() as patch:
        if checked_only:
            patch.setattr(ndjson, "plain_row", lambda line, row: None)
            patch.setattr(ndjson, "loads_line", lambda line: loads(line.decode("utf-8-sig")))
        try:
            result = ndjson.read(source, ReadOptions(), problems)
        except InvalidInput as exc:
            return str(exc), problems.items
    return (result.images, result.categories, result.notes), problems.items


def assert_read_as_checked(data: bytes) -> None:
    assert read(data) == read(data, checked_only=True)
    for number, line in enumerate(data.splitlines(keepends=True), start=1):
        if line.strip() and plain_row(line, f"line {number}") is not None:
            # read in one step only when the checked reading has nothing to say about it
            assert read(line, checked_only=True)[1] == [], line


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


def spelled(path: str, text: bytes, base: dict[str, Any] = BASE) -> bytes:
    """The line of `base` with the value at `path` written as `text`, as it stands (any JSON, or none)."""
    return json.dumps(edited(path, "@@ value @@", base)).encode().replace(b'"@@ value @@"', text)


def line(row: Any) -> bytes:
    return json.dumps(row).encode() + b"\n"


CASES = [
    ("data_row.id", ""),
    ("data_row.id", None),
    ("data_row.id", 7),
    ("data_row.global_key", ...),
    ("data_row.row_data", []),
    ("data_row", "x"),
    ("data_row", ...),
    ("data_row", None),
    ("media_attributes", ...),
    ("media_attributes", None),
    ("media_attributes", {}),
    ("media_attributes", [1]),
    ("media_attributes.width", 1920.0),
    ("media_attributes.width", 1920.5),
    ("media_attributes.width", True),
    ("media_attributes.width", 0),
    ("media_attributes.width", -5),
    ("media_attributes.width", 2**53),
    ("media_attributes.width", 2**53 - 1),
    ("media_attributes.width", 2**60 + 1),
    ("media_attributes.width", 2**70),
    ("media_attributes.width", "640"),
    ("media_attributes.height", None),
    ("media_attributes.mime_type", "video/mp4"),
    ("media_attributes.mime_type", ""),
    ("media_attributes.mime_type", None),
    ("media_attributes.mime_type", 3),
    ("projects", {}),
    ("projects", None),
    ("projects", []),
    ("projects", {PROJECT: {"labels": []}, "other": {"labels": None}}),
    ("projects", {PROJECT: {}}),
    ("projects", {PROJECT: "x"}),
    ("projects", {PROJECT: None}),
    ("projects", {PROJECT: {"labels": "x"}}),
    ("projects", {PROJECT: {"labels": [1]}}),
    ("projects", {PROJECT: {"labels": [None]}}),
    ("projects", {"a": {"labels": [{"annotations": {"objects": []}}]}, "b": {"labels": [{"annotations": {}}]}}),
    ("projects", {"a": {"labels": [{"annotations": {}}, {"annotations": {}}]}}),
    ("projects", {"[0]": {"labels": [{"annotations": {"objects": [{"name": "x", "bounding_box": {}}]}}]}}),
    ("label.performance_details", None),
    ("label.performance_details", {}),
    ("label.performance_details", "x"),
    ("label.performance_details.skipped", True),
    ("label.performance_details.skipped", None),
    ("label.performance_details.skipped", 1),
    ("label.annotations", ...),
    ("label.annotations", None),
    ("label.annotations", []),
    ("label.annotations.frames", {}),
    ("label.annotations.frames", None),
    ("label.annotations.objects", None),
    ("label.annotations.objects", []),
    ("label.annotations.objects", {}),
    ("label.annotations.objects", [None]),
    ("label.annotations.classifications", None),
    ("label.annotations.classifications", [{"name": "weather", "radio_answer": {"name": "sunny"}}]),
    ("label.annotations.classifications", [{"broken": 1}]),
    ("label.annotations.classifications", "x"),
    (f"{BOX}.left", float("nan")),
    (f"{BOX}.left", True),
    (f"{BOX}.left", None),
    (f"{BOX}.left", "3"),
    (f"{BOX}.left", 7),
    (f"{BOX}.left", 2**64 + 1),
    (f"{BOX}.left", 10**400),
    (f"{BOX}.left", -1e308),
    (f"{BOX}.left", 1.7e308),  # with the next, a box whose sum is past a float's range
    (f"{BOX}.width", 1.7e308),
    (f"{BOX}.width", ...),
    (f"{BOX}.extra", 1),
    (BOX, ...),
    (BOX, None),
    (BOX, [1, 2, 3, 4]),
    ("label.annotations.objects.0.name", ""),
    ("label.annotations.objects.0.name", None),
    ("label.annotations.objects.0.name", ...),
    ("label.annotations.objects.0.name", "  car  "),
    ("label.annotations.objects.0.value", 3),
    ("label.annotations.objects.0.classifications", None),
    ("label.annotations.objects.0.classifications", {}),
    ("label.annotations.objects.0.classifications", [{"name": "q", "text_answer": {"content": "a"}}]),
    ("label.annotations.objects.0.annotation_kind", "ImagePolygon"),
    ("label.annotations.objects.0.annotation_kind", None),
    ("label.annotations.objects.0.annotation_kind", ...),
    ("label.annotations.objects.0.polygon", [{"x": 1, "y": 2}]),
    ("label.annotations.objects.0", "x"),
    ("label.annotations.objects.0", {"name": "kp", "annotation_kind": "ImagePoint", "point": {"x": 1, "y": 2}}),
]

# The same value spelled in ways JSON parsers disagree on, or refuse.
SPELLINGS = [
    (f"{BOX}.left", text)
    for text in (
        b"1e400",
        b"-1e400",
        b"NaN",
        b"Infinity",
        b"-Infinity",
        b"1" + b"0" * 30,
        b"9" * 5000,
        b"18446744073709551616",
        b"9007199254740993",
        b"1E2",
        b"-0",
        b"-0.0",
        b"0.1e1",
        b"1.7976931348623157e308",
        b"1.7976931348623159e308",
        b"4.9e-324",
        b"1e-400",
        b"01",
        b"1.",
        b"true",
        b'"1"',
    )
] + [
    ("media_attributes.width", b"1280.0"),
    ("media_attributes.width", b"1e3"),
    ("media_attributes.width", b"9" * 30),
    ("media_attributes.width", b"9" * 5000),
    ("media_attributes.width", b"-0"),
    ("data_row.external_id", b'"\\ud800"'),
    ("data_row.external_id", b'"\\udc00 x"'),
    ("data_row.external_id", b'"\\ud83d\\ude00.jpg"'),
    ("data_row.external_id", '"caf\u00e9.jpg"'.encode()),
    ("data_row.external_id", b'"\\u00e9\\n\\t\\"\\\\"'),
    ("data_row.external_id", b'"\xff"'),
    ("data_row.external_id", b'"\x01"'),
    ("data_row.details", b'"\xff"'),  # not UTF-8, where nothing reads: the line is still refused
    ("data_row.details", b'"\xed\xa0\x80"'),  # a surrogate in UTF-8
    ("data_row.details", b'"\xc0\x80"'),  # an overlong NUL
    ("data_row.details", b'"\\ud800"'),
    ("data_row.details", b"NaN"),
    ("data_row.details", b"1e400"),
    ("data_row.details", b"9" * 5000),
    ("data_row.details", b"[" * 900 + b"]" * 900),
    ("data_row.details", b"[" * 1010 + b"]" * 1010),
    ("data_row.details", b"[" * 3000 + b"]" * 3000),
    ("data_row.details", b"[1,]"),
    ("data_row.details", b'{"a" 1}'),
    ("label.annotations.objects.0.name", b'"\\u0063ar"'),
    ("label.annotations.objects.0.name", '"\u00fcbel"'.encode()),
    ("label.annotations.frames", b"null"),
]

WHOLE_LINES = [
    b"\xef\xbb\xbf" + line(BASE),
    line(BASE).rstrip() + b"\r\n",
    b"  \t" + line(BASE),
    line(BASE).rstrip() + b" x\n",
    line(BASE)[:-20] + b"\n",
    line(BASE)[:-2] + b', "data_row": 3}\n',  # the last of duplicate keys counts
    b'{"data_row": 3, ' + line(BASE)[1:],
    line(BASE)[:-2] + b', "data_row": {"id": "dup", "external_id": "b.jpg"}}\n',
    line(BASE)[:-2] + b', "projects": {"p": {"labels": []}}}\n',
    b"[]\n",
    b"null\n",
    b"3\n",
    b'"row"\n',
    b"{}\n",
]


def test_the_usual_row_is_read_in_one_step_as_the_checked_reading_reads_it():
    found = plain_row(line(BASE), "line 1")
    assert found is not None and found.boxes is not None
    assert list(found.categories()) == [obj["name"] for obj in label(BASE)["annotations"]["objects"]]
    assert found.shapes[0].where.field == f"projects.{PROJECT}.labels[0].annotations.objects[0].bounding_box"
    assert found.boxes is None  # made Shapes once read as shapes
    assert_read_as_checked(line(BASE))


@pytest.mark.parametrize(("path", "value"), CASES, ids=[f"{p}={v!r}"[:60] for p, v in CASES])
def test_any_other_row_reads_as_the_checked_reading_reads_it(path, value):
    assert_read_as_checked(line(edited(path, value)))


@pytest.mark.parametrize(("path", "text"), SPELLINGS, ids=[f"{p}={t[:20]!r}" for p, t in SPELLINGS])
def test_any_spelling_of_a_value_reads_as_json_and_the_checked_reading_read_it(path, text):
    assert_read_as_checked(spelled(path, text) + b"\n")


@pytest.mark.parametrize("data", WHOLE_LINES, ids=[repr(data[:16]) + str(len(data)) for data in WHOLE_LINES])
def test_any_other_line_reads_as_json_and_the_checked_reading_read_it(data):
    assert_read_as_checked(data)


def test_a_file_of_usual_and_other_lines_reads_as_the_checked_reading_reads_it():
    other = edited("label.annotations.objects.0", {"name": "kp", "annotation_kind": "ImagePoint", "point": {}})
    lines = [b"\xef\xbb\xbf" + line(BASE), line(other), b"{broken\n", b"\n", line(edited(f"{BOX}.left", -5.0))]
    data = b"".join([*lines, line(edited("data_row.external_id", "b.jpg"))])
    assert_read_as_checked(data)
    images = read(data)[0][0]
    assert [image.where.row.split(" (")[0] for image in images] == ["line 1", "line 2", "line 5", "line 6"]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(CASES), st.sampled_from(CASES))
def test_two_changes_at_once_read_as_the_checked_reading_reads_them(first, second):
    row = copy.deepcopy(BASE)
    for path, value in (first, second):
        with contextlib.suppress(KeyError, IndexError, TypeError, ValueError):  # the first removed where it goes
            row = edited(path, value, row)
    assert_read_as_checked(line(row))


def _number_text(value: float | int, style: str) -> bytes:
    text = {"repr": repr, "e": lambda v: f"{v:e}", "17g": lambda v: f"{v:.17g}", "int": lambda v: str(int(v))}
    return text[style](value).encode()


NUMBERS = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(min_value=0, max_value=5000),
    st.integers(min_value=-(2**80), max_value=2**80),
)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([f"{BOX}.left", f"{BOX}.top", f"{BOX}.width", f"{BOX}.height", "media_attributes.width"]),
    NUMBERS,
    st.sampled_from(["repr", "e", "17g", "int"]),
)
def test_any_number_reads_as_json_and_the_checked_reading_read_it(path, value, style):
    with contextlib.suppress(OverflowError):  # int() of a float past an int64 is fine; of infinity, not made
        assert_read_as_checked(spelled(path, _number_text(value, style)) + b"\n")


# ---- the build: compact boxes as their Shapes ----

COORDINATES = st.one_of(
    st.integers(min_value=-10, max_value=700),
    st.floats(min_value=-10, max_value=700),
    st.sampled_from([0.0, -0.0, 1e-64, 1e308, 639.9999999999999, 640.0, 480.0]),
)
BOXES = st.lists(
    st.tuples(st.sampled_from(["car", "bus", " car ", "person", "dropped"]), st.tuples(*[COORDINATES] * 4)),
    max_size=6,
)


def _object(name: str, x: float, y: float, w: float, h: float) -> _Object:
    """A box object as the one-step reading decodes it."""
    return _Object(name, "ImageBoundingBox", _Box(top=y, left=x, height=h, width=w))


def _built(items: list[Any], compact: bool, stored: tuple[int, int] | None, options: BuildOptions) -> Any:
    where = Where("line 1 (data row d)")
    objects = [_object(name, *map(float, box)) for name, box in items]
    boxes = PlainBoxes(objects, lambda i: where.at(f"b[{i}]"))
    ids = ImageIds(external_id="a.jpg", file_name="a.jpg")
    if compact:
        image = LabeledImage(where, ids, 640, 480, boxes=boxes)
    else:
        image = LabeledImage(where, ids, 640, 480, shapes=[boxes.shape(index) for index in range(len(items))])
    index = ImageIndex([StoredImage("a.jpg", *stored, read=bytes)] if stored else [])
    problems = Problems()
    built = build([image], ["person"], index, MaskSource(), options, problems)
    return built.coco, built.counters, problems.items


@settings(max_examples=300, deadline=None)
@given(
    BOXES,
    st.sampled_from([None, (640, 480), (1280, 960), (320, 480)]),
    st.booleans(),
    st.sampled_from([None, frozenset({"car", "person"})]),
)
def test_compact_boxes_build_as_their_shapes_build(items, stored, clip, classes):
    options = BuildOptions(clip=clip, classes=classes, rename={"dropped": ""}, require_images=stored is not None)
    assert _built(items, True, stored, options) == _built(items, False, stored, options)
