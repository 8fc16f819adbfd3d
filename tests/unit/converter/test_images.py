"""Stored images: header-only sizes (EXIF orientation included), row matching order, perceptual hashes."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from tests.support.labels import GtImage
from transferline import keys
from transferline.manifest import ImageHeader, add_images, read_header, read_manifest
from transferline.store.filesystem import FilesystemStore
from transferline_converter.dataset import ImageIds
from transferline_converter.images import ImageIndex, Match, StoredImage, index_store, perceptual_hashes
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
    assert index.match(ImageIds(file_name="e")).how == "stem"  # YOLO gives stems
    assert index.match(ImageIds(external_id="zzz.jpg")).image is None


def test_a_name_shared_by_two_images_is_not_guessed() -> None:
    index = ImageIndex([stored("x/cat.jpg"), stored("y/cat.jpg")])
    found = index.match(ImageIds(external_id="cat.jpg"))
    assert (found.image, found.how) == (None, "'cat.jpg' names 2 stored images (x/cat.jpg, y/cat.jpg)")
    assert index.match(ImageIds(external_id="uploads/cat.jpg")).image is None  # the base name is no better
    assert index.match(ImageIds(external_id="y/cat.jpg")).image is index.images[1]


def test_names_match_whole_then_under_a_folder_then_by_base_name_then_by_stem() -> None:
    """The order the README states: the exact path, the path under the images root (CVAT's images/<subset>/), the
    base name when only one image has it, the name without its image suffix."""
    train, val = stored("images/Train/img0.jpg"), stored("images/Validation/img0.jpg")
    flat, bare = stored("116.jpg"), stored("image1.png")
    index = ImageIndex([train, val, flat, bare, stored("img0.jpg")])
    assert index.match(ImageIds(file_name="img0.jpg")).image is index.images[4]  # the exact path wins
    assert index.match(ImageIds(file_name="Train/img0.jpg")) == Match(train, "name")
    assert index.match(ImageIds(file_name="Validation/img0.jpg")) == Match(val, "name")
    assert index.match(ImageIds(external_id="uploaded_images/116.jpg")) == Match(flat, "base name")
    assert index.match(ImageIds(file_name="/image1")) == Match(bare, "stem")  # Label Studio paths without suffix
    assert index.match(ImageIds(file_name="train/images/image1")) == Match(bare, "stem")
    assert index.match(ImageIds(file_name="Test/img0.jpg")) == Match(index.images[4], "base name")  # a flat one


def test_a_name_is_not_cut_down_to_an_image_in_another_folder() -> None:
    """`Test/img0.jpg` is not `images/Train/img0.jpg`: both sides name a folder and they differ (a CVAT project
    whose Test pictures were left out). Only a stored path that is the rest of the row's name counts."""
    index = ImageIndex([stored("images/Train/img0.jpg"), stored("photos/116.jpg")])
    assert index.match(ImageIds(file_name="Test/img0.jpg")).image is None
    assert index.match(ImageIds(external_id="uploaded_images/116.jpg")).image is None
    assert index.match(ImageIds(external_id="photos/116.jpg")).image is index.images[1]


def test_a_broken_url_in_a_row_is_no_name_and_no_crash() -> None:
    index = ImageIndex([stored("a.jpg")])
    assert index.match(ImageIds(url="http://[broken/a.jpg", file_name="a.jpg")) == Match(index.images[0], "name")


def test_a_miss_lists_the_names_it_tried() -> None:
    found = ImageIndex([stored("a.jpg")]).match(ImageIds(external_id="uploaded_images/116.jpg"))
    assert found.image is None
    assert found.how.endswith("tried: 'uploaded_images/116.jpg', '116.jpg', 'uploaded_images/116', '116'")


def test_uploaded_images_match_by_the_name_they_were_uploaded_with(tmp_path: Path) -> None:
    """`transferline upload --images` stores images under their digest and keeps the original name in the
    manifest: a VOC row naming the file and a YOLO row naming its stem both find it."""
    store = FilesystemStore(tmp_path)
    store.ensure_bucket()
    picture = GtImage("photo_7.jpg", 40, 30, seed=3).jpeg()
    record = add_images(store, "job", [("photo_7.jpg", picture), ("other.jpg", GtImage("o", 9, 9, 4).jpeg())])[0]
    index = index_store(store, keys.images("job"), list(read_manifest(store, "job")))
    assert index.match(ImageIds(file_name="photo_7.jpg")).image.sha256 == record.sha256  # VOC <filename>
    assert index.match(ImageIds(file_name="labels/photo_7")).image.sha256 == record.sha256  # YOLO's label stem
    assert index.match(ImageIds(file_name="photo_7")).image.read() == picture


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
