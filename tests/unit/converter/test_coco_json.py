"""COCO text as orjson encodes it is the text json.dumps writes, for the dataset and each split, however the stream
of it is read, and for the values orjson would spell otherwise."""

from __future__ import annotations

import json
import math

import pytest

from bench import labelbox_v2
from transferline_converter import coco_json
from transferline_converter.build import BuildOptions
from transferline_converter.coco_json import encode, stream
from transferline_converter.convert import ConvertOptions, convert
from transferline_converter.images import ImageIndex
from transferline_converter.masks import MaskSource
from transferline_converter.sources import ExportFile, ExportSource


def dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


def test_the_dataset_and_its_splits_read_as_json_dumps_writes_them(monkeypatch):
    monkeypatch.setattr(coco_json, "BATCH", 1000)  # several pieces per list
    export = labelbox_v2.export(copies=20)
    source = ExportSource("export", [ExportFile("export-result.ndjson", export.data)])
    result = convert([source], ImageIndex([]), MaskSource(), ConvertOptions(build=BuildOptions(require_images=False)))
    for coco in [result.coco, *result.splits.values()]:
        assert stream(coco).read().decode() == dumps(coco)
    assert len(json.loads(stream(result.coco).read())["annotations"]) == export.boxes


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
    images = [{"id": n, "file_name": f"{n}.jpg", "note": "\u00e9" * n} for n in range(1, 30)]
    annotations = [{"id": n, "image_id": 1 + n // 3, "bbox": [n, 0.5, 2, 3]} for n in range(1, 85)]
    coco = {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "car"}]}
    expected = dumps(coco).encode()
    for size in (1, 7, 4096, 1 << 22):
        reader, found = stream(coco), b""
        while chunk := reader.read(size):
            assert len(chunk) == size or len(found) + len(chunk) == len(expected)  # short only at the end
            found += chunk
        assert found == expected
