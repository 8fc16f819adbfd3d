"""A `GtDataset` as a Labelbox export v2 NDJSON file: one data row per line, pixels from the top-left."""

from __future__ import annotations

import json
from typing import Any

from tests.support.labels import GtDataset, GtImage, GtObject

FILE_NAME = "export.ndjson"
PROJECT = "cproject0001"


def write(dataset: GtDataset) -> dict[str, bytes]:
    lines = [json.dumps(_row(index, image)) for index, image in enumerate(dataset.images, start=1)]
    return {FILE_NAME: ("\n".join(lines) + "\n").encode()}


def _row(index: int, image: GtImage) -> dict[str, Any]:
    objects = [_object(number, obj) for number, obj in enumerate(image.objects)]
    label = {
        "id": f"label{index:04d}",
        "performance_details": {"seconds_to_create": 3, "skipped": False},
        "annotations": {"objects": objects, "classifications": [], "relationships": []},
    }
    return {
        "data_row": {
            "id": f"row{index:04d}",
            "global_key": image.file_name,
            "external_id": image.file_name,
            "row_data": f"http://images.test/{image.file_name}",
        },
        "media_attributes": {"height": image.height, "width": image.width, "mime_type": "image/jpeg"},
        "projects": {PROJECT: {"name": "transferline tests", "labels": [label]}},
    }


def _object(number: int, obj: GtObject) -> dict[str, Any]:
    entry: dict[str, Any] = {"feature_id": f"f{number}", "name": obj.category, "value": obj.category}
    if obj.polygon:
        entry["annotation_kind"] = "ImagePolygon"
        entry["polygon"] = [{"x": x, "y": y} for x, y in obj.polygon]
    else:
        x, y, w, h = obj.box
        entry["annotation_kind"] = "ImageBoundingBox"
        entry["bounding_box"] = {"top": y, "left": x, "height": h, "width": w}
    entry["classifications"] = []
    return entry
