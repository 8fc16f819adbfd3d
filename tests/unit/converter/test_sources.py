"""Zipped exports: what a zip would unpack to is judged from its directory before anything is inflated, each member
is read only up to its share of the caps, and broken, encrypted or exotic zips are refused naming the member.
Pictures inside an export (a zip, a folder, a folder in the store) are read only when asked."""

from __future__ import annotations

import io
import zipfile

import pytest

from transferline.errors import InvalidInput
from transferline.store.filesystem import FilesystemStore
from transferline_converter import sources
from transferline_converter.sources import ExportSource

LOCAL, CENTRAL = b"PK\x03\x04", b"PK\x01\x02"  # a member's local header, its central directory entry


def zipped(files: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def set_field(data: bytes, signature: bytes, offset: int, value: int, size: int = 2) -> bytes:
    """`value` written at `offset` into every header with `signature` (little-endian, as zip stores numbers)."""
    out = bytearray(data)
    at = out.find(signature)
    while at >= 0:
        out[at + offset : at + offset + size] = value.to_bytes(size, "little")
        at = out.find(signature, at + 4)
    return bytes(out)


def claiming(data: bytes, unpacked: int) -> bytes:
    """The zip with every member's directory entry claiming `unpacked` bytes (the data itself unchanged)."""
    return set_field(data, CENTRAL, 24, unpacked, size=4)


def refusal(data: bytes) -> str:
    with pytest.raises(InvalidInput) as caught:
        ExportSource.from_bytes("export.zip", data)
    message = str(caught.value)
    assert message.startswith("export export.zip") and "\n" not in message
    return message


def test_members_are_read_with_their_names() -> None:
    source = ExportSource.from_bytes("export.zip", zipped({"labels/a.txt": b"0 0.5 0.5 0.1 0.1", "classes.txt": b"x"}))
    assert [(f.name, f.data) for f in source.files] == [("classes.txt", b"x"), ("labels/a.txt", b"0 0.5 0.5 0.1 0.1")]


def test_a_member_too_large_is_refused_from_the_directory_before_inflating() -> None:
    """The member holds 10 bytes; its directory entry claims 300 MiB: refused on the claim alone."""
    data = claiming(zipped({"export.ndjson": b"0123456789"}), 300 * 2**20)
    assert "member export.ndjson unpacks to 300 MiB, over the 256 MiB cap" in refusal(data)


def test_members_together_too_large_are_refused_from_the_directory() -> None:
    data = claiming(zipped({f"{i}.xml": b"<a/>" for i in range(3)}), 200 * 2**20)
    assert "the zip unpacks to 600 MiB, over the 512 MiB cap" in refusal(data)


def test_a_member_that_inflates_past_what_its_directory_claims_is_refused() -> None:
    """The directory says 1,000 bytes (under the caps); the data inflates to 100,000: never more than claimed is
    read (zipfile stops at the claim and its checksum then fails)."""
    data = set_field(zipped({"export.ndjson": b"\n" * 100_000}), CENTRAL, 24, 1000, size=4)
    assert "member export.ndjson does not unpack" in refusal(data)


def test_reading_stops_past_a_members_limit() -> None:
    """Were a directory to understate a member, reading would still stop one byte past what is left to it."""
    archive = zipfile.ZipFile(io.BytesIO(zipped({"export.ndjson": b"x" * 10})))
    assert sources._read_member("export.zip", archive, archive.infolist()[0], 10) == b"x" * 10
    with pytest.raises(InvalidInput, match=r"member export\.ndjson unpacks past the 9 bytes left to it"):
        sources._read_member("export.zip", archive, archive.infolist()[0], 9)


def test_the_caps_are_exact(monkeypatch) -> None:
    monkeypatch.setattr(sources, "MAX_UNPACKED_BYTES", 150)
    monkeypatch.setattr(sources, "MAX_MEMBER_BYTES", 100)
    assert len(ExportSource.from_bytes("export.zip", zipped({"a": b"x" * 100, "b": b"y" * 50})).files) == 2
    too_big = refusal(zipped({"export.ndjson": b"x" * 101}))
    assert "member export.ndjson unpacks to 101 bytes, over the 100 bytes cap" in too_big
    assert "the zip unpacks to 151 bytes, over the 150 bytes cap" in refusal(zipped({"a": b"x" * 100, "b": b"y" * 51}))


def test_an_encrypted_member_is_refused() -> None:
    data = set_field(set_field(zipped({"export.ndjson": b"{}"}), LOCAL, 6, 0x1), CENTRAL, 8, 0x1)
    assert "member export.ndjson is encrypted" in refusal(data)


def test_an_unknown_compression_method_is_refused() -> None:
    data = set_field(set_field(zipped({"export.ndjson": b"{}"}), LOCAL, 8, 99), CENTRAL, 10, 99)
    assert "member export.ndjson uses compression method 99 (WinZip AES encryption)" in refusal(data)


def test_a_name_flagged_utf8_that_is_not_is_refused() -> None:
    data = zipped({"é.ndjson": b"{}"}).replace("é".encode(), b"\xff\xfe")  # zipfile set the UTF-8 flag for é
    assert "a member name is flagged UTF-8 but is not (byte 0)" in refusal(data)


def test_corrupt_deflate_data_is_refused_naming_the_member() -> None:
    data = zipped({"export.ndjson": b"a fairly long line of text, " * 50})
    start = data.index(LOCAL) + 30 + len("export.ndjson")
    broken = data[:start] + b"\xff" * 16 + data[start + 16 :]
    assert "member export.ndjson does not unpack" in refusal(broken)


def test_pictures_in_a_zip_are_read_when_asked_and_count_against_no_cap(monkeypatch) -> None:
    """A Roboflow zip carries its images: they are not inflated up front, so only the labels meet the cap."""
    monkeypatch.setattr(sources, "MAX_UNPACKED_BYTES", 150)
    picture = bytes(range(256)) * 4
    source = ExportSource.from_bytes("export.zip", zipped({"train/images/a.jpg": picture, "labels/a.txt": b"0 1"}))
    image = next(f for f in source.files if f.name == "train/images/a.jpg")
    assert image.head(16) == picture[:16] and image.data == picture
    assert "the zip unpacks to 151 bytes" in refusal(zipped({"a.jpg": picture, "a.txt": b"x" * 151}))


def test_a_picture_is_still_held_to_the_member_cap(monkeypatch) -> None:
    monkeypatch.setattr(sources, "MAX_MEMBER_BYTES", 100)
    [image] = ExportSource.from_bytes("export.zip", zipped({"a.png": b"x" * 80})).files
    assert image.data == b"x" * 80
    assert "member a.png unpacks to 101 bytes, over the 100 bytes cap" in refusal(zipped({"a.png": b"x" * 101}))
    understated = set_field(zipped({"a.png": b"x" * 101}), CENTRAL, 24, 100, size=4)
    [broken] = ExportSource.from_bytes("export.zip", understated).files  # its claim passes; reading it does not
    with pytest.raises(InvalidInput, match=r"member a\.png does not unpack"):
        broken.head(8)


def test_a_folder_export_reads_its_pictures_only_when_asked(tmp_path) -> None:
    (tmp_path / "export" / "images").mkdir(parents=True)
    (tmp_path / "export" / "classes.txt").write_bytes(b"car\n")
    picture = tmp_path / "export" / "images" / "a.jpg"
    picture.write_bytes(b"first version")
    (tmp_path / "export" / ".DS_Store").write_bytes(b"\0")
    source = ExportSource.from_path(tmp_path / "export")
    assert [f.name for f in source.files] == ["classes.txt", "images/a.jpg"]
    picture.write_bytes(b"changed later")  # read when asked, not when the export was listed
    assert source.files[1].head(7) == b"changed" and source.files[0].data == b"car\n"


def test_a_stored_folder_export_meets_the_cap_without_its_pictures(tmp_path, monkeypatch) -> None:
    store = FilesystemStore(tmp_path)
    store.ensure_bucket()
    prefix = "jobs/j/labels/raw/export/"
    for name, data in {"a.jpg": b"p" * 500, "labels/a.txt": b"0 .5 .5 .1 .1", "._a.txt": b"litter"}.items():
        store.put_bytes(prefix + name, data)
    monkeypatch.setattr(sources, "MAX_UNPACKED_BYTES", 100)
    source = ExportSource.from_store("export", store, list(store.list(prefix)), prefix)
    assert [(f.name, f.data) for f in source.files] == [("a.jpg", b"p" * 500), ("labels/a.txt", b"0 .5 .5 .1 .1")]
    store.put_bytes(prefix + "big.txt", b"x" * 100)
    with pytest.raises(InvalidInput, match=r"export 'export' holds more than 100 bytes of files besides images"):
        ExportSource.from_store("export", store, list(store.list(prefix)), prefix)
