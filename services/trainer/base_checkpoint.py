"""The base (pretrained) checkpoint a run starts from: fetched once, checked, cached, extracted safely.

A source is an http(s) URL of an archive (.tar, .tar.gz/.tgz, .zip), or a URI of our store naming an archive
object or a checkpoint prefix (`<prefix>.index` + `<prefix>.data-*`). A URL is fetched through the platform's
fetcher, as the downloader fetches images: a URL given through the API cannot aim the trainer at private, loopback
or link-local addresses (unless allowed), on any redirect hop. Its archive is kept in the store under
keys.checkpoint_cache, so the internet is asked once for every worker. Each worker extracts under
`cache_dir/<sha256>/`: built in a temp folder, verified with TensorFlow, marked complete, then renamed into place,
so a half-built folder is never used.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import re
import shutil
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO
from urllib.parse import urlsplit

import yaml

from transferline import keys
from transferline.errors import InvalidInput, TransientError
from transferline.fetch import BLOCKED_ADDRESS, TOO_LARGE, Fetcher, FetchError
from transferline.store import Store

log = logging.getLogger(__name__)

MAX_ARCHIVE_BYTES = 8 * 1024**3
MAX_EXTRACTED_BYTES = 4 * MAX_ARCHIVE_BYTES  # refuses archive bombs
ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".zip")
MARKER = "complete.json"  # written last in a cache folder: its prefix and num_classes
_SHA256 = re.compile(r"[0-9a-f]{64}")
_STEP = re.compile(r"-(\d+)$")
_STATE = re.compile(r'^model_checkpoint_path:\s*"(.*)"\s*$', re.MULTILINE)
_BAD_ARCHIVE = (tarfile.TarError, zipfile.BadZipFile, gzip.BadGzipFile, EOFError, zlib.error, NotImplementedError)


@dataclass(frozen=True)
class BaseCheckpoint:
    prefix: Path  # local prefix for tf.train.Checkpoint.read / tf.train.load_checkpoint (".../ckpt-33264")
    source: str  # what the user named
    sha256: str  # digest of the archive (or of the .index file for a store prefix)
    num_classes: int | None  # task.model.num_classes from a params.yaml beside the checkpoint, else None


def fetch_base(
    source: str, store: Store, cache_dir: Path, sha256: str | None = None, fetcher: Fetcher | None = None
) -> BaseCheckpoint:
    """The checkpoint `source` names, on local disk. InvalidInput for what a person must fix; TransientError
    (server errors, timeouts, lost connections) for what a retry may cure. `fetcher` fetches URLs (default: public
    addresses only, an hour's deadline)."""
    expected = _expected_digest(sha256)
    cache_dir.mkdir(parents=True, exist_ok=True)
    if expected and (done := _cached(cache_dir / expected, source, expected)):
        return done
    scheme = urlsplit(source).scheme.lower() if isinstance(source, str) else ""
    if scheme in ("http", "https"):
        return _from_url(source, store, cache_dir, expected, fetcher or checkpoint_fetcher())
    if scheme in ("s3", "file"):
        key = store.key_of(source)
        if key.endswith(ARCHIVE_SUFFIXES) or store.stat(key) is not None:
            return _from_store_archive(source, key, store, cache_dir, expected)
        return _from_store_prefix(source, key, store, cache_dir, expected)
    shown = _shown(source) if isinstance(source, str) else repr(source)
    raise InvalidInput(f"base checkpoint {shown} must be an http(s) URL or a URI of the store (s3:// or file://)")


def _from_url(url: str, store: Store, cache_dir: Path, expected: str | None, fetcher: Fetcher) -> BaseCheckpoint:
    shown = _shown(url)
    key = keys.checkpoint_cache(_text_digest(url), PurePosixPath(urlsplit(url).path).name or "archive")
    with _temp_file(cache_dir) as archive:
        digest = _stored_copy(store, key, archive)
        if digest is not None and (not expected or digest == expected):
            return _unpack(archive, cache_dir, digest, url, shown)
        digest = _download(url, archive, fetcher)
        _check_digest(shown, digest, expected)
        base = _unpack(archive, cache_dir, digest, url, shown)
        with archive.open("rb") as stream:  # only once it proved to be a checkpoint
            store.put_stream(key, stream)
        return base


def _from_store_archive(source: str, key: str, store: Store, cache_dir: Path, expected: str | None) -> BaseCheckpoint:
    with _temp_file(cache_dir) as archive:
        digest = _stored_copy(store, key, archive)
        if digest is None:
            raise InvalidInput(f"base checkpoint {source} does not exist in the store")
        _check_digest(source, digest, expected)
        return _unpack(archive, cache_dir, digest, source, source)


def _from_store_prefix(source: str, key: str, store: Store, cache_dir: Path, expected: str | None) -> BaseCheckpoint:
    with _temp_file(cache_dir) as index:
        digest = _stored_copy(store, key + ".index", index)
        if digest is None:
            raise InvalidInput(f"{source} is not a TensorFlow checkpoint: the store has no {key}.index")
        _check_digest(source, digest, expected)
        if done := _cached(cache_dir / digest, source, digest):
            return done
        fill = lambda files: _copy_prefix(store, key, index, files, source)  # noqa: E731
        return _publish(cache_dir, digest, source, source, fill)


def _copy_prefix(store: Store, key: str, index: Path, files: Path, shown: str) -> Path:
    """The checkpoint's files from the store, and params.yaml from its folder or the one above (a run's)."""
    name = key.rpartition("/")[2]
    files.mkdir(parents=True)
    shutil.copyfile(index, files / f"{name}.index")
    data = [info.key for info in store.list(f"{key}.data-")]
    if not data:
        raise InvalidInput(f"{shown} is not a TensorFlow checkpoint: the store has no {key}.data-* objects")
    for data_key in data:
        store.download(data_key, files / data_key.rpartition("/")[2])
    folder = key.rpartition("/")[0]
    for where in [folder, folder.rpartition("/")[0]] if folder else [""]:
        if _stored_copy(store, f"{where}/params.yaml" if where else "params.yaml", files / "params.yaml"):
            break
    return files / name


def _stored_copy(store: Store, key: str, path: Path) -> str | None:
    """Download an object and return its sha256, or None when there is no such object."""
    try:
        store.download(key, path)
    except KeyError:
        return None
    return _file_digest(path)


def checkpoint_fetcher(allow_networks: tuple[str, ...] = (), deadline: float = 3600.0) -> Fetcher:
    """The fetcher for base checkpoint URLs: archives up to MAX_ARCHIVE_BYTES within `deadline` seconds."""
    return Fetcher(max_bytes=MAX_ARCHIVE_BYTES, deadline=deadline, allow_networks=allow_networks)


class _HashingFile:
    """A file that hashes what is written to it: the archive's sha256 without reading it back."""

    def __init__(self, out: BinaryIO) -> None:
        self.out, self.digest = out, hashlib.sha256()

    def write(self, data: bytes, /) -> None:
        self.digest.update(data)
        self.out.write(data)


def _download(url: str, archive: Path, fetcher: Fetcher) -> str:
    """Stream a URL to a file and return its sha256. The query string (it may hold a token) is never shown."""
    shown = _shown(url)
    log.info("downloading base checkpoint", extra={"url": shown})
    with archive.open("wb") as out:
        sink = _HashingFile(out)
        try:
            fetcher.download(url, sink)
        except FetchError as exc:
            raise _fetch_failure(exc, shown) from None
    return sink.digest.hexdigest()


def _fetch_failure(exc: FetchError, shown: str) -> InvalidInput | TransientError:
    if exc.transient:  # the server's trouble, a timeout or a lost connection: a retry may cure it
        return TransientError(f"downloading {shown} failed: {exc.detail}")
    if exc.reason == TOO_LARGE:
        return InvalidInput(f"{shown} is too large: {exc.detail}")
    if exc.reason == BLOCKED_ADDRESS:
        allow = "allow an internal mirror with TRANSFERLINE_CHECKPOINT_ALLOW_NETWORKS"
        return InvalidInput(f"cannot download {shown}: {exc.detail}; {allow}")
    return InvalidInput(f"cannot download {shown}: {exc.detail}")


def _unpack(archive: Path, cache_dir: Path, digest: str, source: str, shown: str) -> BaseCheckpoint:
    if done := _cached(cache_dir / digest, source, digest):
        return done
    return _publish(cache_dir, digest, source, shown, lambda files: _extract(archive, files, shown))


def _publish(cache_dir: Path, digest: str, source: str, shown: str, fill: Callable[[Path], Path]) -> BaseCheckpoint:
    """Build `cache_dir/<digest>` in a temp folder (`fill` writes the files, returns the prefix), verify, mark, rename.
    A worker that loses the race to rename uses the winner's folder."""
    final, temp = cache_dir / digest, Path(tempfile.mkdtemp(prefix=".tmp-", dir=cache_dir))
    try:
        prefix = fill(temp / "files")
        _verify(prefix, shown)
        params = _find_params(prefix.parent, temp / "files")
        marker = {"prefix": str(prefix.relative_to(temp)), "num_classes": _num_classes(params)}
        (temp / MARKER).write_text(json.dumps(marker))
        if final.exists() and not (final / MARKER).exists():
            shutil.rmtree(final)  # left half-built by an older crash
        try:
            os.rename(temp, final)
        except OSError:
            log.info("base checkpoint extracted by another worker first", extra={"path": str(final)})
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    done = _cached(final, source, digest)
    if done is None:
        raise TransientError(f"could not place the base checkpoint in {final}")
    return done


def _cached(folder: Path, source: str, digest: str) -> BaseCheckpoint | None:
    try:
        marker = json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return BaseCheckpoint(folder / marker["prefix"], source, digest, marker["num_classes"])


def _extract(archive: Path, files: Path, shown: str) -> Path:
    """Unpack safely (nothing may land outside `files`), then choose the one checkpoint it holds."""
    files.mkdir(parents=True)
    try:
        if zipfile.is_zipfile(archive):
            _extract_zip(archive, files, shown)
        else:
            with tarfile.open(archive, "r:*") as tar:
                total = 0
                for member in tar:
                    total += member.size
                    _check_extracted(total, shown)
                    tar.extract(member, files, filter="data")  # refuses absolute, '..', links out, devices
    except _BAD_ARCHIVE as exc:
        raise InvalidInput(f"{shown} is not a TensorFlow checkpoint: not a safe, readable archive ({exc})") from None
    return _choose_prefix(files, shown)


def _extract_zip(archive: Path, files: Path, shown: str) -> None:
    root = files.resolve()
    with zipfile.ZipFile(archive) as zipped:
        members = zipped.infolist()
        _check_extracted(sum(member.file_size for member in members), shown)
        for member in members:
            if member.filename.startswith("/") or not (root / member.filename).resolve().is_relative_to(root):
                raise zipfile.BadZipFile(f"member {member.filename!r} would land outside the destination")
        zipped.extractall(root)


def _check_extracted(total: int, shown: str) -> None:
    if total > MAX_EXTRACTED_BYTES:
        raise InvalidInput(f"{shown} would unpack to more than {MAX_EXTRACTED_BYTES} bytes")


def _choose_prefix(files: Path, shown: str) -> Path:
    """The only checkpoint; among several, the one a `checkpoint` state file names, else the highest step."""
    why = f"{shown} is not a TensorFlow checkpoint"
    prefixes = sorted(path.with_suffix("") for path in files.rglob("*.index") if path.is_file())
    if len(prefixes) <= 1:
        if not prefixes:
            raise InvalidInput(f"{why}: it holds no *.index file")
        return prefixes[0]
    named = {
        state.parent / PurePosixPath(path).name
        for state in files.rglob("checkpoint")
        if state.is_file()
        for path in _STATE.findall(state.read_text(errors="replace"))
    }
    if len(chosen := [prefix for prefix in prefixes if prefix in named]) == 1:
        return chosen[0]
    steps = sorted((int(found.group(1)), prefix) for prefix in prefixes if (found := _STEP.search(prefix.name)))
    if steps and (len(steps) == 1 or steps[-1][0] > steps[-2][0]):
        return steps[-1][1]
    names = ", ".join(str(prefix.relative_to(files)) for prefix in prefixes)
    raise InvalidInput(f"{why}: it holds several checkpoints ({names}) and nothing says which one to use")


def _verify(prefix: Path, shown: str) -> None:
    """Open the checkpoint and read every tensor: load_checkpoint alone reads only the index, so a missing or
    truncated .data file (IndexError from the reader) or a flipped byte (checksum OpError) shows only here."""
    import tensorflow as tf

    try:
        reader = tf.train.load_checkpoint(str(prefix))
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    except (tf.errors.OpError, IndexError, ValueError) as exc:
        raise InvalidInput(f"{shown} is not a TensorFlow checkpoint: {getattr(exc, 'message', exc)}") from None


def _find_params(folder: Path, files: Path) -> Path | None:
    """params.yaml beside the checkpoint or in a folder above it, inside what was fetched."""
    for where in (folder, *folder.parents):
        if (where / "params.yaml").is_file():
            return where / "params.yaml"
        if where == files:
            break
    return None


class _ParamsLoader(yaml.SafeLoader):
    """safe_load, plus the `!!python/tuple` yaml.dump writes for tuples (read as lists)."""


_ParamsLoader.add_constructor("tag:yaml.org,2002:python/tuple", lambda loader, node: loader.construct_sequence(node))


def _num_classes(params: Path | None) -> int | None:
    if params is None:
        return None
    try:
        node: object = yaml.load(params.read_text(), Loader=_ParamsLoader)  # a SafeLoader
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        log.warning("params.yaml unreadable, num_classes unknown", extra={"path": str(params), "error": str(exc)})
        return None
    for part in ("task", "model", "num_classes"):
        node = node.get(part) if isinstance(node, dict) else None
    return node if isinstance(node, int) and not isinstance(node, bool) else None


def _expected_digest(sha256: str | None) -> str | None:
    if sha256 is None:
        return None
    digest = str(sha256).strip().lower()
    if not _SHA256.fullmatch(digest):
        raise InvalidInput(f"sha256 {sha256!r} is not a sha256 hex digest")
    return digest


def _check_digest(shown: str, got: str, expected: str | None) -> None:
    if expected and got != expected:
        raise InvalidInput(f"{shown} has sha256 {got}, not the {expected} the request names")


def _shown(url: str) -> str:
    """A URL fit for messages and logs: no user:password, query or fragment (tokens live there)."""
    parts = urlsplit(url)
    return parts._replace(netloc=parts.netloc.rpartition("@")[2], query="", fragment="").geturl()


def _text_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _file_digest(path: Path) -> str:
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


@contextmanager
def _temp_file(folder: Path) -> Iterator[Path]:
    fd, name = tempfile.mkstemp(prefix=".tmp-", dir=folder)
    os.close(fd)
    try:
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)
