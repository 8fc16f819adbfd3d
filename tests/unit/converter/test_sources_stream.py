"""A stored single-file export that is JSON text is streamed: the NDJSON reader goes line by line and the sniff reads
the file's head only, giving what they gave when the whole file was held (the references below are that code);
whole-file formats, zips and folders still read whole files."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from transferline.store.filesystem import FilesystemStore
from transferline_converter import job
from transferline_converter.dataset import Problems, Where
from transferline_converter.readers import ReadOptions, common, detect
from transferline_converter.readers import labelbox_ndjson as ndjson
from transferline_converter.readers.common import MAX_LINE_BYTES, loads, ndjson_lines
from transferline_converter.sources import ExportSource

KEY = "jobs/j/labels/raw/export.ndjson"
ROW = {"data_row": {"id": "r1", "external_id": "a.jpg", "row_data": "https://x.test/a.jpg"}, "projects": {}}
LINE = json.dumps(ROW).encode()
BOM = b"\xef\xbb\xbf"


def whole_ndjson_lines(data: bytes, problems: Problems, limit: int = MAX_LINE_BYTES) -> Iterator[tuple[str, bytes]]:
    """ndjson_lines as it was, over the whole file held in memory."""
    for number, line in enumerate(io.BytesIO(data), start=1):
        if line.isspace():
            continue
        if len(line) > limit:
            message = f"line is {len(line) / 2**20:.0f} MiB, over the 16 MiB limit"
            problems.error("malformed-row", message, Where(f"line {number}"))
            continue
        yield f"line {number}", line


def whole_sniff(data: bytes) -> bool:
    """labelbox_ndjson.sniff as it was, over the whole file held in memory."""
    start, line = 0, b""
    while start < len(data):
        end = data.find(b"\n", start)
        end = len(data) if end < 0 else end
        if data[start:end].strip():
            line = data[start:end]
            break
        start = end + 1
    if len(line) > MAX_LINE_BYTES:
        return line.lstrip().startswith(b"{") and b'"data_row"' in line[:65536]
    try:
        value = loads(line.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return False
    return isinstance(value, dict) and "data_row" in value


def stored(tmp_path: Path, data: bytes, key: str = KEY) -> tuple[FilesystemStore, ExportSource]:
    store = FilesystemStore(tmp_path / "store")
    store.put_bytes(key, data)
    return store, ExportSource.from_stored_file(key.rsplit("/", 1)[1], store, key)


def streamed_lines(tmp_path: Path, data: bytes) -> tuple[list[tuple[str, bytes]], list[Any]]:
    _, source = stored(tmp_path, data)
    problems = Problems()
    return list(ndjson_lines(source.files[0], problems)), problems.items


def held_lines(data: bytes, limit: int = MAX_LINE_BYTES) -> tuple[list[tuple[str, bytes]], list[Any]]:
    problems = Problems()
    return list(whole_ndjson_lines(data, problems, limit)), problems.items


def long_line(size: int, start: bytes = b'{"data_row": {"id": "big"}, "pad": "', fill: bytes = b"x") -> bytes:
    """A line of `size` bytes (no newline), JSON while it is held whole."""
    return start + fill * (size - len(start) - 2) + b'"}'


SHORT_CASES = {
    "plain": LINE + b"\n" + LINE + b"\n",
    "a byte-order mark": BOM + LINE + b"\n" + LINE + b"\n",
    "blank lines": b"\n\n" + LINE + b"\n   \t\n\n" + LINE + b"\n\n",
    "CRLF": LINE + b"\r\n" + LINE + b"\r\n\r\n",
    "a last line without its newline": LINE + b"\n" + LINE,
    "a broken line": LINE + b"\n{not json\n" + LINE + b"\n",
    "only blank space": b"\n \r\n\t\n",
    "empty": b"",
    "a bare CR inside a line": LINE[:-1] + b', "x": "a\rb"}\n' + LINE,
}


@pytest.mark.parametrize("data", SHORT_CASES.values(), ids=SHORT_CASES.keys())
def test_streamed_lines_and_sniff_are_what_the_whole_file_gave(tmp_path: Path, data: bytes) -> None:
    assert streamed_lines(tmp_path, data) == held_lines(data)
    _, source = stored(tmp_path, data)
    assert ndjson.sniff(source) is whole_sniff(data)


@pytest.mark.parametrize(
    "size", [MAX_LINE_BYTES - 1, MAX_LINE_BYTES, MAX_LINE_BYTES + 1, MAX_LINE_BYTES + 2, 2 * MAX_LINE_BYTES + 5]
)
@pytest.mark.parametrize("newline", [b"\n", b""], ids=["newline", "last"])
def test_a_line_about_the_limit_is_judged_as_before(tmp_path: Path, size: int, newline: bytes) -> None:
    """The oversized line (size counts its newline for the reader, not for the sniff) comes first, then after a
    good line, so both the sniff and the row count see it."""
    for data in (long_line(size) + newline, LINE + b"\n" + long_line(size) + newline):
        assert streamed_lines(tmp_path, data) == held_lines(data)
        _, source = stored(tmp_path, data)
        assert ndjson.sniff(source) is whole_sniff(data)


@pytest.mark.parametrize(
    "first",
    [
        b" " * (MAX_LINE_BYTES + 10) + b"\n",  # a blank line too long to hold: skipped, as any blank line
        b" " * (MAX_LINE_BYTES + 10) + LINE + b"\n",  # blank for longer than the limit, then a row
        b" " * 70_000 + long_line(MAX_LINE_BYTES + 10) + b"\n",  # its "data_row" past the first 64 KiB
        b"[" + b" " * (MAX_LINE_BYTES + 10) + b"]\n",  # not an object
    ],
    ids=["blank", "blank-then-row", "data_row-late", "array"],
)
def test_an_oversized_line_of_blank_space_is_judged_as_before(tmp_path: Path, first: bytes) -> None:
    data = first + LINE + b"\n"
    assert streamed_lines(tmp_path, data) == held_lines(data)
    _, source = stored(tmp_path, data)
    assert ndjson.sniff(source) is whole_sniff(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    parts=st.lists(st.sampled_from([b"{}", b"ab", b" ", b"\t", b"\r", b"\n", b"\r\n", BOM, b"x" * 9]), max_size=30),
    limit=st.integers(1, 24),
)
def test_streamed_lines_match_the_whole_file_for_any_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parts: list[bytes], limit: int
) -> None:
    """With the limit made small, every way a line can fall about it (and about the chunks a long one is read in)."""
    monkeypatch.setattr(common, "MAX_LINE_BYTES", limit)
    monkeypatch.setattr(common, "_LONG_LINE_CHUNK", 3)
    data = b"".join(parts)
    assert streamed_lines(tmp_path, data) == held_lines(data, limit)


def test_the_streamed_export_reads_the_rows_the_held_one_read(tmp_path: Path) -> None:
    rows = [dict(ROW, data_row={**ROW["data_row"], "id": f"r{i}", "external_id": f"{i}.jpg"}) for i in range(5)]
    data = (
        BOM + b"\r\n".join(json.dumps(row).encode() for row in rows) + b"\n\n{broken\n" + long_line(MAX_LINE_BYTES + 9)
    )
    _, streamed = stored(tmp_path, data)
    held = ExportSource.from_bytes("export.ndjson", data)
    results = []
    for source in (streamed, held):
        assert detect(source) == ndjson.FORMAT
        problems = Problems()
        results.append((ndjson.read(source, ReadOptions(), problems), problems.items))
    assert results[0] == results[1]
    assert [p.row for p in results[0][1]] == ["line 7", "line 8"]


def test_a_stored_ndjson_export_is_never_read_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store, source = stored(tmp_path, LINE + b"\n" + LINE + b"\n")
    monkeypatch.setattr(FilesystemStore, "get_bytes", lambda *_: pytest.fail("read whole"))
    monkeypatch.setattr(FilesystemStore, "open", lambda *_: pytest.fail("opened unbuffered"))
    problems = Problems()
    assert len(ndjson.read(source, ReadOptions(), problems).images) == 2
    assert len(job.read_export(store, "j", "export.ndjson").files) == 1


def test_a_stored_json_file_is_read_whole_when_a_reader_needs_all_of_it(tmp_path: Path) -> None:
    data = b' \n[{"ID": "a", "Label": {}, "Labeled Data": "https://x.test/a.jpg"}]'
    _, source = stored(tmp_path, data, "jobs/j/labels/raw/export.json")
    file = source.files[0]
    assert (file.head(4), file.data, file.text()) == (data[:4], data, data.decode())
    assert detect(source) == "labelbox-json"


def test_a_stored_zip_is_still_read_as_its_members(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("export.ndjson", LINE + b"\n")
        archive.writestr("notes.txt", b"x")
    store, _ = stored(tmp_path, buffer.getvalue(), "jobs/j/labels/raw/export.zip")
    source = job.read_export(store, "j", "export.zip")
    assert [(f.name, f.data) for f in source.files] == [("export.ndjson", LINE + b"\n"), ("notes.txt", b"x")]


def test_a_stored_file_that_is_not_json_text_is_held_as_before(tmp_path: Path) -> None:
    data = b"<annotations></annotations>"
    store, _ = stored(tmp_path, data, "jobs/j/labels/raw/export.xml")
    file = job.read_export(store, "j", "export.xml").files[0]
    assert (file.open().read(), file.data) == (data, data)


def test_a_stored_folder_export_is_still_read(tmp_path: Path) -> None:
    store = FilesystemStore(tmp_path / "store")
    store.put_bytes("jobs/j/labels/raw/yolo/classes.txt", b"cat\n")
    store.put_bytes("jobs/j/labels/raw/yolo/labels/a.txt", b"0 0.5 0.5 0.1 0.1\n")
    source = job.read_export(store, "j", "yolo")
    assert [(f.name, f.data) for f in source.files] == [
        ("classes.txt", b"cat\n"),
        ("labels/a.txt", b"0 0.5 0.5 0.1 0.1\n"),
    ]
    assert source.files[0].open().read() == b"cat\n"


class Tracked(io.BytesIO):
    """A stream that remembers how far it was read when closed."""

    def close(self) -> None:
        self.stopped_at = self.tell()
        super().close()


def test_the_sniff_reads_a_long_first_line_no_further_than_its_head(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A minified JSON file (a COCO export) is one long line: the sniff stops past the limit, not at the file's end."""
    data = b'{"images": [' + b'{"id": 1, "file_name": "a.jpg"}, ' * 1_000_000 + b"{}]}"
    store, _ = stored(tmp_path, data, "jobs/j/labels/raw/coco.json")
    opened: list[Tracked] = []
    monkeypatch.setattr(store, "open_buffered", lambda key: opened.append(Tracked(data)) or opened[-1])
    source = ExportSource.from_stored_file("coco.json", store, "jobs/j/labels/raw/coco.json")
    assert ndjson.sniff(source) is whole_sniff(data) is False
    assert len(opened) == 2 and opened[1].stopped_at == MAX_LINE_BYTES + 1 < len(data)
