"""Judge a downloaded body: what it is from its magic bytes (never the header or the name), its size from the
image header before any pixel is decoded (a decompression bomb is refused there), then one decode of every pixel
of the first frame (truncated or damaged files fail; JPEG's inverse DCT is scaled down, its coded data all read),
the displayed size after EXIF orientation, and the perceptual hash from that same decoded picture."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from transferline.manifest import perceptual_hash, read_header

# Pillow format name -> file extension, for the formats a detector's pipeline reads.
FORMATS = {"JPEG": "jpg", "PNG": "png", "GIF": "gif", "WEBP": "webp", "BMP": "bmp", "TIFF": "tiff"}
_MAGIC = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)
# Bodies that are documents, not pictures a detector can train on.
_DOCUMENTS = (b"<svg", b"<?xml", b"<!doctype", b"<html", b"<head", b"<body", b"%pdf", b"pk\x03\x04", b"{", b"[")
_DECODE_ERRORS = (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError, IndexError, TypeError)


class Rejected(Exception):
    """The body is not an image we keep; `reason` is a stable outcome code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail

    def __reduce__(self) -> tuple[type[Rejected], tuple[str, str]]:  # raised in a decoder process, re-raised here
        return Rejected, (self.reason, self.detail)


@dataclass(frozen=True)
class Limits:
    max_pixels: int
    min_side: int


@dataclass(frozen=True)
class Inspected:
    format: str  # lower case Pillow name, as the manifest records it
    ext: str
    width: int  # as displayed
    height: int
    phash: str


def sniff(head: bytes) -> str | None:
    """The Pillow format the magic bytes say, or None."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    return next((kind for magic, kind in _MAGIC if head.startswith(magic)), None)


def inspect(path: Path, size: int, limits: Limits) -> Inspected:
    """The image at `path`, or Rejected naming why it is not one we keep."""
    if size == 0:
        raise Rejected("empty", "the body is empty")
    with path.open("rb") as file:
        head = file.read(64)
    kind = sniff(head)
    if kind is None:
        document = head.lstrip().lower()
        if document.startswith(_DOCUMENTS):
            raise Rejected("unsupported-format", f"a document, not a picture (starts {head[:12]!r})")
        raise Rejected("not-an-image", f"no image signature (starts {head[:12]!r})")
    digest = _decode(path, kind, limits.max_pixels)
    header = read_header(path.open("rb"))
    if header is None:
        raise Rejected("corrupt-image", "the header cannot be read again")
    if min(header.width, header.height) < limits.min_side:
        raise Rejected("too-small", f"{header.width}x{header.height} is under the {limits.min_side} px minimum side")
    return Inspected(kind.lower(), FORMATS[kind], header.width, header.height, digest)


def _decode(path: Path, kind: str, max_pixels: int) -> str:
    """Size from the header first (a bomb is refused before decoding), then every pixel of the first frame is
    decoded once, and the pHash taken from that decoded picture."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(path, formats=[kind]) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise Rejected("too-many-pixels", f"{width}x{height} is over the {max_pixels} pixel cap")
                return perceptual_hash(image)
        except Image.DecompressionBombError as exc:
            raise Rejected("too-many-pixels", str(exc)) from None
        except _DECODE_ERRORS as exc:
            raise Rejected("corrupt-image", f"{kind.lower()} does not decode: {exc}") from None
