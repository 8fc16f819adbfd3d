"""FilesystemStore: atomic writes, refusal of hostile keys, and the Store contract on a local folder."""

from __future__ import annotations

import hashlib
import io
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from transferline.errors import InvalidInput
from transferline.store.filesystem import TEMP_PREFIX, FilesystemStore

HOSTILE_KEYS = [
    "",
    "/",
    ".",
    "..",
    "../x",
    "/etc/passwd",
    "a/../../b",
    "a/..",
    "a/./b",
    "./a",
    "a//b",
    "a/",
    "//a",
    "a\\b",
    "..\\x",
    "a\x00b",
    "a\nb",
    "a\rb",
    "a\tb",
    "a\x7fb",
    "a\x85b",
    "a\ud800b",
    "x" * 1025,
    f"a/{TEMP_PREFIX}x",
]

# Writes stdin to the key through put_stream; the test kills it part-way.
WRITER = """
import sys
from pathlib import Path
from transferline.store.filesystem import FilesystemStore
FilesystemStore(Path(sys.argv[1])).put_stream(sys.argv[2], sys.stdin.buffer)
"""


@pytest.fixture
def store(tmp_path: Path) -> FilesystemStore:
    store = FilesystemStore(tmp_path / "root")
    store.ensure_bucket()
    return store


