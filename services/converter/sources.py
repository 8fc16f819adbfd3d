"""An export as a set of named files: one file, a folder, or a zip archive, read without extracting to disk.

Pictures inside a folder or zip export (a Roboflow download carries its images) are read only when asked, and
mostly only their first bytes, for the header: they are not held in memory, and they count against no cap on
what an export may unpack to."""

from __future__ import annotations

import codecs
import io
import lzma
import zipfile
import zlib
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from transferline.errors import InvalidInput
from transferline.store import ObjectInfo, Store

MAX_MEMBERS = 200_000
# Caps on what a zip may unpack to (the files are held in memory while read): judged from the zip's directory
# first, then enforced while reading.
MAX_MEMBER_BYTES = 256 * 1024**2
MAX_UNPACKED_BYTES = 512 * 1024**2
JSON_HEAD_BYTES = 64 * 1024  # enough to see past the blank space a JSON file may start with
IMAGE_SUFFIXES = frozenset((".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"))
_ENCRYPTED = 0x1  # general purpose flag bit 0
_AES = 99  # WinZip's AES-encrypted members name this method
_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
Reader = Callable[[int], bytes]  # up to that many bytes of a file, from its start


class ExportFile:
    """One file: its path inside the export ('/'-separated; the file's own name for a single file) and its bytes:
    given; read when first asked for through `read` (pictures of a folder or zip); or, for a single stored file,
    opened as a stream through `opener`, so a reader that goes line by line never holds the whole file."""

    __slots__ = ("_data", "_opener", "_read", "name")

    def __init__(
        self,
        name: str,
        data: bytes | None = None,
        read: Reader | None = None,
        opener: Callable[[], BinaryIO] | None = None,
    ) -> None:
        if sum(way is not None for way in (data, read, opener)) != 1:
            raise ValueError("an ExportFile takes its bytes, a way to read them or a way to open them: one of them")
        self.name, self._data, self._read, self._opener = name, data, read, opener

    def __repr__(self) -> str:
        return f"ExportFile({self.name!r})"

    @property
    def data(self) -> bytes:
        if self._data is None:
            self._data = self._read_all() if self._opener is None else self._open_all()
        return self._data

    def head(self, size: int) -> bytes:
        """The first `size` bytes (an image's header is there), without reading the rest."""
        if self._data is not None:
            return self._data[:size]
        if self._opener is not None:
            with self._opener() as stream:
                return stream.read(size)
        assert self._read is not None
        return self._read(size)

    def open(self) -> BinaryIO:
        """The bytes as a stream (a line-wise reader iterates it), streamed from the store where they are not held."""
        return io.BytesIO(self.data) if self._opener is None or self._data is not None else self._opener()

    def _read_all(self) -> bytes:
        assert self._read is not None
        content = self._read(MAX_MEMBER_BYTES + 1)
        if len(content) > MAX_MEMBER_BYTES:
            raise InvalidInput(f"{self.name} is over the {_mib(MAX_MEMBER_BYTES)} one file of an export may be")
        return content

    def _open_all(self) -> bytes:
        assert self._opener is not None
        with self._opener() as stream:
            return stream.read()

    @property
    def suffix(self) -> str:
        return PurePosixPath(self.name).suffix.lower()

    def text(self) -> str:
        try:
            return self.data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InvalidInput(f"{self.name}: not UTF-8 text (byte {exc.start})") from None


class ExportSource:
    """The files of one export. Multi-file formats (VOC, YOLO) arrive as a folder or a zip; the rest as one file."""

    def __init__(self, name: str, files: list[ExportFile]) -> None:
        if not files:
            raise InvalidInput(f"export {name} holds no files")
        self.name = name
        self.files = sorted(files, key=lambda f: f.name)

    @classmethod
    def from_bytes(cls, name: str, data: bytes) -> ExportSource:
        if zipfile.is_zipfile(io.BytesIO(data)):
            return cls(name, list(_unzip(name, data)))
        return cls(name, [ExportFile(PurePosixPath(name).name, data)])

    @classmethod
    def from_stored_file(cls, name: str, store: Store, key: str) -> ExportSource:
        """One stored object (KeyError when there is none). JSON text, as an NDJSON export is, is opened again
        whenever read, so a line-wise reader streams it (read whole, a 40 MiB export cost 10,000 more page faults
        and 20 ms more CPU) and a whole-file one reads it once; anything else (a zip: its directory is at its end)
        is read whole now, as `from_bytes`."""
        with store.open_buffered(key) as stream:
            head = stream.read(JSON_HEAD_BYTES)
        if not _json_text(head):
            return cls.from_bytes(name, store.get_bytes(key))
        return cls(name, [ExportFile(PurePosixPath(name).name, opener=partial(store.open_buffered, key))])

    @classmethod
    def from_path(cls, path: Path) -> ExportSource:
        if path.is_dir():
            found = [p for p in sorted(path.rglob("*")) if p.is_file() and not _hidden(p.relative_to(path))]
            return cls(path.name, [_local_file(p.relative_to(path).as_posix(), p) for p in found])
        try:
            return cls.from_bytes(path.name, path.read_bytes())
        except OSError as exc:
            raise InvalidInput(f"cannot read export {path}: {exc.strerror}") from None

    @classmethod
    def from_store(cls, name: str, store: Store, found: list[ObjectInfo], prefix: str) -> ExportSource:
        """A folder export kept in a store under `prefix` (`found` is its listing): judged from the listing
        before anything is read; pictures are read only when asked."""
        files = [(path, info) for info in found if not _hidden(Path(path := info.key.removeprefix(prefix)))]
        held = sum(info.size for path, info in files if not _is_picture(path))
        if held > MAX_UNPACKED_BYTES:
            raise InvalidInput(f"export {name!r} holds more than {_mib(MAX_UNPACKED_BYTES)} of files besides images")
        return cls(name, [_stored_file(path, store, info.key) for path, info in files])

    @property
    def single(self) -> ExportFile | None:
        return self.files[0] if len(self.files) == 1 else None

    def one_file(self, what: str, *suffixes: str) -> ExportFile:
        """The file of a one-file export: the only file, or the only one with these suffixes in a folder or zip."""
        files = [self.single] if self.single else list(self.with_suffix(*suffixes))
        if len(files) != 1 or files[0] is None:
            raise InvalidInput(f"export {self.name}: a {what} is one {'/'.join(suffixes)} file, found {len(files)}")
        return files[0]

    def with_suffix(self, *suffixes: str) -> Iterator[ExportFile]:
        return (f for f in self.files if f.suffix in suffixes)

    def named(self, *names: str) -> ExportFile | None:
        """The first file whose own name (any folder) is one of `names`."""
        return next((f for f in self.files if PurePosixPath(f.name).name in names), None)


