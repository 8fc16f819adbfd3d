"""An export as a set of named files: one file, a folder, or a zip archive, read without extracting to disk."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from transferline.errors import InvalidInput

MAX_MEMBERS = 200_000
MAX_UNPACKED_BYTES = 8 * 1024**3


@dataclass(frozen=True)
class ExportFile:
    name: str  # path inside the export, '/'-separated (the file's own name for a single file)
    data: bytes

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
    def from_files(cls, name: str, files: dict[str, bytes]) -> ExportSource:
        """A folder export: its files by '/'-separated path inside it (hidden ones are left out)."""
        return cls(name, [ExportFile(path, data) for path, data in files.items() if not _hidden(Path(path))])

    @classmethod
    def from_path(cls, path: Path) -> ExportSource:
        if path.is_dir():
            found = [p for p in sorted(path.rglob("*")) if p.is_file()]
            return cls.from_files(path.name, {p.relative_to(path).as_posix(): p.read_bytes() for p in found})
        try:
            return cls.from_bytes(path.name, path.read_bytes())
        except OSError as exc:
            raise InvalidInput(f"cannot read export {path}: {exc.strerror}") from None

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


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") or part == "__MACOSX" for part in relative.parts)


def _unzip(name: str, data: bytes) -> Iterator[ExportFile]:
    """Members of a zip, refusing archives that would unpack to more than we accept (zip bombs)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = [m for m in archive.infolist() if not m.is_dir() and not _hidden(Path(m.filename))]
        if len(members) > MAX_MEMBERS or sum(m.file_size for m in members) > MAX_UNPACKED_BYTES:
            raise InvalidInput(f"export {name}: the zip holds more than {MAX_MEMBERS} files or 8 GiB unpacked")
        for member in members:
            yield ExportFile(member.filename.replace("\\", "/"), archive.read(member))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
        raise InvalidInput(f"export {name} is not a readable zip archive: {exc}") from None
