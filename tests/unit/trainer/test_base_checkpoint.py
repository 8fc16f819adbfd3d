"""fetch_base against a real local HTTP server, the filesystem store and real TensorFlow checkpoints."""

from __future__ import annotations

import hashlib
import io
import tarfile
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from transferline.errors import ConfigurationError, InvalidInput, TransientError
from transferline.fetch import Fetcher
from transferline.settings import Settings
from transferline.store import Store, open_store
from transferline_trainer import base_checkpoint
from transferline_trainer.base_checkpoint import BaseCheckpoint, checkpoint_fetcher, fetch_base
from transferline_trainer.settings import TrainerSettings

A = np.arange(12, dtype=np.float32).reshape(3, 4)
B = np.array([7, 8, 9], dtype=np.int64)
LOOPBACK = ("127.0.0.0/8",)  # the test server's network, refused unless allowed
PARAMS = b"task:\n  model:\n    num_classes: 5\n    anchor:\n      aspect_ratios: !!python/tuple [0.5, 1.0]\n"


@dataclass
class Server:
    base: str
    routes: dict[str, bytes | int | str] = field(default_factory=dict)  # path -> body, HTTP status, or redirect
    hits: list[str] = field(default_factory=list)
    delay: float = 0.0

    def url(self, path: str) -> str:
        return self.base + path


