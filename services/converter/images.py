"""Stored images: where each one is, its displayed size (headers only), its perceptual hash, and which export
row it belongs to (by global key, digest, URL, then external id / file name)."""

from __future__ import annotations

import hashlib
import io
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlparse

import imagehash
from PIL import Image, ImageOps, UnidentifiedImageError

from transferline.contracts import ImageRecord
from transferline.manifest import read_header
from transferline.store import Store
from transferline_converter.dataset import ImageIds

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
_DIGEST = re.compile(r"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])")


@dataclass(frozen=True)
class StoredImage:
    """An image the converter can point COCO at; `file_name` is relative to the images root."""

    file_name: str
    width: int
    height: int
    read: Callable[[], bytes]
    sha256: str | None = None
    url: str | None = None
    global_key: str | None = None
    phash: int | None = None


@dataclass(frozen=True)
class Match:
    image: StoredImage | None
    how: str  # "global key", "digest", "url", "name", or why nothing matched


class ImageIndex:
    """Lookup tables over the stored images of one job (or one local folder)."""

    def __init__(self, images: Iterable[StoredImage]) -> None:
        self.images = list(images)
        self._by_key: dict[str, StoredImage] = {}
        self._by_url: dict[str, StoredImage] = {}
        self._by_name: defaultdict[str, list[StoredImage]] = defaultdict(list)
        for image in self.images:
            for key in (image.global_key, image.sha256, image.file_name):
                if key:
                    self._by_key.setdefault(key, image)
            if image.url:
                self._by_url.setdefault(image.url, image)
            for name in _names(image):
                if image not in self._by_name[name]:
                    self._by_name[name].append(image)

    def __len__(self) -> int:
        return len(self.images)

    def match(self, ids: ImageIds) -> Match:
        if ids.global_key and ids.global_key in self._by_key:
            return Match(self._by_key[ids.global_key], "global key")
        for digest in _digests(ids):
            if digest in self._by_key:
                return Match(self._by_key[digest], "digest")
        if ids.url and ids.url in self._by_url:
            return Match(self._by_url[ids.url], "url")
        for name in (ids.external_id, ids.file_name, _url_name(ids.url)):
            found = self._by_name.get(_plain(name), []) if name else []
            if len(found) == 1:
                return Match(found[0], "name")
            if len(found) > 1:
                return Match(None, f"{name!r} names {len(found)} different stored images")
        return Match(None, "no stored image has its global key, digest, URL, external id or file name")

    @classmethod
    def from_folder(cls, folder: Path) -> ImageIndex:
        files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        images = []
        for path in files:
            header = read_header(path.open("rb"))
            if header is not None:
                name = path.relative_to(folder).as_posix()
                images.append(StoredImage(name, header.width, header.height, read=path.read_bytes))
        return cls(images)

    @classmethod
    def from_manifest(cls, records: Iterable[ImageRecord], store: Store, prefix: str) -> ImageIndex:
        """Images the downloader stored: sizes and hashes come from its manifest, not from the bytes."""
        return cls(
            StoredImage(
                file_name=record.key.removeprefix(prefix),
                width=record.width,
                height=record.height,
                read=_reader(store, record.key),
                sha256=record.sha256,
                url=record.url,
                global_key=record.global_key,
                phash=int(record.phash, 16) if record.phash else None,
            )
            for record in records
        )


def index_store(store: Store, prefix: str, manifest: list[ImageRecord]) -> ImageIndex:
    """A job's stored images: from the downloader's manifest when there is one, else by reading each header."""
    if manifest:
        return ImageIndex.from_manifest(manifest, store, prefix)
    images = []
    for found in store.list(prefix):
        name = found.key.removeprefix(prefix)
        if PurePosixPath(name).suffix.lower() not in IMAGE_SUFFIXES:
            continue
        read = _reader(store, found.key)
        data = read()
        header = read_header(io.BytesIO(data))
        if header is not None:
            images.append(StoredImage(name, header.width, header.height, read=read, sha256=sha256_of(data)))
    return ImageIndex(images)


def perceptual_hashes(images: list[StoredImage], workers: int = 4) -> dict[str, int | None]:
    """64-bit pHash per file name (None for unreadable bytes); decoding releases the GIL, so threads help."""
    todo = [image for image in images if image.phash is None]
    with ThreadPoolExecutor(workers) as pool:
        computed = dict(zip((i.file_name for i in todo), pool.map(_phash, todo), strict=True))
    return {image.file_name: image.phash if image.phash is not None else computed[image.file_name] for image in images}


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _phash(image: StoredImage) -> int | None:
    try:
        with Image.open(io.BytesIO(image.read())) as picture:
            picture.draft("L", (128, 128))  # JPEG decodes at 1/8 scale: the hash only needs 32x32
            return int(str(imagehash.phash(ImageOps.exif_transpose(picture))), 16)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None


def _reader(store: Store, key: str) -> Callable[[], bytes]:
    return lambda: store.get_bytes(key)


def _names(image: StoredImage) -> set[str]:
    """Names an export may use for this image: its path, base name and stem, the source's file name."""
    path = PurePosixPath(image.file_name)
    names = {image.file_name, path.name, path.stem, _url_name(image.url) or ""}
    return {_plain(n) for n in names if n}


def _digests(ids: ImageIds) -> list[str]:
    texts = [ids.digest or "", ids.url or "", ids.external_id or "", ids.file_name or ""]
    return [d for text in texts for d in _DIGEST.findall(text.lower())]


def _url_name(url: str | None) -> str | None:
    if not url:
        return None
    name = PurePosixPath(unquote(urlparse(url).path)).name
    return name or None


def _plain(name: str) -> str:
    return name.strip().replace("\\", "/")
