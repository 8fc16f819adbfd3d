"""A Labelbox Export v2 NDJSON file of the shape real projects export, for the converter bench.

One project of `BASE_ROWS` data rows holding `BASE_BOXES` boxes (the size of a public detection project's export),
written with every section Labelbox includes by default (data row details, media attributes, attachments,
metadata, label and project details with workflow history), then repeated with fresh ids, keys and signed
storage URLs so no two rows name the same image.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass
from typing import Any

BASE_ROWS, BASE_BOXES = 112, 839
CLASSES = ("car", "truck", "bus", "person", "bicycle", "traffic_light")
PROJECT = "cli4eboys00x207yh7qk1gxo6"
ORG = "clfl1h1wi05sj07vjewprhj0s"
SIZES = ((1920, 1080), (1280, 720), (4032, 3024))


@dataclass(frozen=True)
class Export:
    data: bytes
    rows: int
    boxes: int
    classes: tuple[str, ...]


def export(copies: int = 100, seed: int = 0) -> Export:
    """`BASE_ROWS * copies` rows and `BASE_BOXES * copies` boxes, one JSON object per line."""
    rng = random.Random(seed)
    counts = _box_counts(rng)
    base = [_base_row(rng, index, count) for index, count in enumerate(counts)]
    lines = (json.dumps(_copy(row, copy, index)) for copy in range(copies) for index, row in enumerate(base))
    return Export(("\n".join(lines) + "\n").encode(), BASE_ROWS * copies, BASE_BOXES * copies, CLASSES)


def _box_counts(rng: random.Random) -> list[int]:
    """Boxes per row, 1 to 20, adding up to BASE_BOXES."""
    counts = [1] * BASE_ROWS
    for _ in range(BASE_BOXES - BASE_ROWS):
        row = rng.choice([i for i, n in enumerate(counts) if n < 20])
        counts[row] += 1
    return counts


def _cuid(rng: random.Random) -> str:
    return "cl" + "".join(rng.choice("0123456789abcdefghijklmnopqrstuvwxyz") for _ in range(23))


def _base_row(rng: random.Random, index: int, boxes: int) -> dict[str, Any]:
    width, height = rng.choice(SIZES)
    objects = [_box(rng, width, height) for _ in range(boxes)]
    label = {
        "label_kind": "Default",
        "version": "1.0.0",
        "id": _cuid(rng),
        "label_details": {
            "created_at": "2023-07-24T13:16:59.000+00:00",
            "updated_at": "2023-10-02T07:17:01.000+00:00",
            "created_by": "labeller@example.org",
            "reviews": [],
        },
        "performance_details": {"seconds_to_create": rng.randint(20, 900), "seconds_to_review": 0, "skipped": False},
        "annotations": {"objects": objects, "classifications": [], "relationships": []},
    }
    return {
        "data_row": {
            "id": _cuid(rng),
            "global_key": f"frame_{index:05d}.jpg",
            "external_id": f"frame_{index:05d}.jpg",
            "row_data": "",
            "details": {
                "dataset_id": "clhq7owrj06yw07wk27z699yb",
                "dataset_name": "street scenes",
                "created_at": "2023-05-16T11:50:48.000+00:00",
                "updated_at": "2023-05-16T11:50:48.000+00:00",
                "last_activity_at": "2023-10-02T07:17:01.000+00:00",
                "created_by": "uploader@example.org",
            },
        },
        "media_attributes": {"height": height, "width": width, "mime_type": "image/jpeg", "exif_rotation": "1"},
        "attachments": [],
        "metadata_fields": [],
        "projects": {PROJECT: {"name": "street scenes", "labels": [label], "project_details": _details(rng)}},
    }


def _box(rng: random.Random, width: int, height: int) -> dict[str, Any]:
    w, h = rng.randint(8, width // 3), rng.randint(8, height // 3)
    name = rng.choice(CLASSES)
    return {
        "feature_id": _cuid(rng),
        "feature_schema_id": f"clh957zf{CLASSES.index(name)}013h07yv950uckor",
        "name": name,
        "value": name,
        "annotation_kind": "ImageBoundingBox",
        "classifications": [],
        "bounding_box": {
            "top": float(rng.randint(0, height - h)),
            "left": float(rng.randint(0, width - w)),
            "height": float(h),
            "width": float(w),
        },
    }


def _details(rng: random.Random) -> dict[str, Any]:
    task = str(uuid.UUID(int=rng.getrandbits(128)))
    return {
        "ontology_id": "clh94tc2h077t072w67hfb42z",
        "task_name": "Done",
        "batch_id": str(uuid.UUID(int=rng.getrandbits(128))),
        "batch_name": "batch_1",
        "workflow_status": "DONE",
        "priority": 5,
        "consensus_expected_label_count": 1,
        "workflow_history": [
            {"action": "Approve", "created_at": "2023-07-25T13:00:51.963+00:00", "created_by": "reviewer@example.org"},
            {"action": "Move", "created_at": "2023-07-24T13:16:59.552+00:00", "next_task_id": task},
        ],
    }


def _copy(row: dict[str, Any], copy: int, index: int) -> dict[str, Any]:
    """The row as copy number `copy`: new data row id, global key and storage URL; the labels are shared."""
    name = f"frame_{copy * BASE_ROWS + index:06d}.jpg"
    storage = uuid.UUID(int=(copy << 32) | index)
    data_row = {
        **row["data_row"],
        "id": f"{row['data_row']['id'][:-6]}{copy:03d}{index:03d}",
        "global_key": name,
        "external_id": name,
        "row_data": f"https://storage.labelbox.com/{ORG}%2F{storage}-{name}?Expires=1697187460210"
        "&KeyName=labelbox-assets-key-3&Signature=lyYD-qgG3HRgj7T89BLQh_oVYqw",
    }
    return {**row, "data_row": data_row}
