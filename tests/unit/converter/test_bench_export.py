"""The bench's Export v2 NDJSON has the shape it claims: 112 rows and 839 boxes per copy, every id, key and URL
unique across copies, and the sections a real `project.export()` row carries."""

from __future__ import annotations

import json

from bench import labelbox_v2


def test_copies_of_the_project_name_every_image_once():
    export = labelbox_v2.export(copies=3)
    rows = [json.loads(line) for line in export.data.splitlines()]

    assert (export.rows, export.boxes) == (len(rows), 3 * 839) == (3 * 112, 3 * 839)
    objects = [
        o
        for row in rows
        for label in row["projects"][labelbox_v2.PROJECT]["labels"]
        for o in label["annotations"]["objects"]
    ]
    assert len(objects) == export.boxes and {o["annotation_kind"] for o in objects} == {"ImageBoundingBox"}
    for key in ("id", "global_key", "external_id", "row_data"):
        assert len({row["data_row"][key] for row in rows}) == len(rows), key
    assert set(rows[0]) == {"data_row", "media_attributes", "attachments", "metadata_fields", "projects"}
    assert not rows[0]["data_row"]["row_data"].split("?")[0].endswith("/" + rows[0]["data_row"]["external_id"])
    assert labelbox_v2.export(copies=1).data == labelbox_v2.export(copies=1).data  # seeded
