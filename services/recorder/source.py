"""Where the images named in COCO files are read from: a job's stored images or a local folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from services.recorder.encode import SkipImage
from transferline.settings import Settings
from transferline.store import Store, open_store


@dataclass(frozen=True)
class ImageSource:
    """Where COCO file names point: a folder of a job's stored images (`prefix` in the store), or a local folder.
    Picklable, so each worker process opens its own store."""

    settings: Settings | None = None
    prefix: str = ""
    folder: Path | None = None

    def __post_init__(self) -> None:
        if self.folder is not None:  # resolved once: every read checks that its file stays inside
            object.__setattr__(self, "folder", self.folder.resolve())

    def open_store(self) -> Store | None:
        return open_store(self.settings) if self.settings is not None else None

    def total_bytes(self, file_names: list[str]) -> int:
        """Bytes of the images named (missing ones count 0), to size shards before reading anything."""
        if self.folder is not None:
            paths = [self.folder / name for name in file_names]
            return sum(path.stat().st_size for path in paths if path.is_file())
        store = self.open_store()
        assert store is not None
        return sum(found.size for name in file_names if (found := store.stat(self.prefix + name)))

    def read(self, file_name: str, store: Store | None) -> bytes:
        if self.folder is not None:
            path = (self.folder / file_name).resolve()
            if not path.is_relative_to(self.folder):
                raise SkipImage(f"file name {file_name!r} leaves the image folder")
            try:
                return path.read_bytes()
            except OSError:
                raise SkipImage(f"missing image {path}") from None
        assert store is not None
        try:
            return store.get_bytes(self.prefix + file_name)
        except KeyError:
            raise SkipImage(f"missing image {self.prefix + file_name}") from None
