"""COCO text put together from per-image pieces is the text json.dumps writes, for the dataset and each split, however
the stream of it is read."""

from __future__ import annotations

import json
from typing import Any

from bench import labelbox_v2
from transferline_converter.build import BuildOptions
from transferline_converter.coco_json import CocoText
from transferline_converter.convert import ConvertOptions, convert, subset
from transferline_converter.images import ImageIndex
from transferline_converter.masks import MaskSource
from transferline_converter.sources import ExportFile, ExportSource


def dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


def text(texts: CocoText, coco: dict[str, Any]) -> str:
    return texts.stream(coco).read().decode()


def test_the_dataset_and_its_splits_read_as_json_dumps_writes_them():
    export = labelbox_v2.export(copies=2)
    source = ExportSource("export", [ExportFile("export-result.ndjson", export.data)])
    result = convert([source], ImageIndex([]), MaskSource(), ConvertOptions(build=BuildOptions(require_images=False)))
    texts = CocoText(result.coco)

    assert texts.in_order
    for coco in [result.coco, *result.splits.values()]:
        assert text(texts, coco) == dumps(coco)
    assert len(json.loads(text(texts, result.coco))["annotations"]) == export.boxes


def test_annotations_in_another_order_or_not_whole_images_are_encoded_as_they_stand():
    images = [{"id": 1, "file_name": "a.jpg"}, {"id": 2, "file_name": "b.jpg"}]
    annotations = [{"id": 1, "image_id": 2}, {"id": 2, "image_id": 1}, {"id": 3, "image_id": 2}]
    coco = {"images": images, "annotations": annotations, "categories": []}
    assert not CocoText(coco).in_order
    assert text(CocoText(coco), coco) == dumps(coco)

    ordered = {**coco, "annotations": sorted(annotations, key=lambda a: (-a["image_id"], a["id"]))}
    ordered["images"] = images[::-1]
    texts = CocoText(ordered)
    part = {**subset(ordered, [2]), "annotations": ordered["annotations"][:1]}  # half of image 2's objects
    assert texts.in_order and text(texts, part) == dumps(part)
    assert text(texts, subset(ordered, [1])) == dumps(subset(ordered, [1]))


def test_the_stream_reads_the_same_bytes_in_reads_of_any_size():
    images = [{"id": n, "file_name": f"{n}.jpg", "note": "\u00e9" * n} for n in range(1, 30)]
    annotations = [{"id": n, "image_id": 1 + n // 3, "bbox": [n, 0.5, 2, 3]} for n in range(1, 85)]
    coco = {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "car"}]}
    expected = dumps(coco).encode()
    for size in (1, 7, 4096, 1 << 22):
        stream, found = CocoText(coco).stream(coco), b""
        while chunk := stream.read(size):
            assert len(chunk) == size or len(found) + len(chunk) == len(expected)  # short only at the end
            found += chunk
        assert found == expected
