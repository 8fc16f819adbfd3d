"""One geometry and id policy for `transferline convert` and `transferline validate-coco` (issue 16, items 3 and 7):
the same COCO file gets the same verdict from both commands, and --repair changes what convert changes."""

from __future__ import annotations

import contextlib
import io
import json
import math
from pathlib import Path

import pytest
from pycocotools import mask as rle_tools
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from shapely.geometry import Polygon

from transferline.cli import EXIT_FAILED, main
from transferline_converter.checks import check_coco
from transferline_converter.dataset import Problems
from transferline_converter.validate import validate_file

WIDTH, HEIGHT = 640, 480


def crossed_outline() -> list[float]:
    """A val2017-shaped person outline: 40 two-decimal points, two neighbours drawn in the wrong order, so the
    ring crosses itself in a sliver loop (as the self-intersecting polygons of val2017 do)."""
    points = [
        (round(320 + 90 * math.cos(2 * math.pi * k / 40), 2), round(240 + 150 * math.sin(2 * math.pi * k / 40), 2))
        for k in range(40)
    ]
    points[11], points[12] = points[12], points[11]
    return [c for point in points for c in point]


BOW_TIE = [100.0, 100.0, 200.0, 200.0, 200.0, 100.0, 100.0, 200.0]  # two triangles or a square? nobody can say
TRIANGLE = [100.0, 100.0, 200.0, 100.0, 200.0, 200.0]


def annotation(ident: int, image_id: int, rings: list[list[float]]) -> dict:
    """As COCO writes one: the bbox is the rings' bounds, the area pycocotools' raster area of their mask."""
    xs, ys = [x for ring in rings for x in ring[0::2]], [y for ring in rings for y in ring[1::2]]
    area = float(rle_tools.area(rle_tools.merge(rle_tools.frPyObjects(rings, HEIGHT, WIDTH))))
    bbox = [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]
    return {"id": ident, "image_id": image_id, "category_id": 1, "segmentation": rings, "bbox": bbox, "area": area}


def coco_file(folder: Path, rings: list[list[float]], image_ids=(1, 2, 3), annotation_ids=(1, 2, 3)) -> Path:
    """Three images of one annotation each: the first's polygons are `rings`, the others' a clean square."""
    square = [10.0, 10.0, 60.0, 10.0, 60.0, 60.0, 10.0, 60.0]
    images = [
        {"id": i, "file_name": f"{n:012d}.jpg", "width": WIDTH, "height": HEIGHT} for n, i in enumerate(image_ids)
    ]
    annotations = [
        {**annotation(ident, image, held), "iscrowd": 0}
        for ident, image, held in zip(annotation_ids, image_ids, [rings, [square], [square]], strict=True)
    ]
    path = folder / "instances_val2017.json"
    path.write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "person"}]})
    )
    return path


def convert(path: Path, out: Path, *extra: str) -> tuple[int, dict, dict]:
    """The exit code, coco.json (when written) and report.json of `transferline convert`."""
    code = main(["convert", str(path), "--out", str(out), *extra])
    coco = json.loads((out / "coco.json").read_text()) if code == 0 else {}
    return code, coco, json.loads((out / "report.json").read_text())


def validate(path: Path, capsys, *extra: str) -> tuple[int, set[tuple[str, str]]]:
    """The exit code of `transferline validate-coco` and the (code, severity) of each problem it found."""
    capsys.readouterr()
    code = main(["validate-coco", str(path), "--json", *extra])
    found = {(p["code"], p["severity"]) for p in json.loads(capsys.readouterr().out)}
    return code, found


def polygon(ring: list[float]) -> Polygon:
    return Polygon(list(zip(ring[0::2], ring[1::2], strict=True)))


def area(annotation: dict) -> float:
    """The area its polygons cover (not its `area` field, which --repair keeps when it is close)."""
    return sum(polygon(ring).area for ring in annotation["segmentation"])


def severities(report: dict) -> set[tuple[str, str]]:
    return {(p["code"], p["severity"]) for p in report["problems"]["items"]}


def test_a_sliver_crossing_is_repaired_with_a_warning_by_both_commands(tmp_path: Path, capsys) -> None:
    path = coco_file(tmp_path, [crossed_outline()])
    drawn = polygon(crossed_outline())
    assert not drawn.is_valid  # the fixture is what it claims to be

    code, found = validate(path, capsys)
    assert code == 0 and ("self-intersecting", "warning") in found and not any(s == "error" for _, s in found)

    code, coco, report = convert(path, tmp_path / "out")
    assert code == 0 and ("self-intersecting", "warning") in severities(report)
    kept = [a for a in coco["annotations"] if a["image_id"] == 1]
    assert len(kept) == 1 and all(polygon(ring).is_valid for ring in kept[0]["segmentation"])
    assert area(kept[0]) == pytest.approx(drawn.area, rel=0.01) == kept[0]["area"]

    repaired = tmp_path / "repaired.json"
    assert validate(path, capsys, "--repair", "--out", str(repaired))[0] == 0
    after = Problems()
    check_coco(json.loads(repaired.read_text()), after)
    assert after.count("error") == 0 and "self-intersecting" not in after.counts
    ours = json.loads(repaired.read_text())["annotations"][0]
    assert area(ours) == pytest.approx(area(kept[0]))  # --repair made the shape convert made


