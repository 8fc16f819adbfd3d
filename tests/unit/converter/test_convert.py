"""convert() takes its exports as a stream and lets each go once read, and hands the rows to the build one at a
time, letting each go once built: nothing is lost on the way, and a broken row in the middle is still named."""

from __future__ import annotations

import gc
import json
import weakref
from collections.abc import Iterator
from typing import Any

from transferline_converter.build import BuildOptions, Built
from transferline_converter.convert import ConvertOptions, _groups, convert
from transferline_converter.dataset import ImageIds, LabeledImage
from transferline_converter.images import ImageIndex, Match
from transferline_converter.masks import MaskSource
from transferline_converter.sources import ExportSource
from transferline_converter.splits import SplitPlan, near_duplicate_groups

OPTIONS = ConvertOptions(build=BuildOptions(require_images=False))
MATCHED = ConvertOptions()  # every row is matched against the stored images (none here: each is an error)


def ndjson(name: str, rows: int, broken_at: int | None = None) -> ExportSource:
    """`rows` Export v2 rows of one box each, named `<name>-<n>.jpg`; line `broken_at` (1-based) is cut short."""
    lines = []
    for n in range(1, rows + 1):
        box = {"top": 1, "left": 2, "height": 3, "width": 4}
        obj = {"name": "car", "annotation_kind": "ImageBoundingBox", "bounding_box": box}
        label: dict[str, Any] = {"annotations": {"objects": [obj]}}
        row = {
            "data_row": {"id": f"{name}{n}", "external_id": f"{name}-{n}.jpg"},
            "media_attributes": {"width": 64, "height": 48},
            "projects": {"p": {"labels": [label]}},
        }
        lines.append(json.dumps(row)[: -5 if n == broken_at else None])
    return ExportSource.from_bytes(f"{name}.ndjson", ("\n".join(lines) + "\n").encode())


class WatchedIndex(ImageIndex):
    """No stored images; at each row's match it notes how many exports and rows are still alive."""

    def __init__(self, exports: list[weakref.ref[ExportSource]]) -> None:
        super().__init__([])
        self.exports = exports
        self.alive: list[tuple[int, int]] = []  # (exports alive, rows alive) at each match

    def match(self, ids: ImageIds) -> Match:
        rows = sum(1 for found in gc.get_objects() if type(found) is LabeledImage)
        self.alive.append((sum(ref() is not None for ref in self.exports), rows))
        return super().match(ids)


def streamed(sources: list[ExportSource], exports: list[weakref.ref[ExportSource]]) -> Iterator[ExportSource]:
    """The sources one at a time, none held here once given (as the stage reads them from its store)."""
    sources.reverse()
    while sources:
        source = sources.pop()
        exports.append(weakref.ref(source))
        yield source
        del source


def test_exports_and_rows_are_let_go_as_the_conversion_goes_and_nothing_is_lost() -> None:
    exports: list[weakref.ref[ExportSource]] = []
    index = WatchedIndex(exports)
    sources = [ndjson("a", 30), ndjson("b", 20)]
    conversion = convert(streamed(sources, exports), index, MaskSource(), MATCHED)
    assert conversion.counters["rows"] == 50 and len(index.alive) == 50
    assert all(alive_exports == 0 for alive_exports, _ in index.alive)
    rows_alive = [rows for _, rows in index.alive]
    assert rows_alive[0] == 50 and rows_alive[-1] <= 2 and rows_alive == sorted(rows_alive, reverse=True)


def test_rows_of_streamed_exports_all_reach_the_coco_in_order() -> None:
    conversion = convert(iter([ndjson("a", 30), ndjson("b", 20)]), ImageIndex([]), MaskSource(), OPTIONS)
    names = [image["file_name"] for image in conversion.coco["images"]]
    assert names == [f"a-{n}.jpg" for n in range(1, 31)] + [f"b-{n}.jpg" for n in range(1, 21)]
    assert len(conversion.coco["annotations"]) == 50 and conversion.report["exports"] == ["a.ndjson", "b.ndjson"]


def test_a_broken_line_in_the_middle_is_named_and_every_other_row_is_kept() -> None:
    conversion = convert(iter([ndjson("a", 40, broken_at=17)]), ImageIndex([]), MaskSource(), OPTIONS)
    names = [image["file_name"] for image in conversion.coco["images"]]
    assert names == [f"a-{n}.jpg" for n in range(1, 41) if n != 17]
    errors = [item for item in conversion.report["problems"]["items"] if item["severity"] == "error"]
    assert [(e["code"], e["row"]) for e in errors] == [("malformed-row", "line 17")]
    assert errors[0]["message"].startswith("not a JSON object")
    assert conversion.failure is None  # 1 of 40 is under the 10 % limit


def test_without_stored_images_each_image_is_a_group_as_the_near_duplicate_grouping_says() -> None:
    coco = {"images": [{"id": n} for n in range(1, 8)], "annotations": [], "categories": []}
    for bits in (4, -1):
        plan = SplitPlan({"train": 1.0}, near_duplicate_bits=bits)
        assert _groups(Built(coco, {}, {}), plan) == near_duplicate_groups([None] * 7, [None] * 7, bits)
