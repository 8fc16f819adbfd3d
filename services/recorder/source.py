"""Where the images named in COCO files are read from: a prefix of a store (a job's images, or a local folder
mounted there by `transferline records`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from transferline.errors import InvalidInput
from transferline.store import ObjectInfo, Store
from transferline.store.filesystem import FilesystemStore, Mount
from transferline_recorder.encode import SkipImage


@dataclass(frozen=True)
class ImageSource:
    """COCO file names are relative to `prefix`. Picklable (a store pickles as what opens it again), so each
    worker process reads through its own client."""

    store: Store
    prefix: str

    @classmethod
    def folder(cls, path: Path) -> ImageSource:
        """The images of a local folder, read through a store that has only that folder mounted."""
        return cls(FilesystemStore(path, {"images/": Mount(path)}), "images/")

    def total_bytes(self, file_names: list[str]) -> int:
        """Bytes of the images named (missing ones count 0), to size shards before reading anything."""
        return sum(found.size for name in file_names if (found := self._stat(name)))

    def read(self, file_name: str) -> bytes:
        try:
            return self.store.get_bytes(self.prefix + file_name)
        except KeyError:
            raise SkipImage(f"missing image {self.prefix + file_name}") from None
        except InvalidInput:
            raise SkipImage(f"file name {file_name!r} leaves the image folder") from None

    def _stat(self, file_name: str) -> ObjectInfo | None:
        try:
            return self.store.stat(self.prefix + file_name)
        except InvalidInput:
            return None
