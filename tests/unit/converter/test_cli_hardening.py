"""`transferline convert` on hostile input (issue 11 item 10): huge integers, overflowing floats, negative mask
sizes, odd zips, lone surrogates, non-finite split ratios and unusable --out paths end in exit 2 (bad arguments)
or exit 1 (too much bad input) with one line naming the file, row and field; never a traceback."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from transferline.cli import EXIT_FAILED, EXIT_USAGE, main

REPO = Path(__file__).resolve().parents[3]
HUGE = "7" * 5000  # past Python's 4300-digit limit for int()
OBJECTS = "projects.p.labels[0].annotations.objects[0]"


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def ndjson_row(obj: str = "", media: str = '{"width": 64, "height": 48}') -> str:
    """One Labelbox v2 row as text (so numbers can be written as no JSON library writes them)."""
    obj = obj or '{"name": "cup", "bounding_box": {"top": 1, "left": 2, "height": 3, "width": 4}}'
    return (
        f'{{"data_row": {{"id": "dr1", "external_id": "a.jpg"}}, "media_attributes": {media}, '
        f'"projects": {{"p": {{"labels": [{{"annotations": {{"objects": [{obj}]}}}}]}}}}}}\n'
    )


def coco(bbox: str = "[0, 0, 4, 4]", image_id: str = "1") -> str:
    return (
        f'{{"images": [{{"id": {image_id}, "file_name": "a.jpg", "width": 64, "height": 48}}], '
        f'"annotations": [{{"id": 1, "image_id": 1, "category_id": 1, "bbox": {bbox}, "area": 16, "iscrowd": 0}}], '
        '"categories": [{"id": 1, "name": "cup"}]}'
    )


def cvat(mask: str) -> str:
    return (
        '<annotations><version>1.1</version><image id="0" name="a.jpg" width="64" height="48">'
        f"{mask}</image></annotations>"
    )


def zipped(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return buffer.getvalue()


def set_field(data: bytes, signature: bytes, offset: int, value: int) -> bytes:
    out = bytearray(data)
    at = out.find(signature)
    while at >= 0:
        out[at + offset : at + offset + 2] = value.to_bytes(2, "little")
        at = out.find(signature, at + 4)
    return bytes(out)


def write(path: Path, content: str | bytes | dict[str, str]) -> Path:
    if isinstance(content, dict):  # a folder export
        for name, text in content.items():
            (path / name).parent.mkdir(parents=True, exist_ok=True)
            (path / name).write_text(text)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


ROW = ndjson_row()
ZIPPED = zipped("export.ndjson", ROW.encode())
# (export file name, its content, extra arguments, exit code, what the one error line must name; exit 1 lines
# must also name the export)
CASES: dict[str, tuple[str, Any, list[str], int, list[str]]] = {
    "coco-huge-bbox": ("e.json", coco(bbox=f"[{HUGE}, 0, 4, 4]"), [], 1, ["annotation id 1", "bbox[0]", "5000-digit"]),
    "coco-huge-id": ("e.json", coco(image_id=HUGE), [], 1, ["annotation id 1", "image_id"]),
    "ndjson-huge-int": (
        "e.ndjson",
        ndjson_row(f'{{"name": "cup", "bounding_box": {{"top": {HUGE}, "left": 2, "height": 3, "width": 4}}}}'),
        ["--format", "labelbox-ndjson"],
        1,
        ["line 1 (data row dr1)", f"{OBJECTS}.bounding_box.top", "5000-digit"],
    ),
    "ndjson-huge-width": (  # the only row unreadable: the export is refused (exit 2), naming its first problem
        "e.ndjson",
        ndjson_row(media=f'{{"width": {HUGE}, "height": 48}}'),
        ["--format", "labelbox-ndjson"],
        2,
        ["e.ndjson", "line 1 (data row dr1)", "media_attributes.width", "5000-digit"],
    ),
    "ndjson-bbox-10**400": (
        "e.ndjson",
        ndjson_row(f'{{"name": "cup", "bounding_box": {{"top": 1, "left": 1{"0" * 400}, "height": 3, "width": 4}}}}'),
        ["--format", "labelbox-ndjson"],
        1,
        ["line 1 (data row dr1)", f"{OBJECTS}.bounding_box.left", "too large for a float"],
    ),
    "yolo-huge-class": (
        "yolo",
        {"classes.txt": "cup\n", "labels/a.txt": f"{HUGE} 0.5 0.5 0.1 0.1\n"},
        [],
        1,
        ["labels/a.txt line 1", "field class", "of 5000 digits"],
    ),
    "cvat-negative-mask": (
        "annotations.xml",
        cvat('<mask label="m" rle="0,1" left="0" top="0" width="-1" height="-1"/>'),
        [],
        1,
        ["image a.jpg", "mask[0].width", "at least 1"],
    ),
    "cvat-mask-over-the-image": (
        "annotations.xml",
        cvat(f'<mask label="m" rle="0,{16384**2}" left="0" top="0" width="16384" height="16384"/>'),
        [],
        1,
        ["image a.jpg", "mask[0]", "larger than the 64x48 image"],
    ),
    "zip-name-not-utf8": (
        "e.zip",
        zipped("é.ndjson", ROW.encode()).replace("é".encode(), b"\xff\xfe"),
        [],
        2,
        ["e.zip", "flagged UTF-8"],
    ),
    "zip-encrypted": (
        "e.zip",
        set_field(set_field(ZIPPED, b"PK\x03\x04", 6, 1), b"PK\x01\x02", 8, 1),
        [],
        2,
        ["e.zip", "member export.ndjson is encrypted"],
    ),
    "zip-method-99": (
        "e.zip",
        set_field(set_field(ZIPPED, b"PK\x03\x04", 8, 99), b"PK\x01\x02", 10, 99),
        [],
        2,
        ["e.zip", "member export.ndjson uses compression method 99"],
    ),
    "split-overflowing-sum": ("e.ndjson", ROW, ["--split", "train=1e308,val=1e308"], 2, ["split", "finite sum"]),
    "split-infinite": ("e.ndjson", ROW, ["--split", "train=Infinity"], 2, ["split", "finite"]),
    "split-huge-int": ("e.ndjson", ROW, ["--split", f"train={HUGE}"], 2, ["split", "finite"]),
    "split-nan": ("e.ndjson", ROW, ["--split", "train=NaN,val=1"], 2, ["split", "finite"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_input_ends_in_one_line_naming_where(case: str, tmp_path: Path, capsys) -> None:
    name, content, extra, code, named = CASES[case]
    export = write(tmp_path / name, content)
    assert main(["convert", str(export), "--out", str(tmp_path / "out"), *extra]) == code
    err = capsys.readouterr().err
    [line] = err.splitlines()
    assert line.startswith("error: ") and "Traceback" not in err
    for part in named:
        assert part in line, (part, line)
    if code == EXIT_FAILED:  # too much bad input: the report is still written, and names the row too
        assert line.startswith(f"error: {export.name}: ")
        report = json.loads((tmp_path / "out" / "report.json").read_text())
        first = next(item for item in report["problems"]["items"] if item["severity"] == "error")
        assert first["row"] in line and first["field"] in line


@pytest.mark.parametrize(
    ("out", "named"),
    [
        (lambda tmp: write(tmp / "taken", "a file"), "is a file, not a folder"),
        (lambda tmp: write(tmp / "taken", "a file") / "sub", "is a file, not a folder"),
    ],
)
def test_an_out_path_that_cannot_be_a_folder_is_refused_naming_out(
    out: Callable[[Path], Path], named: str, tmp_path: Path, capsys
) -> None:
    export = write(tmp_path / "e.ndjson", ROW)
    target = out(tmp_path)
    assert main(["convert", str(export), "--out", str(target)]) == EXIT_USAGE
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"error: --out {target}: ") and named in line
    assert (tmp_path / "taken").read_text() == "a file"


def test_an_unwritable_out_folder_is_refused_naming_out(tmp_path: Path, capsys, monkeypatch) -> None:
    """Tests run as root here, so a read-only folder is played by a write that fails as one does."""
    import tempfile

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "TemporaryFile", refuse)
    export = write(tmp_path / "e.ndjson", ROW)
    assert main(["convert", str(export), "--out", str(tmp_path / "new" / "out")]) == EXIT_USAGE
    [line] = capsys.readouterr().err.splitlines()
    assert line == f"error: --out {tmp_path}/new/out: cannot write in {tmp_path} (Permission denied)"
    assert not (tmp_path / "new").exists()  # nothing is made before the run starts


def test_a_class_name_with_a_lone_surrogate_still_gets_its_report(tmp_path: Path) -> None:
    """JSON may spell a lone surrogate ("\\ud800"); coco.json was written, then report.md failed to encode."""
    row = ndjson_row('{"name": "cup\\ud800", "bounding_box": {"top": 1, "left": 2, "height": 3, "width": 4}}')
    export = write(tmp_path / "e.ndjson", row)
    out = tmp_path / "out"
    found = subprocess.run(
        [sys.executable, "-m", "transferline.cli", "convert", str(export), "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert found.returncode == 0 and "Traceback" not in found.stderr, found.stderr
    assert json.loads((out / "coco.json").read_text())["categories"][0]["name"] == "cup\ud800"
    assert "| cup\\ud800 | 1 | 1 |" in (out / "report.md").read_text(encoding="utf-8")
    assert "| cup\\ud800 | 1 | 1 |" in found.stdout


def test_validate_coco_repairs_a_file_whose_names_hold_a_lone_surrogate(tmp_path: Path, capsys) -> None:
    path = write(
        tmp_path / "c.json", coco().replace('"name": "cup"', '"name": "cup\\ud800"').replace('"area": 16', '"area": 1')
    )
    assert main(["validate-coco", str(path), "--repair", "--out", str(tmp_path / "fixed.json")]) == 0
    assert "Traceback" not in capsys.readouterr().err
    fixed = json.loads((tmp_path / "fixed.json").read_text(encoding="utf-8"))
    assert fixed["categories"][0]["name"] == "cup\ud800" and fixed["annotations"][0]["area"] == 16
