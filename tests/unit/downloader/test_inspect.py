"""What a body is, from its bytes alone."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from tests.support.hostile import picture, png_header_only
from transferline_downloader.inspect import Limits, Rejected, inspect, sniff

LIMITS = Limits(max_pixels=10_000_000, min_side=8)


def judged(tmp_path: Path, data: bytes, limits: Limits = LIMITS):
    path = tmp_path / "body"
    path.write_bytes(data)
    return inspect(path, len(data), limits)


@pytest.mark.parametrize("kind", ["JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF"])
def test_formats_are_known_by_their_magic_bytes(kind: str) -> None:
    assert sniff(picture(kind)) == kind


def test_exif_orientation_swaps_the_recorded_size(tmp_path: Path) -> None:
    image = Image.new("RGB", (40, 20), "red")
    exif = image.getexif()
    exif[0x0112] = 6  # rotated a quarter
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    found = judged(tmp_path, out.getvalue())
    assert (found.width, found.height, found.format, found.ext) == (20, 40, "jpeg", "jpg")


def test_a_bomb_is_refused_from_its_header(tmp_path: Path) -> None:
    with pytest.raises(Rejected) as refused:
        judged(tmp_path, png_header_only(5000, 5000))
    assert refused.value.reason == "too-many-pixels"


def test_the_phash_matches_the_converters(tmp_path: Path) -> None:
    imagehash = pytest.importorskip("imagehash")
    data = picture("JPEG", size=(200, 100))
    with Image.open(io.BytesIO(data)) as image:
        image.draft("L", (128, 128))
        expected = str(imagehash.phash(image))
    assert judged(tmp_path, data).phash == expected


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"%PDF-1.7", "unsupported-format"),
        (b"  <svg/>", "unsupported-format"),
        (b"xyz", "not-an-image"),
    ],
)
def test_what_is_not_a_picture(tmp_path: Path, data: bytes, reason: str) -> None:
    with pytest.raises(Rejected) as refused:
        judged(tmp_path, data)
    assert refused.value.reason == reason
