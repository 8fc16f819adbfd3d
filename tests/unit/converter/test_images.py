"""Stored images: header-only sizes (EXIF orientation included), row matching order, perceptual hashes."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from tests.support.labels import GtImage
from transferline.manifest import ImageHeader, read_header
from transferline_converter.dataset import ImageIds
from transferline_converter.images import ImageIndex, StoredImage, perceptual_hashes
from transferline_converter.splits import near_duplicate_groups

DIGEST = "ab" * 32


def stored(name: str, **ids) -> StoredImage:
    return StoredImage(name, 10, 10, read=bytes, **ids)


def test_header_size_swaps_width_and_height_for_a_quarter_turn(tmp_path: Path) -> None:
    picture = Image.new("RGB", (40, 20))
    exif = picture.getexif()
    exif[0x0112] = 6  # rotate 90 degrees when displayed
    path = tmp_path / "turned.jpg"
    picture.save(path, exif=exif)
    assert read_header(path.open("rb")) == ImageHeader(20, 40, "jpeg")
    assert read_header(io.BytesIO(b"not an image")) is None


def test_rows_match_by_global_key_then_digest_then_url_then_name() -> None:
    by_key = stored("a.jpg", global_key="key-1")
    by_digest = stored(f"ab/{DIGEST}.jpg", sha256=DIGEST)
    by_url = stored("c.jpg", url="https://host/pics/c-original.jpg")
    index = ImageIndex([by_key, by_digest, by_url, stored("d/e.png")])
    assert index.match(ImageIds(global_key="key-1", url="https://host/pics/c-original.jpg")).image is by_key
    assert index.match(ImageIds(url=f"https://labelbox/{DIGEST}.jpg?token=x")).how == "digest"
    assert index.match(ImageIds(url="https://host/pics/c-original.jpg")).image is by_url
    assert index.match(ImageIds(external_id="e.png")).how == "name"
    assert index.match(ImageIds(file_name="e")).how == "name"  # YOLO gives stems
    assert index.match(ImageIds(external_id="zzz.jpg")).image is None


def test_a_name_shared_by_two_images_is_not_guessed() -> None:
    index = ImageIndex([stored("x/cat.jpg"), stored("y/cat.jpg")])
    found = index.match(ImageIds(external_id="cat.jpg"))
    assert found.image is None and "2 different stored images" in found.how


def test_folder_index_reads_sizes_and_skips_non_images(tmp_path: Path) -> None:
    (tmp_path / "one.jpg").write_bytes(GtImage("one.jpg", 64, 48, seed=1).jpeg())
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "two.jpg").write_bytes(GtImage("two.jpg", 30, 90, seed=2).jpeg())
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    (tmp_path / "notes.txt").write_text("hi")
    index = ImageIndex.from_folder(tmp_path)
    assert sorted((i.file_name, i.width, i.height) for i in index.images) == [
        ("one.jpg", 64, 48),
        ("sub/two.jpg", 30, 90),
    ]


def test_a_re_encoded_copy_is_a_near_duplicate_and_another_picture_is_not() -> None:
    original = GtImage("a.jpg", 160, 120, seed=5)
    smaller = io.BytesIO()
    Image.open(io.BytesIO(original.jpeg())).resize((120, 90)).save(smaller, "JPEG", quality=60)
    images = [
        StoredImage("a.jpg", 160, 120, read=original.jpeg),
        StoredImage("a_small.jpg", 120, 90, read=smaller.getvalue),
        StoredImage("b.jpg", 160, 120, read=GtImage("b.jpg", 160, 120, seed=6).jpeg),
        StoredImage("junk.jpg", 1, 1, read=lambda: b"junk"),
    ]
    hashes = perceptual_hashes(images)
    assert hashes["junk.jpg"] is None
    groups = near_duplicate_groups([hashes[i.file_name] for i in images], [None] * 4, bits=4)
    assert groups[0] == groups[1] != groups[2]