def test_a_bow_tie_is_an_error_in_both_commands_and_neither_guesses_its_shape(tmp_path: Path, capsys) -> None:
    path = coco_file(tmp_path, [BOW_TIE])
    code, found = validate(path, capsys)
    assert code == EXIT_FAILED and ("self-intersecting", "error") in found
    assert ("area-mismatch", "warning") not in found  # nor is its bbox's area taken for the shape's

    code, _, report = convert(path, tmp_path / "out")
    assert code == EXIT_FAILED and ("self-intersecting", "error") in severities(report)  # 1 row in 3 is over 10 %
    message = next(p["message"] for p in report["problems"]["items"] if p["code"] == "self-intersecting")
    assert "5000 px² against 0 as drawn" in message and "redraw it" in message

    _, coco, _ = convert(path, tmp_path / "tolerant", "--max-error-fraction", "0.5")
    repaired = tmp_path / "repaired.json"
    result = validate_file(path, repair=True, out=repaired)  # what `validate-coco --repair` runs
    assert result.exit_code == 0 and result.repairs is not None
    assert result.repairs.severities["self-intersecting"] == "warning"  # a change made, as every repair is
    dropped = {1} - {a["image_id"] for a in json.loads(repaired.read_text())["annotations"]}
    assert dropped == {1} - {a["image_id"] for a in coco["annotations"]} == {1}  # both drop the object


def test_a_ring_without_area_is_dropped_alone_by_convert_and_repair(tmp_path: Path, capsys) -> None:
    path = coco_file(tmp_path, [TRIANGLE, [300.0, 300.0, 310.0, 310.0, 320.0, 320.0]])  # a triangle and a line
    _, coco, report = convert(path, tmp_path / "out")
    assert ("degenerate-shape", "warning") in severities(report)
    repaired = tmp_path / "repaired.json"
    validate(path, capsys, "--repair", "--out", str(repaired))
    ours = json.loads(repaired.read_text())["annotations"][0]
    theirs = next(a for a in coco["annotations"] if a["image_id"] == 1)
    assert len(ours["segmentation"]) == len(theirs["segmentation"]) == 1
    assert area(ours) == area(theirs) == polygon(TRIANGLE).area


def test_image_id_0_is_fine_for_both_commands(tmp_path: Path, capsys) -> None:
    path = coco_file(tmp_path, [TRIANGLE], image_ids=(0, 1, 2))
    code, found = validate(path, capsys)
    assert code == 0 and not any(c == "bad-id" for c, _ in found)
    code, _, report = convert(path, tmp_path / "out")
    assert code == 0 and not any(c == "bad-id" for c, _ in severities(report))

    repaired = tmp_path / "repaired.json"
    assert validate(path, capsys, "--repair", "--out", str(repaired))[0] == 0
    assert [image["id"] for image in json.loads(repaired.read_text())["images"]] == [0, 1, 2]  # kept as they are


def test_annotation_id_0_is_an_error_to_check_and_a_warning_to_convert_which_renumbers(tmp_path: Path, capsys) -> None:
    path = coco_file(tmp_path, [TRIANGLE], annotation_ids=(0, 1, 2))
    code, found = validate(path, capsys)
    assert code == EXIT_FAILED and ("bad-id", "error") in found
    code, coco, report = convert(path, tmp_path / "out")
    assert code == 0 and ("bad-id", "warning") in severities(report)
    assert sorted(a["id"] for a in coco["annotations"]) == [1, 2, 3]


def average_precision(image_id: int, annotation_id: int) -> float:
    """pycocotools' bbox AP for one ground truth found exactly."""
    truth = COCO()
    truth.dataset = {
        "images": [{"id": image_id, "width": 100, "height": 100, "file_name": "a.jpg"}],
        "annotations": [
            {
                "id": annotation_id,
                "image_id": image_id,
                "category_id": 1,
                "bbox": [10, 10, 30, 30],
                "area": 900,
                "iscrowd": 0,
            }
        ],
        "categories": [{"id": 1, "name": "person"}],
    }
    with contextlib.redirect_stdout(io.StringIO()):
        truth.createIndex()
        found = truth.loadRes([{"image_id": image_id, "category_id": 1, "bbox": [10, 10, 30, 30], "score": 0.9}])
        scoring = COCOeval(truth, found, "bbox")
        scoring.evaluate()
        scoring.accumulate()
        scoring.summarize()
    return float(scoring.stats[0])


def test_the_id_rule_is_what_pycocotools_does() -> None:
    assert average_precision(image_id=0, annotation_id=1) == pytest.approx(1.0)
    assert average_precision(image_id=1, annotation_id=0) == 0.0  # COCOeval takes id 0 for "not matched"
