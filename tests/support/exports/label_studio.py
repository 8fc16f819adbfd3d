"""A `GtDataset` as a Label Studio JSON export: one task per image, uploaded as /data/upload/1/<file_name>, with
one submitted annotation whose regions are percents of the original size."""

from __future__ import annotations

import json
from typing import Any

from tests.support.labels import GtDataset, GtImage, GtObject

FILE_NAME = "project-1-at-2024-01-01-00-00-00000000.json"


def write(dataset: GtDataset) -> dict[str, bytes]:
    tasks = [_task(number, image) for number, image in enumerate(dataset.images, start=1)]
    return {FILE_NAME: json.dumps(tasks, indent=1).encode()}


def _task(number: int, image: GtImage) -> dict[str, Any]:
    result = [_region(f"r{number}_{index}", obj, image) for index, obj in enumerate(image.objects)]
    annotation = {"id": number, "completed_by": 1, "result": result, "was_cancelled": False, "ground_truth": False}
    return {
        "id": number,
        "data": {"image": f"/data/upload/1/{image.file_name}"},
        "annotations": [annotation],
        "predictions": [],
        "meta": {},
        "project": 1,
    }


def _region(region_id: str, obj: GtObject, image: GtImage) -> dict[str, Any]:
    if obj.polygon:
        kind = "polygonlabels"
        value: dict[str, Any] = {
            "points": [[100 * x / image.width, 100 * y / image.height] for x, y in obj.polygon],
            "closed": True,
        }
    else:
        kind = "rectanglelabels"
        x, y, w, h = obj.box
        value = {
            "x": 100 * x / image.width,
            "y": 100 * y / image.height,
            "width": 100 * w / image.width,
            "height": 100 * h / image.height,
            "rotation": 0,
        }
    value[kind] = [obj.category]
    return {
        "id": region_id,
        "type": kind,
        "value": value,
        "from_name": "label",
        "to_name": "image",
        "original_width": image.width,
        "original_height": image.height,
        "image_rotation": 0,
        "origin": "manual",
    }
