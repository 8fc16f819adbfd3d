"""The image manifest (`images/manifest.jsonl`): one line per stored image. The downloader writes it; the
converter and recorder read it, so an image's size and perceptual hash are learnt once, when it is stored.
Loading this module loads nothing heavy: Pillow loads with the first image read (a conversion without images never
needs it), and pydantic and the store with `read_manifest`/`add_images` (the downloader's decoder processes use
`read_header` and `perceptual_hash` without the contracts' models)."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

from transferline import keys

if TYPE_CHECKING:
    from PIL import Image

    from transferline.contracts import ImageRecord
    from transferline.store import Store

_SWAPPING = {5, 6, 7, 8}  # EXIF orientations that turn the picture a quarter: width and height swap


@dataclass(frozen=True)
class ImageHeader:
    width: int  # as displayed, after EXIF orientation: what a labelling tool shows and labels
    height: int
    format: str


def read_header(stream: IO[bytes]) -> ImageHeader | None:
    """Size and format from the image header alone (no pixel decoding); None when it is not an image."""
    from PIL import Image, UnidentifiedImageError

    with stream:
        try:
            with Image.open(stream) as image:
                width, height = image.size
                orientation = image.getexif().get(0x0112)
                kind = (image.format or "unknown").lower()
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
            return None
    return ImageHeader(height, width, kind) if orientation in _SWAPPING else ImageHeader(width, height, kind)


def perceptual_hash(picture: Image.Image) -> str:
    """The manifest's `phash` of an opened picture: imagehash's 64-bit pHash (hex) of its first frame, upright as
    displayed. Whoever stores an image and whoever compares against it compute it here, so the two agree. JPEG
    decodes with its inverse DCT scaled down (the hash needs 32x32); every block's coded data is still read, so
    damage fails as it would at full size. Needs imagehash (the converter's and downloader's extras)."""
    import imagehash
    from PIL import ImageOps

    picture.draft("L", (128, 128))
    picture.seek(0)  # GIF and WebP: the first frame is the picture
    picture.load()
    return str(imagehash.phash(ImageOps.exif_transpose(picture)))


def read_manifest(store: Store, job_id: str) -> Iterator[ImageRecord]:
    """Every record of a job's manifest (none when there is no manifest); a bad line is a clear error."""
    from transferline.contracts import ImageRecord, read_stored_rows

    return read_stored_rows(store, keys.image_manifest(job_id), ImageRecord)


def add_images(store: Store, job_id: str, files: Iterable[tuple[str, bytes]]) -> list[ImageRecord]:
    """Store images (file name, bytes) content-addressed, as the downloader does, and extend the job's manifest.

    For images already at hand (no download needed). Files that are not images are skipped.
    """
    from transferline.contracts import ImageRecord, rows_jsonl

    known = {record.sha256: record for record in read_manifest(store, job_id)}
    added = []
    for name, data in files:
        header = read_header(io.BytesIO(data))
        digest = hashlib.sha256(data).hexdigest()
        if header is None or digest in known:
            continue
        key = keys.image(job_id, digest, "jpg" if header.format == "jpeg" else header.format)
        store.put_bytes(key, data, f"image/{header.format}")
        record = ImageRecord(
            sha256=digest,
            key=key,
            width=header.width,
            height=header.height,
            format=header.format,
            bytes=len(data),
            file_name=name,
            global_key=name,
        )
        known[digest] = record
        added.append(record)
    store.put_bytes(keys.image_manifest(job_id), rows_jsonl(known.values()), "application/x-ndjson")
    return added
