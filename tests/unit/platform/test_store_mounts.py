"""Mounts: local files and folders seen through the filesystem store at keys, as the one-shot commands use them."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest

from transferline.errors import InvalidInput
from transferline.store.filesystem import FilesystemStore, Mount


@pytest.fixture
def mounted(tmp_path: Path) -> FilesystemStore:
    (tmp_path / "photos" / "sub").mkdir(parents=True)
    (tmp_path / "photos" / "a.jpg").write_bytes(b"A")
    (tmp_path / "photos" / "sub" / "b.jpg").write_bytes(b"BB")
    (tmp_path / "photos" / ".hidden").write_bytes(b"x")
    (tmp_path / "export.json").write_text("{}")
    (tmp_path / "out").mkdir()
    store = FilesystemStore(
        tmp_path / "root",
        {
            "jobs/j/images/": Mount(tmp_path / "photos"),
            "jobs/j/labels/raw/export.json": Mount(tmp_path / "export.json"),
            "jobs/j/labels/": Mount(tmp_path / "out", writable=True),
        },
    )
    store.ensure_bucket()
    return store


def test_mounted_folders_and_files_read_and_list_in_key_order(mounted: FilesystemStore, tmp_path: Path) -> None:
    mounted.put_bytes("jobs/j/stages/convert.json", b"{}")  # the root still holds what no mount covers
    assert mounted.get_bytes("jobs/j/images/sub/b.jpg") == b"BB"
    assert [i.key for i in mounted.list("jobs/j/")] == [
        "jobs/j/images/a.jpg",
        "jobs/j/images/sub/b.jpg",  # a folder's hidden files are left out
        "jobs/j/labels/raw/export.json",
        "jobs/j/stages/convert.json",
    ]
    assert mounted.local_path("jobs/j/images/a.jpg") == tmp_path / "photos" / "a.jpg"
    assert mounted.stat("jobs/j/images/sub/b.jpg").size == 2
    # a mounted file is sized, not hashed: it may be one of many gigabytes of someone's photos
    assert mounted.stat("jobs/j/images/a.jpg").etag.startswith("W/1-")


def test_writes_land_in_a_writable_mount_and_never_in_an_input(mounted: FilesystemStore, tmp_path: Path) -> None:
    mounted.put_bytes("jobs/j/labels/coco.json", b"[]")
    assert (tmp_path / "out" / "coco.json").read_bytes() == b"[]"
    for key in ("jobs/j/images/a.jpg", "jobs/j/images/new.jpg", "jobs/j/labels/raw/export.json"):
        with pytest.raises(InvalidInput, match="mounted read-only"):
            mounted.put_stream(key, io.BytesIO(b"overwritten"))
        with pytest.raises(InvalidInput, match="mounted read-only"):
            mounted.delete(key)
    assert (tmp_path / "photos" / "a.jpg").read_bytes() == b"A"


def test_a_key_cannot_leave_its_mount_through_a_symlink(mounted: FilesystemStore, tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("no")
    (tmp_path / "photos" / "link.jpg").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(InvalidInput, match="resolves outside"):
        mounted.get_bytes("jobs/j/images/link.jpg")
    assert "jobs/j/images/link.jpg" not in [i.key for i in mounted.list("jobs/j/images/")]


def test_put_file_links_rather_than_copies(tmp_path: Path) -> None:
    store = FilesystemStore(tmp_path / "root")
    source = tmp_path / "big.bin"
    source.write_bytes(b"x" * 1000)
    info = store.put_file("a/big.bin", source)
    assert info.size == 1000 and store.get_bytes("a/big.bin") == source.read_bytes()
    assert (tmp_path / "root" / "a" / "big.bin").stat().st_ino == source.stat().st_ino


def test_a_linked_file_is_hashed_once_then_its_md5_is_kept(tmp_path: Path) -> None:
    store = FilesystemStore(tmp_path / "root")
    source = tmp_path / "shard.bin"
    source.write_bytes(b"y" * 100)
    store.put_file("a/shard.bin", source)
    assert store.stat("a/shard.bin").etag == hashlib.md5(b"y" * 100).hexdigest()
    try:
        kept = os.getxattr(tmp_path / "root" / "a" / "shard.bin", "user.transferline.md5").decode()
    except OSError:
        pytest.skip("this filesystem has no user xattrs: every stat rehashes")
    assert kept.endswith(":" + hashlib.md5(b"y" * 100).hexdigest())


def test_a_write_to_a_mount_is_sized_not_hashed(mounted: FilesystemStore, tmp_path: Path) -> None:
    """What a put returns is what stat gives a mounted file (size and mtime); no md5 is made or kept for it."""
    put = mounted.put_stream("jobs/j/labels/coco.json", io.BytesIO(b"[1]"))
    assert put == mounted.stat("jobs/j/labels/coco.json")
    assert put.etag.startswith("W/3-")
    assert mounted.put_bytes("jobs/j/labels/coco.json", b"[22]") == mounted.stat("jobs/j/labels/coco.json")
    assert mounted.create_if_absent("jobs/j/labels/done", b"x")
    assert mounted.stat("jobs/j/labels/done").etag.startswith("W/1-")
    for name in ("coco.json", "done"):
        with pytest.raises(OSError):
            os.getxattr(tmp_path / "out" / name, "user.transferline.md5")