def _json_text(head: bytes) -> bool:
    """The file starts as JSON does: an object or array after any byte-order mark and blank space. A zip starts
    with its first member's header (PK), or a self-extracting program, never with these."""
    return head.removeprefix(codecs.BOM_UTF8).lstrip()[:1] in (b"{", b"[")


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") or part == "__MACOSX" for part in relative.parts)


def _unzip(name: str, data: bytes) -> Iterator[ExportFile]:
    """Members of a zip. What it would unpack to is judged from its directory before anything is inflated (zip
    bombs), and each member is then read up to its share of the caps, so a directory that lies cannot help."""
    archive = _open_zip(name, data)
    members = [m for m in archive.infolist() if not m.is_dir() and not _hidden(Path(m.filename))]
    _check_members(name, members)
    left = MAX_UNPACKED_BYTES
    for member in members:
        path = member.filename.replace("\\", "/")
        if _is_picture(path):
            yield ExportFile(path, read=partial(_read_start, name, archive, member))
            continue
        content = _read_member(name, archive, member, min(left, MAX_MEMBER_BYTES))
        left -= len(content)
        yield ExportFile(path, content)


def _open_zip(name: str, data: bytes) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except UnicodeDecodeError as exc:  # the UTF-8 flag is set on a name that is not UTF-8
        raise InvalidInput(f"export {name}: a member name is flagged UTF-8 but is not (byte {exc.start})") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError) as exc:
        raise InvalidInput(f"export {name} is not a readable zip archive: {exc}") from None


def _check_members(name: str, members: list[zipfile.ZipInfo]) -> None:
    """Refuse from the directory alone: too many members, too much unpacked, encryption, unknown compression."""
    if len(members) > MAX_MEMBERS:
        raise InvalidInput(f"export {name}: the zip holds {len(members)} files, over the {MAX_MEMBERS} accepted")
    total = sum(m.file_size for m in members if not _is_picture(m.filename))  # pictures are read when asked
    if total > MAX_UNPACKED_BYTES:
        raise InvalidInput(f"export {name}: the zip unpacks to {_mib(total)}, over the {_mib(MAX_UNPACKED_BYTES)} cap")
    for member in members:
        where = f"export {name}: member {member.filename}"
        if member.file_size > MAX_MEMBER_BYTES:
            raise InvalidInput(f"{where} unpacks to {_mib(member.file_size)}, over the {_mib(MAX_MEMBER_BYTES)} cap")
        if member.flag_bits & _ENCRYPTED:
            raise InvalidInput(f"{where} is encrypted; export the archive without a password")
        if member.compress_type not in _METHODS:
            method = f"{member.compress_type}" + (" (WinZip AES encryption)" if member.compress_type == _AES else "")
            raise InvalidInput(f"{where} uses compression method {method}; store or deflate it (a plain zip)")


def _read_member(name: str, archive: zipfile.ZipFile, member: zipfile.ZipInfo, limit: int) -> bytes:
    content = _read_start(name, archive, member, limit + 1)
    if len(content) > limit:
        raise InvalidInput(f"export {name}: member {member.filename} unpacks past the {_mib(limit)} left to it")
    return content


def _read_start(name: str, archive: zipfile.ZipFile, member: zipfile.ZipInfo, size: int) -> bytes:
    """Up to `size` bytes of a member, inflating no more than that."""
    try:
        with archive.open(member) as stream:
            return stream.read(size)
    except (zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, OSError, NotImplementedError) as exc:
        raise InvalidInput(f"export {name}: member {member.filename} does not unpack: {exc}") from None


def _local_file(path: str, file: Path) -> ExportFile:
    """A file of a folder export: pictures are read when asked, the rest now."""
    if _is_picture(path):
        return ExportFile(path, read=lambda size: _read_local(file, size))
    return ExportFile(path, _read_local(file, -1))


def _read_local(file: Path, size: int) -> bytes:
    try:
        with file.open("rb") as stream:
            return stream.read(size)
    except OSError as exc:
        raise InvalidInput(f"cannot read {file}: {exc.strerror}") from None


def _stored_file(path: str, store: Store, key: str) -> ExportFile:
    if not _is_picture(path):
        return ExportFile(path, store.get_bytes(key))

    def read(size: int) -> bytes:
        with store.open(key) as stream:
            return stream.read(size)

    return ExportFile(path, read=read)


def _is_picture(path: str) -> bool:
    return PurePosixPath(path).suffix.lower() in IMAGE_SUFFIXES


def _mib(count: int) -> str:
    return f"{count / 2**20:,.0f} MiB" if count >= 2**20 else f"{count:,} bytes"
