"""A `GtDataset` as a Labelbox legacy JSON export (Export V1), in the current or one of the 2018 label forms.

The 2018 forms measured y up from the bottom of the image (until 2018-10-15) and had no box tool, so they write
y_b = H - y and boxes as 4-point polygons, dated before that day.
"""

from __future__ import annotations

import json
from typing import Any

from tests.support.labels import GtDataset, GtImage, GtObject, Point

FORMS = ("objects", "wkt-v2", "wkt-v3", "xy", "xy-geometry")
FILE_NAME = "export.json"


def write(dataset: GtDataset, form: str = "objects") -> dict[str, bytes]:
    if form not in FORMS:
        raise ValueError(f"unknown form {form!r}: one of {FORMS}")
    rows = [_row(index, image, form) for index, image in enumerate(dataset.images, start=1)]
    return {FILE_NAME: json.dumps(rows).encode()}


def url(image: GtImage) -> str:
    return f"http://images.test/{image.file_name}"


def outline(obj: GtObject) -> list[Point]:
    """The object's polygon, or its box as 4 corners, in pixels from the top-left."""
    if obj.polygon:
        return list(obj.polygon)
    x, y, w, h = obj.box
    return [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]


def _row(index: int, image: GtImage, form: str) -> dict[str, Any]:
    label = _objects_label(image) if form == "objects" else _old_label(image, form)
    return {
        "ID": f"label{index:04d}",
        "DataRow ID": f"row{index:04d}",
        "Labeled Data": url(image),
        "External ID": image.file_name,
        "Label": label,
        "Created By": "labeller@images.test",
        "Created At": "2019-06-11T14:57:50.000Z" if form == "objects" else "2018-06-04T10:11:12.000Z",
        "Project Name": "transferline tests",
        "Dataset Name": "generated",
        "Skipped": False,
    }


def _objects_label(image: GtImage) -> dict[str, Any]:
    objects = []
    for number, obj in enumerate(image.objects):
        entry: dict[str, Any] = {"featureId": f"f{number}", "title": obj.category, "value": obj.category}
        if obj.polygon:
            entry["polygon"] = [{"x": x, "y": y} for x, y in obj.polygon]
        else:
            x, y, w, h = obj.box
            entry["bbox"] = {"top": y, "left": x, "height": h, "width": w}
        objects.append(entry)
    return {"objects": objects, "classifications": []}


def _old_label(image: GtImage, form: str) -> dict[str, Any]:
    by_class: dict[str, list[list[Point]]] = {}
    for obj in image.objects:
        by_class.setdefault(obj.category, []).append([(x, image.height - y) for x, y in outline(obj)])
    if form == "wkt-v2":
        return {name: f"MULTIPOLYGON ({', '.join(_wkt_ring(r) for r in rings)})" for name, rings in by_class.items()}
    if form == "wkt-v3":
        return {name: [{"geometry": f"POLYGON {_wkt_ring(r)}"} for r in rings] for name, rings in by_class.items()}
    if form == "xy":
        return {name: [_xy(r) for r in rings] for name, rings in by_class.items()}
    return {name: [{"geometry": _xy(r)} for r in rings] for name, rings in by_class.items()}


def _wkt_ring(ring: list[Point]) -> str:
    closed = [*ring, ring[0]]
    return "((" + ", ".join(f"{x!r} {y!r}" for x, y in closed) + "))"


def _xy(ring: list[Point]) -> list[dict[str, float]]:
    return [{"x": x, "y": y} for x, y in ring]
