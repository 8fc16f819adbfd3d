"""COCO text as orjson encodes it is the text json.dumps writes, for the dataset and each split (written from one
encoding of the dataset's items), however the stream of it is read, and for the values orjson would spell
otherwise."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench import labelbox_v2
from transferline_converter import coco_json
from transferline_converter.build import BuildOptions
from transferline_converter.coco_json import CocoText, encode
from transferline_converter.convert import ConvertOptions, convert
from transferline_converter.images import ImageIndex
from transferline_converter.masks import MaskSource
from transferline_converter.sources import ExportFile, ExportSource


def dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


def subset(coco: dict[str, Any], image_ids: list[int]) -> dict[str, Any]:
    """A split's COCO as the split files held it when each was its own dict, encoded on its own."""
    chosen = set(image_ids)
    return {
        "images": [image for image in coco["images"] if image["id"] in chosen],
        "annotations": [a for a in coco["annotations"] if a["image_id"] in chosen],
        "categories": coco["categories"],
    }


def test_the_dataset_and_its_splits_read_as_json_dumps_writes_them(monkeypatch):
    monkeypatch.setattr(coco_json, "BATCH", 1000)  # long runs of one split are cut
    monkeypatch.setattr(coco_json, "CHUNK", 1 << 16)  # several pieces per file
    export = labelbox_v2.export(copies=20)
    source = ExportSource("export", [ExportFile("export-result.ndjson", export.data)])
    result = convert([source], ImageIndex([]), MaskSource(), ConvertOptions(build=BuildOptions(require_images=False)))
    text = CocoText(result.coco, result.split_ids)
    assert text.stream().read().decode() == dumps(result.coco)
    for split, ids in result.split_ids.items():
        assert text.stream(split).read().decode() == dumps(subset(result.coco, ids))
    assert len(json.loads(text.stream().read())["annotations"]) == export.boxes


def test_a_run_json_must_write_is_json_s_alone_and_an_item_in_no_split_is_in_the_dataset_only():
    images = [{"id": n, "file_name": f"{n}.jpg"} for n in range(1, 9)]
    images[4]["file_name"] = "caf\u00e9.jpg"  # its run (image 5 alone, in val) is json's text
    annotations = [{"id": n, "image_id": n % 10, "bbox": [n, 1e-05 * (n == 3), 2, 3]} for n in range(1, 12)]
    coco = {"info": {"year": 2026}, "images": images, "annotations": annotations, "categories": [{"id": 1}]}
    split_ids = {"train": [1, 2, 3, 4, 6, 7], "val": [5], "test": [8]}  # annotations of image 9 and 0: no split
    text = CocoText(coco, split_ids)
    assert text.stream().read().decode() == dumps(coco)
    for split, ids in split_ids.items():
        assert text.stream(split).read().decode() == dumps(subset(coco, ids))


@pytest.mark.parametrize(
    "value",
    [
        "\u00e9t\u00e9 \u2028 \U0001f600",  # json escapes non-ASCII; orjson writes UTF-8
        "\ud800",  # a lone surrogate: orjson refuses it
        'del \x7f, controls \x00\x1f\n\t"\\/',
        [1e-05, 9.9e-05, 1e-07, 2.5e-09, 1e-10, -3e-300, 0.0001, 1e16, 1.5e300, -0.0, 0.1 + 0.2],
        [math.nan, math.inf, -math.inf, None],
        [2**64, -(2**63) - 1, 2**63 - 1, True, False],
        {"a": {"b": [1, 2.5, "null", "1e-5", "3e-7x"]}, "frame-00001e-1.jpg": [1, 2]},
        {1: "an int key", 2.5: "a float key", None: "a null key"},
        (1, 2, 3),
    ],
)
def test_encode_writes_what_json_writes(value):
    assert encode(value) == dumps(value).encode()


ODD_VALUES = [
    1,
    "frame-1.jpg",
    "\u00e9",
    "\ud800",
    1e-05,
    2.5e-09,
    0.5,
    math.nan,
    None,
    2**64,
    "null",
    [1, "e-5"],
    {"a": [2, 1e-07]},
]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.lists(st.sampled_from(ODD_VALUES) | st.lists(st.sampled_from(ODD_VALUES), max_size=3)), max_size=8),
    st.sampled_from([1 << 16, 8]),
)
def test_runs_checked_in_one_search_are_encoded_as_each_alone(lists, short):
    """Runs are encoded, then their short texts checked together: each still reads as json.dumps writes it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(coco_json, "SHORT", short)  # with 8, most texts are searched alone
        assert coco_json._item_texts(lists) == [dumps(items).encode()[1:-1] for items in lists]


PATTERN_PARTS = [b"0", b"1", b".", b"e", b"-", b"u", b"l", b",", b"null", b"0.0000", b"e-5", b"\x7f", "\u00e9".encode()]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(PATTERN_PARTS), max_size=12).map(b"".join))
def test_the_check_finds_what_a_search_for_every_pattern_finds(text):
    """The byte looked for before each pattern never hides the pattern (texts built from the patterns' parts)."""
    short_exponent = any(text[m.start() - 1 : m.start()].isdigit() for m in re.finditer(rb"e-[0-9](?![0-9])", text))
    searched = text.isascii() and not any(p in text for p in (b"\x7f", b"null", b"0.0000")) and not short_exponent
    assert coco_json._as_json_writes(text) == searched


def test_what_json_cannot_encode_raises_as_json_does():
    from dataclasses import dataclass
    from datetime import datetime

    @dataclass
    class Point:
        x: int

    for value in (Point(1), datetime(2026, 1, 1), {1, 2}):
        with pytest.raises(TypeError):
            dumps(value)
        with pytest.raises(TypeError):
            encode(value)


def test_the_stream_reads_the_same_bytes_in_reads_of_any_size(monkeypatch):
    monkeypatch.setattr(coco_json, "BATCH", 7)
    monkeypatch.setattr(coco_json, "CHUNK", 100)
    images = [{"id": n, "file_name": f"{n}.jpg", "note": "\u00e9" * n} for n in range(1, 30)]
    annotations = [{"id": n, "image_id": 1 + n // 3, "bbox": [n, 0.5, 2, 3]} for n in range(1, 85)]
    coco = {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "car"}]}
    expected = dumps(coco).encode()
    for size in (1, 7, 4096, 1 << 22):
        reader, found = CocoText(coco, {"train": list(range(1, 30))}).stream(), b""
        while chunk := reader.read(size):
            assert len(chunk) == size or len(found) + len(chunk) == len(expected)  # short only at the end
            found += chunk
        assert found == expected
