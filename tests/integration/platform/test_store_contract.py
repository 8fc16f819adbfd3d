"""The Store contract, run on both backends: the filesystem store (embedded) and S3Store on a real MinIO."""

from __future__ import annotations

import hashlib
import io
import multiprocessing
import socket
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import requests
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from transferline.errors import InvalidInput, TransientError
from transferline.settings import Settings
from transferline.store import Store, open_store
from transferline.store.s3 import S3Store

MIB = 1024 * 1024


@pytest.fixture
def store(backend_settings: Settings) -> Store:
    store = open_store(backend_settings)
    store.ensure_bucket()
    return store


class Generated(io.RawIOBase):
    """A deterministic, non-seekable stream of `size` bytes that is never held in memory whole."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        count = min(len(buffer), self.size - self.pos)
        first = self.pos // 32
        blob = b"".join(_block(i) for i in range(first, (self.pos + count + 31) // 32))
        start = self.pos - first * 32
        buffer[:count] = blob[start : start + count]
        self.pos += count
        return count


def _block(index: int) -> bytes:
    return hashlib.sha256(index.to_bytes(8, "big")).digest()


def _generated(size: int) -> bytes:
    """The bytes Generated(size) yields, computed in one go for comparison."""
    return b"".join(_block(i) for i in range(size // 32 + 1))[:size]


def test_ensure_bucket_is_idempotent(store: Store) -> None:
    store.ensure_bucket()
    store.ensure_bucket()
    assert list(store.list("")) == []


def test_put_get_stat_list_delete(store: Store, tmp_path: Path) -> None:
    data = b'{"hello": "world"}\n' * 100
    info = store.put_bytes("jobs/j1/labels/coco.json", data, "application/json")
    assert (info.key, info.size, info.etag) == ("jobs/j1/labels/coco.json", len(data), hashlib.md5(data).hexdigest())
    assert store.stat("jobs/j1/labels/coco.json") == info
    assert store.exists("jobs/j1/labels/coco.json")
    assert store.get_bytes("jobs/j1/labels/coco.json") == data
    with store.open("jobs/j1/labels/coco.json") as reader:
        assert reader.read() == data
    store.download("jobs/j1/labels/coco.json", tmp_path / "down" / "coco.json")
    assert (tmp_path / "down" / "coco.json").read_bytes() == data

    store.put_bytes("jobs/j1/labels/coco.json", b"v2")
    assert store.get_bytes("jobs/j1/labels/coco.json") == b"v2"

    store.delete("jobs/j1/labels/coco.json")
    assert store.stat("jobs/j1/labels/coco.json") is None
    store.delete("jobs/j1/labels/coco.json")  # already gone: no error
    assert list(store.list("")) == []


def test_list_in_key_order_with_string_prefixes(store: Store) -> None:
    keys = ["b", "a/c/d", "a0", "a-b", "a/b", "a/b0", "a.x", "ab/z", "a/c-e"]
    for key in keys:
        store.put_bytes(key, key.encode())
    assert [info.key for info in store.list("")] == sorted(keys)
    assert [info.key for info in store.list("a/")] == ["a/b", "a/b0", "a/c-e", "a/c/d"]
    assert [info.key for info in store.list("a/c")] == ["a/c-e", "a/c/d"]
    assert list(store.list("zzz/")) == []
    found = {info.key: info for info in store.list("a/c/")}
    assert found["a/c/d"].size == len(b"a/c/d")
    assert found["a/c/d"].etag == hashlib.md5(b"a/c/d").hexdigest()


def test_missing_key(store: Store, tmp_path: Path) -> None:
    with pytest.raises(KeyError):
        store.get_bytes("jobs/none/x")
    with pytest.raises(KeyError):
        store.open("jobs/none/x")
    with pytest.raises(KeyError):
        store.download("jobs/none/x", tmp_path / "never")
    assert not (tmp_path / "never").exists()
    assert store.stat("jobs/none/x") is None
    assert not store.exists("jobs/none/x")


def test_open_buffered_reads_lines_and_limited_lines(store: Store) -> None:
    lines = [b"first\n", b"x" * 300_000 + b"\n", b"\r\n", b"last without newline"]
    store.put_bytes("s/lines.ndjson", b"".join(lines), "application/x-ndjson")
    with store.open_buffered("s/lines.ndjson") as stream:
        assert list(stream) == lines
    with store.open_buffered("s/lines.ndjson") as stream:
        assert stream.readline(3) == b"fir"
        assert stream.readline() == b"st\n"
        assert stream.readline(1000) == b"x" * 1000  # a long line is not read whole to answer a limited readline
        assert stream.read(5) == b"x" * 5
    with pytest.raises(KeyError):
        store.open_buffered("jobs/none/x")


def test_put_stream_small(store: Store) -> None:
    info = store.put_stream("s/small", io.BytesIO(b"x" * 1000), "text/plain")
    assert (info.size, info.etag) == (1000, hashlib.md5(b"x" * 1000).hexdigest())
    assert store.get_bytes("s/small") == b"x" * 1000


def test_large_stream_goes_multipart_and_reads_back_equal(backend_settings: Settings, tmp_path: Path) -> None:
    store = open_store(backend_settings.model_copy(update={"multipart_threshold_mb": 5}))
    store.ensure_bucket()
    size = 12 * MIB + 123
    info = store.put_stream("big/object.bin", io.BufferedReader(Generated(size), MIB))
    expected = _generated(size)
    assert info.size == size
    digest = hashlib.md5(usedforsecurity=False)
    with store.open("big/object.bin") as reader:
        while chunk := reader.read(MIB):
            digest.update(chunk)
    assert digest.hexdigest() == hashlib.md5(expected).hexdigest()
    store.download("big/object.bin", tmp_path / "big.bin")
    assert (tmp_path / "big.bin").read_bytes() == expected
    if isinstance(store, S3Store):
        assert info.etag.endswith("-3")  # three 5 MiB parts: it really went multipart
    else:
        assert info.etag == hashlib.md5(expected).hexdigest()


def test_presigned_url_downloads_without_credentials(store: Store) -> None:
    store.put_bytes("share/me.txt", b"shared content")
    url = store.presigned_url("share/me.txt", expires_seconds=300)
    if isinstance(store, S3Store):
        answer = requests.get(url, timeout=10)
        assert answer.status_code == 200
        assert answer.content == b"shared content"
        assert requests.get(url.split("?")[0], timeout=10).status_code == 403  # unsigned: refused
    else:
        assert url == store.uri("share/me.txt")
        with urllib.request.urlopen(url) as answer:
            assert answer.read() == b"shared content"


def test_uri_and_key_of_round_trip(store: Store, backend_settings: Settings) -> None:
    uri = store.uri("jobs/j1/urls/urls.jsonl")
    scheme = "s3://" if backend_settings.store == "s3" else "file:///"
    assert uri.startswith(scheme)
    assert store.key_of(uri) == "jobs/j1/urls/urls.jsonl"
    for other in ("s3://another-bucket/jobs/j1/x", "file:///elsewhere/x", "https://example.com/x", uri + "/../.."):
        with pytest.raises(InvalidInput):
            store.key_of(other)


def test_a_store_used_before_fork_works_in_the_child(store: Store) -> None:
    store.put_bytes("fork/parent", b"from the parent")  # the parent's client now exists
    context = multiprocessing.get_context("fork")
    child = context.Process(target=_child_writes, args=(store,))
    child.start()
    child.join(60)
    assert child.exitcode == 0
    assert store.get_bytes("fork/child") == b"from the parent, seen by the child"


def _child_writes(store: Store) -> None:
    store.put_bytes("fork/child", store.get_bytes("fork/parent") + b", seen by the child")


@pytest.mark.parametrize("key", ["../x", "/etc/passwd", "a/../../b", "a//b", "a\\b", "a\x00b", ""])
def test_hostile_keys_are_refused(store: Store, key: str) -> None:
    for call in (
        lambda: store.put_bytes(key, b"x"),
        lambda: store.get_bytes(key),
        lambda: store.stat(key),
        lambda: store.delete(key),
        lambda: store.uri(key),
        lambda: store.presigned_url(key),
    ):
        with pytest.raises(InvalidInput):
            call()
    assert list(store.list("")) == []


# S3Store details that need no server: the lazy, fork-aware client and the error mapping.


def _s3_settings(**changes: Any) -> Settings:
    base = Settings(store="s3", s3_endpoint="http://127.0.0.1:1", s3_access_key="k", s3_secret_key="s")
    return base.model_copy(update=changes)


def test_s3_client_is_lazy_and_remade_after_fork(monkeypatch: pytest.MonkeyPatch) -> None:
    store = S3Store(_s3_settings())
    assert store._client is None  # nothing at construction
    first = store._s3()
    assert store._s3() is first
    monkeypatch.setattr("os.getpid", lambda: -1)  # what a forked child sees
    assert store._s3() is not first
    config = first.meta.config
    assert config.s3 == {"addressing_style": "path"}
    assert config.signature_version == "s3v4"
    assert config.retries["mode"] == "standard"


def test_s3_unreachable_endpoint_is_transient(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setattr("transferline.store.s3.MAX_ATTEMPTS", 1)
    store = S3Store(_s3_settings(s3_endpoint=f"http://127.0.0.1:{port}"))
    with pytest.raises(TransientError):
        store.get_bytes("a")
    with pytest.raises(TransientError):
        store.put_bytes("a", b"x")
    with pytest.raises(TransientError):
        list(store.list(""))


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("SlowDown", 503, TransientError),
        ("InternalError", 500, TransientError),
        ("NoSuchKey", 404, KeyError),
        ("AccessDenied", 403, ClientError),  # not transient: it propagates
    ],
)
def test_s3_error_mapping(code: str, status: int, expected: type[Exception]) -> None:
    store = S3Store(_s3_settings())
    with Stubber(store._s3()) as stub:
        stub.add_client_error("get_object", service_error_code=code, http_status_code=status)
        with pytest.raises(expected):
            store.get_bytes("a/b")
