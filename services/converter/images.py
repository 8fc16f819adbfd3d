"""Stored images: where each one is, its displayed size (headers only), its perceptual hash, and which export
row it belongs to (by global key, digest, URL, then by name: whole path, path end, base name, stem)."""

from __future__ import annotations

import hashlib
import io
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from transferline.manifest import perceptual_hash, read_header
from transferline.store import Store
from transferline_converter.dataset import ImageIds
from transferline_converter.sources import IMAGE_SUFFIXES

if TYPE_CHECKING:  # for annotations only: read_manifest loads the contracts' models when it runs
    from transferline.contracts import ImageRecord

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
    source_name: str | None = None  # the name it had before it was stored content-addressed (the manifest's)


@dataclass(frozen=True)
class Match:
    image: StoredImage | None
    how: str  # "global key", "digest", "url", "name", "base name", "stem", or why nothing matched


# How a row's names are tried, most trusted first: the whole name, as a stored path or its end (`train/a.jpg`
# finds `images/train/a.jpg`); then with the row's leading folders dropped (`uploaded/a.jpg` finds a stored
# `a.jpg`), only where the stored path is then the whole rest: when both sides have folders of their own and they
# differ (`Test/a.jpg` against `images/Train/a.jpg`), they are different images; then the same two without the
# image suffix (`/image1`, a YOLO label's `train/images/x`).
_STEPS = (("name", False, False), ("base name", False, True), ("stem", True, False), ("stem", True, True))


class ImageIndex:
    """Lookup tables over the stored images of one job (or one local folder)."""

    def __init__(self, images: Iterable[StoredImage]) -> None:
        self.images = list(images)
        self._by_key: dict[str, StoredImage] = {}
        self._by_url: dict[str, StoredImage] = {}
        # by each name's whole path, and by every trailing part of it (`a/b/c.jpg`, `b/c.jpg`, `c.jpg`); each
        # table once with the image suffix and once without
        self._at_path: tuple[defaultdict[str, list[StoredImage]], ...] = (defaultdict(list), defaultdict(list))
        self._by_tail: tuple[defaultdict[str, list[StoredImage]], ...] = (defaultdict(list), defaultdict(list))
        for image in self.images:
            for key in (image.global_key, image.sha256, image.file_name):
                if key:
                    self._by_key.setdefault(key, image)
            if image.url:
                self._by_url.setdefault(image.url, image)
            self._add_names(image)

    def _add_names(self, image: StoredImage) -> None:
        names = _names(image)
        for stem in (0, 1):
            tails = [_tails(name, bool(stem)) for name in names]
            for path in {t[0] for t in tails if t}:
                self._at_path[stem][path].append(image)
            for tail in {tail for each in tails for tail in each}:
                self._by_tail[stem][tail].append(image)

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
        names = [n for n in (ids.external_id, ids.file_name, _url_name(ids.url)) if n]
        exact = next((self._by_key[_plain(n)] for n in names if _plain(n) in self._by_key), None)
        return Match(exact, "name") if exact else self._by_name(names)

    def _by_name(self, names: list[str]) -> Match:
        """The first step at which one of the names points at exactly one image; a name that points at several
        is not guessed, and is the answer if no other name matches."""
        ambiguous: Match | None = None
        for how, stem, shorter in _STEPS:
            table = self._at_path[stem] if shorter else self._by_tail[stem]
            for name in names:
                for tail in _tails(name, stem)[1:] if shorter else _tails(name, stem)[:1]:
                    found = table.get(tail, [])
                    if len(found) == 1:
                        return Match(found[0], how)
                    if found:
                        shown = ", ".join(sorted(i.file_name for i in found)[:3])
                        ambiguous = ambiguous or Match(None, f"{tail!r} names {len(found)} stored images ({shown})")
                        break
        if ambiguous:
            return ambiguous
        if not self.images:
            return Match(None, "no images were given to match")
        tried = list(dict.fromkeys(t for name in names for stem in (False, True) for t in _tails(name, stem)))
        shown = ", ".join(repr(t) for t in tried[:6]) + (f" and {len(tried) - 6} more" if len(tried) > 6 else "")
        return Match(None, f"no stored image has its global key, digest or URL, nor a name it tried: {shown or 'none'}")

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
                source_name=record.file_name,
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
    from PIL import Image, UnidentifiedImageError  # loaded once there are images to hash

    try:
        with Image.open(io.BytesIO(image.read())) as picture:
            return int(perceptual_hash(picture), 16)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None


def _reader(store: Store, key: str) -> Callable[[], bytes]:
    return lambda: store.get_bytes(key)


def _names(image: StoredImage) -> set[str]:
    """Names an export may use for this image: its stored path, the name it had before it was stored, the
    source URL's file name."""
    return {n for n in (image.file_name, image.source_name, _url_name(image.url)) if n}


def _tails(name: str, stem: bool) -> list[str]:
    """`uploaded/x/116.jpg` -> [`uploaded/x/116.jpg`, `x/116.jpg`, `116.jpg`] (or the same without `.jpg` when
    `stem`); empty, `.` and `..` parts and a leading `/` do not count. String work only: it runs for every name
    of every stored image."""
    parts = [p for p in _plain(name).split("/") if p not in _NOT_PARTS]
    if stem and parts:
        base, dot, suffix = parts[-1].rpartition(".")
        if base and f"{dot}{suffix}".lower() in IMAGE_SUFFIXES:
            parts[-1] = base
    return ["/".join(parts[i:]) for i in range(len(parts))]


_NOT_PARTS = frozenset(("", ".", ".."))


def _digests(ids: ImageIds) -> list[str]:
    texts = [ids.digest or "", ids.url or "", ids.external_id or "", ids.file_name or ""]
    return [d for text in texts for d in _DIGEST.findall(text.lower())]


def _url_name(url: str | None) -> str | None:
    if not url:
        return None
    try:
        path = urlsplit(url).path
    except ValueError:  # an export's broken URL (`http://[x`) names no file; it must not stop the conversion
        return None
    return unquote(path).rsplit("/", 1)[-1] or None


def _plain(name: str) -> str:
    return name.strip().replace("\\", "/")