@pytest.fixture
def server() -> Iterator[Server]:
    state = Server(base="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.hits.append(self.path)
            time.sleep(state.delay)
            answer = state.routes.get(self.path.split("?")[0], 404)
            body = answer if isinstance(answer, bytes) else b"nope"
            self.send_response(200 if isinstance(answer, bytes) else 302 if isinstance(answer, str) else answer)
            if isinstance(answer, str):
                self.send_header("Location", answer)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.base = f"http://127.0.0.1:{httpd.server_port}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def store(tmp_path: Path) -> Store:
    opened = open_store(Settings(store="filesystem", data_dir=tmp_path / "data"))
    opened.ensure_bucket()
    return opened


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """A real TF checkpoint's files (ckpt-5.index, ckpt-5.data-00000-of-00001) by name."""
    import tensorflow as tf

    folder = tmp_path_factory.mktemp("ckpt")
    tf.train.Checkpoint(a=tf.Variable(A), b=tf.Variable(B)).write(str(folder / "ckpt-5"))
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def tar_gz(members: dict[str, bytes], mode: str = "w:gz") -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode=mode) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def zipped(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def renamed(files: dict[str, bytes], old: str, new: str, folder: str = "") -> dict[str, bytes]:
    return {folder + name.replace(old, new): data for name, data in files.items()}


def read_back(prefix: Path) -> tuple[np.ndarray, np.ndarray]:
    import tensorflow as tf

    reader = tf.train.load_checkpoint(str(prefix))
    return reader.get_tensor("a/.ATTRIBUTES/VARIABLE_VALUE"), reader.get_tensor("b/.ATTRIBUTES/VARIABLE_VALUE")


def fetch(source: str, store: Store, cache: Path, sha256: str | None = None, **limits: float) -> BaseCheckpoint:
    """fetch_base with the loopback test server's network allowed."""
    return fetch_base(source, store, cache, sha256, checkpoint_fetcher(LOOPBACK, **limits))


def files_under(folder: Path) -> set[str]:
    return {str(path.relative_to(folder)) for path in folder.rglob("*")}


@pytest.mark.slow
def test_url_is_fetched_once_checked_and_kept_in_the_store(
    server: Server, store: Store, tmp_path: Path, ckpt: dict[str, bytes]
) -> None:
    archive = tar_gz({**ckpt, "params.yaml": PARAMS})
    server.routes["/vision/retinanet.tar.gz"] = archive
    url = server.url("/vision/retinanet.tar.gz?token=secret")
    digest = hashlib.sha256(archive).hexdigest()

    base = fetch(url, store, tmp_path / "cache", sha256=digest)

    assert (base.source, base.sha256, base.num_classes) == (url, digest, 5)
    assert base.prefix.name == "ckpt-5" and base.prefix.is_relative_to(tmp_path / "cache" / digest)
    a, b = read_back(base.prefix)
    np.testing.assert_array_equal(a, A)
    np.testing.assert_array_equal(b, B)
    [kept] = list(store.list("cache/checkpoints/"))
    assert kept.key.endswith("/retinanet.tar.gz") and store.get_bytes(kept.key) == archive
    assert len(server.hits) == 1

    again = fetch(url, store, tmp_path / "other-cache")  # a fresh worker: from the store, not the internet
    assert len(server.hits) == 1
    assert (again.sha256, again.num_classes) == (digest, 5)
    np.testing.assert_array_equal(read_back(again.prefix)[0], A)
    assert fetch(url, store, tmp_path / "cache") == base  # extracted folder reused


@pytest.mark.slow
def test_half_extracted_folder_is_redone(server: Server, store: Store, tmp_path: Path, ckpt: dict[str, bytes]) -> None:
    archive = tar_gz(ckpt)
    digest = hashlib.sha256(archive).hexdigest()
    server.routes["/c.tgz"] = archive
    half = tmp_path / "cache" / digest
    half.mkdir(parents=True)
    (half / "junk").write_bytes(b"left by a crash")

    base = fetch(server.url("/c.tgz"), store, tmp_path / "cache", sha256=digest.upper())

    assert base.num_classes is None and not (half / "junk").exists()
    np.testing.assert_array_equal(read_back(base.prefix)[1], B)


@pytest.mark.slow
def test_zip_in_a_subfolder_with_several_checkpoints_uses_the_state_file(
    server: Server, store: Store, tmp_path: Path, ckpt: dict[str, bytes]
) -> None:
    files = {
        **renamed(ckpt, "ckpt-5", "ckpt-5", "model/"),
        **renamed(ckpt, "ckpt-5", "ckpt-9", "model/"),
        "model/checkpoint": b'model_checkpoint_path: "/train/model/ckpt-5"\nall_model_checkpoint_paths: "ckpt-9"\n',
        "params.yaml": PARAMS,
    }
    server.routes["/m.zip"] = zipped(files)

    base = fetch(server.url("/m.zip"), store, tmp_path / "cache")

    assert base.prefix.parts[-2:] == ("model", "ckpt-5") and base.num_classes == 5


@pytest.mark.slow
def test_several_checkpoints_without_state_file_take_the_highest_step(
    server: Server, store: Store, tmp_path: Path, ckpt: dict[str, bytes]
) -> None:
    files = {**renamed(ckpt, "ckpt-5", "ckpt-10"), **renamed(ckpt, "ckpt-5", "ckpt-9")}
    server.routes["/m.tar"] = tar_gz(files, "w")

    assert fetch(server.url("/m.tar"), store, tmp_path / "cache").prefix.name == "ckpt-10"


@pytest.mark.slow
def test_store_prefix_of_another_run(store: Store, tmp_path: Path, ckpt: dict[str, bytes]) -> None:
    run = "jobs/j1/models/r1/"
    for name, data in ckpt.items():
        store.put_bytes(run + "checkpoints/" + name, data)
    store.put_bytes(run + "params.yaml", PARAMS)
    source = store.uri(run + "checkpoints/ckpt-5")

    base = fetch(source, store, tmp_path / "cache")

    assert base.sha256 == hashlib.sha256(ckpt["ckpt-5.index"]).hexdigest()
    assert (base.source, base.num_classes) == (source, 5)
    np.testing.assert_array_equal(read_back(base.prefix)[0], A)
    assert fetch(source, store, tmp_path / "cache", sha256=base.sha256) == base


@pytest.mark.slow
def test_store_archive_object(store: Store, tmp_path: Path, ckpt: dict[str, bytes]) -> None:
    archive = tar_gz(renamed(ckpt, "ckpt-5", "ckpt-5", "inner/"))
    store.put_bytes("uploads/base.tar.gz", archive)

    base = fetch(store.uri("uploads/base.tar.gz"), store, tmp_path / "cache")

    assert base.sha256 == hashlib.sha256(archive).hexdigest() and base.prefix.parent.name == "inner"


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["truncated", "flipped", "missing"])
def test_damaged_data_file_is_invalid(
    damage: str, server: Server, store: Store, tmp_path: Path, ckpt: dict[str, bytes]
) -> None:
    """load_checkpoint reads only the index: these show up when each tensor is read (truncation raises a bare
    IndexError 'Read less bytes than requested', a flipped byte an OpError 'Checksum does not match')."""
    files = dict(ckpt)
    data = files.pop("ckpt-5.data-00000-of-00001")
    if damage == "truncated":
        files["ckpt-5.data-00000-of-00001"] = data[: len(data) // 2]
    elif damage == "flipped":
        files["ckpt-5.data-00000-of-00001"] = data[:-1] + bytes([data[-1] ^ 0xFF])
    server.routes["/d.tar.gz"] = tar_gz(files)

    with pytest.raises(InvalidInput, match="is not a TensorFlow checkpoint"):
        fetch(server.url("/d.tar.gz"), store, tmp_path / "cache")
    assert list(store.list("cache/")) == [] and files_under(tmp_path / "cache") == set()


@pytest.mark.parametrize("status", [404, 403, 410])
def test_client_error_is_invalid_and_hides_the_query(status: int, server: Server, store: Store, tmp_path: Path) -> None:
    server.routes["/gone.tar.gz"] = status
    with pytest.raises(InvalidInput) as caught:
        fetch(server.url("/gone.tar.gz?X-Goog-Signature=secret"), store, tmp_path / "cache")
    assert str(status) in str(caught.value) and server.url("/gone.tar.gz") in str(caught.value)
    assert "secret" not in str(caught.value)


@pytest.mark.parametrize("status", [500, 503, 429])
def test_server_error_is_transient(status: int, server: Server, store: Store, tmp_path: Path) -> None:
    server.routes["/busy.tar.gz"] = status
    with pytest.raises(TransientError, match=str(status)):
        fetch(server.url("/busy.tar.gz"), store, tmp_path / "cache")


def test_timeout_and_refused_connection_are_transient(server: Server, store: Store, tmp_path: Path) -> None:
    server.routes["/slow.tar.gz"], server.delay = b"x", 1.0
    with pytest.raises(TransientError, match=r"no whole answer within 0\.2 s"):
        fetch(server.url("/slow.tar.gz"), store, tmp_path / "cache", deadline=0.2)
    with pytest.raises(TransientError, match=r"failed: .*refused"):
        fetch("http://127.0.0.1:9/x.tar.gz?t=secret", store, tmp_path / "cache")


def test_checksum_mismatch_is_invalid_and_nothing_is_kept(server: Server, store: Store, tmp_path: Path) -> None:
    archive = tar_gz({"a.txt": b"a"})
    server.routes["/c.tar.gz"] = archive
    with pytest.raises(InvalidInput) as caught:
        fetch(server.url("/c.tar.gz"), store, tmp_path / "cache", sha256="0" * 64)
    assert hashlib.sha256(archive).hexdigest() in str(caught.value) and "0" * 64 in str(caught.value)
    assert list(store.list("cache/")) == [] and files_under(tmp_path / "cache") == set()


def test_garbage_and_unsafe_and_empty_archives_are_invalid(server: Server, store: Store, tmp_path: Path) -> None:
    server.routes["/garbage.tar.gz"] = b"<html>not an archive</html>" * 50
    server.routes["/evil.tar"] = tar_gz({"../evil": b"owned", "ckpt-1.index": b""}, "w")
    server.routes["/evil.zip"] = zipped({"../evil": b"owned"})
    server.routes["/empty.zip"] = zipped({"README": b"no checkpoint here"})
    cache = tmp_path / "work" / "cache"
    for path, why in [
        ("/garbage.tar.gz", "not a safe, readable archive"),
        ("/evil.tar", "outside the destination"),
        ("/evil.zip", "outside the destination"),
        ("/empty.zip", "holds no \\*.index file"),
    ]:
        with pytest.raises(InvalidInput, match=f"is not a TensorFlow checkpoint: .*{why}"):
            fetch(server.url(path), store, cache)
    assert files_under(tmp_path / "work") == {"cache"} and list(store.list("cache/")) == []


def test_size_cap(server: Server, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base_checkpoint, "MAX_ARCHIVE_BYTES", 10)
    server.routes["/big.tar"] = b"x" * 11
    with pytest.raises(InvalidInput, match=r"too large: .*over the 10 bytes cap"):
        fetch(server.url("/big.tar"), store, tmp_path / "cache")


def test_sources_that_cannot_be_fetched(store: Store, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with pytest.raises(InvalidInput, match="must be an http"):
        fetch("ftp://example.com/a.tar.gz", store, cache)
    with pytest.raises(InvalidInput, match="must be an http"):
        fetch("/local/ckpt-5", store, cache)
    with pytest.raises(InvalidInput, match="not an object of the filesystem store"):
        fetch("file:///elsewhere/ckpt-5", store, cache)
    with pytest.raises(InvalidInput, match=r"has no jobs/j/ckpt-5\.index"):
        fetch(store.uri("jobs/j/ckpt-5"), store, cache)
    with pytest.raises(InvalidInput, match="does not exist in the store"):
        fetch(store.uri("uploads/none.zip"), store, cache)
    with pytest.raises(InvalidInput, match="not a sha256"):
        fetch(store.uri("uploads/none.zip"), store, cache, sha256="abc")


def test_store_prefix_without_data_files(store: Store, tmp_path: Path) -> None:
    store.put_bytes("jobs/j/ckpt-5.index", b"index")
    with pytest.raises(InvalidInput, match=r"no jobs/j/ckpt-5.data-\* objects"):
        fetch(store.uri("jobs/j/ckpt-5"), store, tmp_path / "cache")
    assert files_under(tmp_path / "cache") == set()


def test_private_addresses_are_refused_unless_allowed(server: Server, store: Store, tmp_path: Path) -> None:
    """A URL given through the API cannot aim the trainer at internal hosts: the loopback server is refused by the
    default fetcher before any request, and a redirect to a loopback address outside the allow-list is refused."""
    server.routes["/base.tar.gz"] = tar_gz({"a.txt": b"a"})
    with pytest.raises(InvalidInput, match="TRANSFERLINE_CHECKPOINT_ALLOW_NETWORKS") as caught:
        fetch_base(server.url("/base.tar.gz?token=secret"), store, tmp_path / "cache")
    assert "127.0.0.1 (loopback), not fetched" in str(caught.value) and "secret" not in str(caught.value)
    assert server.hits == []

    server.routes["/moved.tar.gz"] = server.url("/base.tar.gz").replace("127.0.0.1", "127.0.0.2")
    only_the_server = checkpoint_fetcher(("127.0.0.1/32",))
    with pytest.raises(InvalidInput, match=r"127\.0\.0\.2 \(loopback\), not fetched"):
        fetch_base(server.url("/moved.tar.gz"), store, tmp_path / "cache", fetcher=only_the_server)
    assert server.hits == ["/moved.tar.gz"] and list(store.list("cache/")) == []


def test_settings_give_the_fetcher_its_allow_list_and_deadline() -> None:
    variables = TrainerSettings.variables()
    settings = TrainerSettings.from_env(
        {variables["checkpoint_allow_networks"]: " 10.1.2.3/8, fd00::/8 ", variables["checkpoint_fetch_seconds"]: "9"}
    )
    assert settings.allow_networks == ("10.1.2.3/8", "fd00::/8") and settings.checkpoint_fetch_seconds == 9
    fetcher = checkpoint_fetcher(settings.allow_networks, settings.checkpoint_fetch_seconds)
    assert isinstance(fetcher, Fetcher) and fetcher.deadline == 9
    assert [str(n) for n in fetcher.allow_networks] == ["10.0.0.0/8", "fd00::/8"]
    with pytest.raises(ConfigurationError, match="TRANSFERLINE_CHECKPOINT_ALLOW_NETWORKS"):
        TrainerSettings.from_env({"TRANSFERLINE_CHECKPOINT_ALLOW_NETWORKS": "the office"})