def test_round_trip_bytes_stream_open_and_download(store: FilesystemStore, tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    info = store.put_stream("jobs/j1/images/ab/file.jpg", io.BytesIO(data), "image/jpeg")
    assert info.size == len(data)
    assert store.get_bytes("jobs/j1/images/ab/file.jpg") == data
    with store.open("jobs/j1/images/ab/file.jpg") as reader:
        assert reader.read() == data
    target = tmp_path / "out" / "copy.jpg"
    store.download("jobs/j1/images/ab/file.jpg", target)
    assert target.read_bytes() == data
    assert not [name for name in os.listdir(target.parent) if name.startswith(TEMP_PREFIX)]


def test_overwrite_replaces_the_whole_object(store: FilesystemStore) -> None:
    store.put_bytes("k", b"a much longer first version")
    store.put_bytes("k", b"short")
    assert store.get_bytes("k") == b"short"


def test_empty_object(store: FilesystemStore) -> None:
    info = store.put_bytes("empty", b"")
    assert (info.size, info.etag) == (0, hashlib.md5(b"").hexdigest())
    assert store.get_bytes("empty") == b""


def test_stat_etag_is_the_md5_of_the_content(store: FilesystemStore) -> None:
    data = b"hello world" * 1000
    put = store.put_bytes("a/b.txt", data)
    stat = store.stat("a/b.txt")
    assert put == stat
    assert stat is not None
    assert (stat.key, stat.size, stat.etag) == ("a/b.txt", len(data), hashlib.md5(data).hexdigest())
    assert store.exists("a/b.txt")


def test_stat_uses_the_remembered_etag_but_not_a_stale_one(store: FilesystemStore) -> None:
    store.put_bytes("k", b"one")
    path = store.root / "k"
    try:
        remembered = os.getxattr(path, "user.transferline.md5").decode()
    except (OSError, AttributeError):
        pytest.skip("this filesystem has no user xattrs: every stat rehashes")
    size, mtime, md5 = remembered.split(":")
    assert md5 == hashlib.md5(b"one").hexdigest()
    os.setxattr(path, "user.transferline.md5", f"{size}:{mtime}:cached".encode())
    assert store.stat("k").etag == "cached"  # type: ignore[union-attr]
    path.write_bytes(b"two")  # changed behind the store's back: same size, new mtime
    os.utime(path, ns=(0, int(mtime) + 1))
    assert store.stat("k").etag == hashlib.md5(b"two").hexdigest()  # type: ignore[union-attr]
    os.setxattr(path, "user.transferline.md5", b"garbage")
    assert store.stat("k").etag == hashlib.md5(b"two").hexdigest()  # type: ignore[union-attr]


def test_put_stream_reads_in_bounded_chunks(store: FilesystemStore) -> None:
    class Recording(io.BytesIO):
        def __init__(self, data: bytes) -> None:
            super().__init__(data)
            self.sizes: list[int | None] = []

        def read(self, size: int | None = -1) -> bytes:
            self.sizes.append(size)
            return super().read(size)

    stream = Recording(b"x" * (5 * 1024 * 1024))
    store.put_stream("big", stream)
    assert all(size is not None and 0 < size <= 1024 * 1024 for size in stream.sizes)
    assert store.get_bytes("big") == b"x" * (5 * 1024 * 1024)


def test_missing_key(store: FilesystemStore, tmp_path: Path) -> None:
    with pytest.raises(KeyError):
        store.get_bytes("no/such")
    with pytest.raises(KeyError):
        store.open("no/such")
    with pytest.raises(KeyError):
        store.download("no/such", tmp_path / "never")
    assert not (tmp_path / "never").exists()
    assert store.stat("no/such") is None
    assert not store.exists("no/such")
    store.delete("no/such")  # no error


def test_a_folder_is_not_an_object(store: FilesystemStore) -> None:
    store.put_bytes("dir/child", b"x")
    assert store.stat("dir") is None
    with pytest.raises(KeyError):
        store.get_bytes("dir")


def test_delete(store: FilesystemStore) -> None:
    store.put_bytes("a/b", b"x")
    store.delete("a/b")
    assert store.stat("a/b") is None
    assert list(store.list("")) == []


def test_list_is_recursive_in_key_order_with_string_prefixes(store: FilesystemStore) -> None:
    keys = ["b", "a/c/d", "a0", "a-b", "a/b", "a/b0", "a.x", "ab/z", "a/c-e"]
    for key in keys:
        store.put_bytes(key, key.encode())
    assert [info.key for info in store.list("")] == sorted(keys)
    assert [info.key for info in store.list("a/")] == ["a/b", "a/b0", "a/c-e", "a/c/d"]
    assert [info.key for info in store.list("a")] == sorted(k for k in keys if k.startswith("a"))
    assert [info.key for info in store.list("a/c")] == ["a/c-e", "a/c/d"]
    assert list(store.list("nothing/here/")) == []
    infos = {info.key: info for info in store.list("")}
    assert infos["a/c/d"].etag == hashlib.md5(b"a/c/d").hexdigest()
    assert infos["a/c/d"].size == 5


@pytest.mark.parametrize("key", HOSTILE_KEYS)
def test_hostile_keys_are_refused_by_every_operation(store: FilesystemStore, key: str, tmp_path: Path) -> None:
    calls = [
        lambda: store.put_bytes(key, b"x"),
        lambda: store.put_stream(key, io.BytesIO(b"x")),
        lambda: store.get_bytes(key),
        lambda: store.open(key),
        lambda: store.download(key, tmp_path / "out"),
        lambda: store.stat(key),
        lambda: store.delete(key),
        lambda: store.uri(key),
        lambda: store.presigned_url(key),
    ]
    for call in calls:
        with pytest.raises(InvalidInput) as caught:
            call()
        assert repr(key) in str(caught.value)
    assert list(store.list("")) == []
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("prefix", ["/", "../", "a//", "a/../", "/etc", "a\\b", "a\x00"])
def test_hostile_prefixes_are_refused(store: FilesystemStore, prefix: str) -> None:
    with pytest.raises(InvalidInput):
        store.list(prefix)


def test_a_symlink_out_of_the_root_is_refused(store: FilesystemStore, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"secret")
    (store.root / "link").symlink_to(outside)
    with pytest.raises(InvalidInput, match="resolves outside"):
        store.get_bytes("link/secret")
    with pytest.raises(InvalidInput, match="resolves outside"):
        store.put_bytes("link/new", b"x")
    assert not (outside / "new").exists()
    assert list(store.list("")) == []


def test_an_object_and_a_folder_cannot_share_a_key(store: FilesystemStore) -> None:
    store.put_bytes("a", b"object")
    with pytest.raises(InvalidInput, match="clashes"):
        store.put_bytes("a/b", b"x")
    store.put_bytes("c/d", b"x")
    with pytest.raises(InvalidInput, match="clashes"):
        store.put_bytes("c", b"x")
    assert [info.key for info in store.list("")] == ["a", "c/d"]
    assert not _temp_files(store.root)


def test_uri_and_key_of_round_trip(store: FilesystemStore) -> None:
    uri = store.uri("jobs/j1/urls/urls.jsonl")
    assert uri == f"file://{store.root}/jobs/j1/urls/urls.jsonl"
    assert store.root.is_absolute()
    assert store.key_of(uri) == "jobs/j1/urls/urls.jsonl"
    assert store.presigned_url("jobs/j1/urls/urls.jsonl") == uri


def test_relative_root_gives_absolute_uris(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = FilesystemStore(Path("rel"))
    assert store.uri("k") == f"file://{tmp_path.resolve()}/rel/k"


@pytest.mark.parametrize(
    "uri",
    [
        "s3://transferline/a/b",
        "file:///somewhere/else/a",
        "{root}",
        "{root}/",
        "{root}/../x",
        "{root}/a//b",
        "{root}x/a",
        "{root}/a\x00",
        "/{root}/a",
    ],
)
def test_key_of_refuses_other_uris(store: FilesystemStore, uri: str) -> None:
    with pytest.raises(InvalidInput):
        store.key_of(uri.format(root=f"file://{store.root}"))


def test_a_writer_killed_mid_stream_leaves_no_object(store: FilesystemStore) -> None:
    store.put_bytes("victim", b"old complete version")
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(store.root), "victim"],
        stdin=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert writer.stdin is not None
    writer.stdin.write(b"n" * (2 * 1024 * 1024))
    writer.stdin.flush()
    _wait_for(lambda: any(path.stat().st_size > 0 for path in _temp_files(store.root)))
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    writer.stdin.close()
    assert store.get_bytes("victim") == b"old complete version"
    assert [info.key for info in store.list("")] == ["victim"]
    assert _temp_files(store.root)  # the crash did leave a temp file, yet list never shows it
    assert store.stat("victim") is not None


def test_a_failing_stream_leaves_no_object_and_no_temp_file(store: FilesystemStore) -> None:
    class Broken(io.RawIOBase):
        def read(self, size: int = -1) -> bytes:
            raise OSError("upstream went away")

    with pytest.raises(OSError, match="upstream went away"):
        store.put_stream("a/b", Broken())  # type: ignore[arg-type]
    assert store.stat("a/b") is None
    assert not _temp_files(store.root)


def test_concurrent_readers_never_see_a_partial_object(store: FilesystemStore) -> None:
    versions = {b"a" * (4 * 1024 * 1024), b"b" * (3 * 1024 * 1024 + 1)}
    store.put_bytes("hot", b"a" * (4 * 1024 * 1024))
    stop = threading.Event()
    seen: list[bytes] = []

    def write() -> None:
        while not stop.is_set():
            for version in versions:
                store.put_stream("hot", io.BytesIO(version))

    def read() -> None:
        while not stop.is_set():
            data = store.get_bytes("hot")
            if data not in versions:
                seen.append(data[:16] + b"..." + str(len(data)).encode())
                stop.set()

    threads = [threading.Thread(target=write)] + [threading.Thread(target=read) for _ in range(3)]
    for thread in threads:
        thread.start()
    time.sleep(1.5)
    stop.set()
    for thread in threads:
        thread.join()
    assert seen == []
    assert [info.key for info in store.list("")] == ["hot"]


def _temp_files(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.name.startswith(TEMP_PREFIX)]


def _wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.01)
    raise AssertionError("condition not met in time")
