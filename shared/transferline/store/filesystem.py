"""The object store on a local folder, for the embedded mode: objects are files under root/<key>.

Writes go to a hidden temp file in the object's folder, are fsynced, then renamed over the key, so a reader
sees the old object or the new one and a crash mid-write leaves no object (only a temp file `list` skips).

Mounts put local files and folders at keys without copying them: a one-shot command maps the user's `--images`
folder and export files in as inputs (read-only) and its `--out` folder as the stage's output prefix (writable), so
the stage's own `handle` runs over them in the layout `keys.py` defines.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from transferline.errors import InvalidInput
from transferline.store.base import STREAM_BUFFER, ObjectInfo, Store, check_key

log = logging.getLogger(__name__)

CHUNK = 1024 * 1024
# Temp files start with this; keys may not, so a temp file is never mistaken for an object.
TEMP_PREFIX = ".transferline-tmp-"
_ETAG_XATTR = "user.transferline.md5"


@dataclass(frozen=True)
class Mount:
    """A local file (at a key) or folder (at a prefix ending in '/') seen through the store."""

    path: Path
    writable: bool = False


class FilesystemStore(Store):
    def __init__(self, root: Path, mounts: Mapping[str, Mount] | None = None) -> None:
        # Resolved once, so URIs are canonical and the containment check compares like with like.
        self.root = Path(root).resolve()
        self.mounts = {check_key(at, prefix=at.endswith("/")): _resolved(m) for at, m in (mounts or {}).items()}

    def ensure_bucket(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> ObjectInfo:
        return self._write(key, lambda out: out.write(data))

    def create_if_absent(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> bool:
        """The bytes go to a temp file first, then are hard-linked to the key: link(2), like open(O_EXCL), fails
        when the name exists, and unlike O_EXCL no reader ever sees the object half written."""
        path = self._path(key, writing=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        with _temp_beside(path, self._writer(key)) as (temp, out):
            out.write(data)
            out.finish()
            try:
                os.link(temp, path)
            except FileExistsError:
                return False
            finally:
                temp.unlink(missing_ok=True)
        _fsync_dir(path.parent)
        return True

    def put_stream(self, key: str, stream: BinaryIO, content_type: str = "application/octet-stream") -> ObjectInfo:
        def copy(out: _Writer) -> None:
            while chunk := stream.read(CHUNK):
                out.write(chunk)

        return self._write(key, copy)

    def get_bytes(self, key: str) -> bytes:
        with self.open(key) as reader:
            return reader.read()

    def open(self, key: str) -> BinaryIO:
        return self._open(key, buffering=-1)

    def open_buffered(self, key: str) -> BinaryIO:
        return self._open(key, STREAM_BUFFER)  # a file opened "rb" is buffered already, but in smaller reads

    def _open(self, key: str, buffering: int) -> BinaryIO:
        path = self._path(key)
        try:
            return path.open("rb", buffering=buffering)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise KeyError(key) from None

    def download(self, key: str, path: Path) -> None:
        with self.open(key) as reader:
            _atomic_copy(reader, Path(path))

    def stat(self, key: str) -> ObjectInfo | None:
        path = self._path(key)
        try:
            with path.open("rb") as reader:
                info = os.fstat(reader.fileno())
                if self._mount_of(key) is not None:  # a user's own file: not read whole, nor marked, to be named
                    return ObjectInfo(key=key, size=info.st_size, etag=_weak_etag(info))
                return ObjectInfo(key=key, size=info.st_size, etag=_cached_md5(reader.fileno()) or _hashed(reader))
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        check_key(prefix, prefix=True)  # here, not in the generator, so a bad prefix fails at the call
        folder, _, _ = prefix.rpartition("/")
        return self._list(prefix, self._path(folder) if folder else self.root, f"{folder}/" if folder else "")

    def _list(self, prefix: str, start: Path, start_key: str) -> Iterator[ObjectInfo]:
        keys: Iterable[str] = _walk_sorted(start, start_key)
        if self.mounts:  # a mount hides what the root holds under it; few keys, so sorting them all is fine
            keys = sorted({k for k in keys if self._mount_of(k) is None} | set(self._mounted_keys(prefix)))
        for key in keys:
            if key.startswith(prefix):
                info = self.stat(key)
                if info is not None:  # deleted while we walked
                    yield info

    def _mounted_keys(self, prefix: str) -> Iterator[str]:
        for at, mount in self.mounts.items():
            if not (at.startswith(prefix) or prefix.startswith(at)):
                continue
            if not at.endswith("/"):
                yield at
                continue
            for key in _walk_sorted(mount.path, at):
                if not any(part.startswith(".") for part in key[len(at) :].split("/")):  # a folder's hidden files
                    yield key

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            self._path(key, writing=True).unlink()

    def uri(self, key: str) -> str:
        self._path(key)
        return f"file://{self.root}/{key}"

    def key_of(self, uri: str) -> str:
        base = f"file://{self.root}/"
        if not isinstance(uri, str) or not uri.startswith(base):
            raise InvalidInput(f"{uri!r} is not an object of the filesystem store at {self.root}")
        key = uri[len(base) :]
        self._path(key)
        return key

    def presigned_url(self, key: str, expires_seconds: int = 3600) -> str:
        """There is no server in the embedded mode: the file's own URI is the URL (it does not expire); for a
        mounted key that is the mounted file, where a one-shot command's user finds it."""
        return self._path(key).resolve().as_uri() if self._mount_of(key) is not None else self.uri(key)

    def local_path(self, key: str) -> Path | None:
        path = self._path(key)
        return path if path.is_file() else None

    def put_file(self, key: str, path: Path, content_type: str = "application/octet-stream") -> ObjectInfo:
        """A hard link when the file is on the same filesystem (no second copy of the bytes), else a copy."""
        target = self._path(key, writing=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.parent / f"{TEMP_PREFIX}{uuid.uuid4().hex}"
        try:
            os.link(path, temp)
        except OSError:
            with Path(path).open("rb") as stream:
                return self.put_stream(key, stream, content_type)
        os.replace(temp, target)
        _fsync_dir(target.parent)
        info = self.stat(key)
        assert info is not None
        return info

    def _path(self, key: str, writing: bool = False) -> Path:
        """The file behind a key, after refusing keys that could name anything outside the root (or its mount)."""
        check_key(key)
        if any(segment.startswith(TEMP_PREFIX) for segment in key.split("/")):
            raise InvalidInput(f"store key {key!r} is not allowed: {TEMP_PREFIX!r} is reserved for temp files")
        root, path = self.root, self.root / key
        if (at := self._mount_of(key)) is not None:
            mount = self.mounts[at]
            if writing and not mount.writable:
                raise InvalidInput(f"store key {key!r} is an input mounted read-only from {mount.path}")
            root, path = mount.path, mount.path / key[len(at) :] if at.endswith("/") else mount.path
        # Segments are clean, but a symlink inside the root could still point out of it.
        if not path.resolve().is_relative_to(root):
            raise InvalidInput(f"store key {key!r} is not allowed: it resolves outside {root}")
        return path

    def _mount_of(self, key: str) -> str | None:
        """The longest mount covering a key: the key itself, or a folder mount it lies under."""
        found = [at for at in self.mounts if key == at or (at.endswith("/") and key.startswith(at))]
        return max(found, key=len, default=None)

    def _writer(self, key: str) -> type[_Writer]:
        """A mounted key's etag is its size and mtime (see `stat`), so the md5 of what is written there would
        never be read: 34 ms of CPU for the 23 MB a large `transferline convert` writes to --out."""
        return _Writer if self._mount_of(key) is not None else _HashingWriter

    def _write(self, key: str, fill: Callable[[_Writer], object]) -> ObjectInfo:
        path = self._path(key, writing=True)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with _temp_beside(path, self._writer(key)) as (temp, out):
                fill(out)
                out.finish()
                os.replace(temp, path)
        except (FileExistsError, NotADirectoryError, IsADirectoryError) as exc:
            # Only a filesystem has this: a key cannot be both an object and a folder of objects.
            raise InvalidInput(f"store key {key!r} clashes with an existing object or folder: {exc}") from exc
        _fsync_dir(path.parent)
        log.debug("stored object", extra={"key": key, "size": out.size})
        return ObjectInfo(key=key, size=out.size, etag=out.etag)


class _Writer:
    """Writes to a file while counting; its etag is the written file's size and mtime, as a mounted file's."""

    def __init__(self, file: BinaryIO) -> None:
        self.file = file
        self.size = 0
        self.etag = ""  # known once finished

    def write(self, data: bytes) -> None:
        self.file.write(data)
        self.size += len(data)

    def finish(self) -> None:
        """Data on disk before the rename, so a crash cannot leave the key naming an empty file."""
        self.file.flush()
        self.etag = self._etag()
        os.fsync(self.file.fileno())

    def _etag(self) -> str:
        return _weak_etag(os.fstat(self.file.fileno()))


class _HashingWriter(_Writer):
    """Also hashes what it writes, so the etag (the content's md5, kept beside it for `stat`) costs no second
    read."""

    def __init__(self, file: BinaryIO) -> None:
        super().__init__(file)
        self.md5 = hashlib.md5(usedforsecurity=False)

    def write(self, data: bytes) -> None:
        super().write(data)
        self.md5.update(data)

    def _etag(self) -> str:
        md5 = self.md5.hexdigest()
        _remember_md5(self.file.fileno(), md5)
        return md5


@contextlib.contextmanager
def _temp_beside(path: Path, writer: type[_Writer]) -> Iterator[tuple[Path, _Writer]]:
    """A temp file in the target's folder (same filesystem, so os.replace is atomic); removed on failure."""
    fd, name = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=path.parent)
    temp = Path(name)
    try:
        os.fchmod(fd, 0o644)  # mkstemp's 0600 would hide objects from services running as another user
        with os.fdopen(fd, "wb") as file:
            yield temp, writer(file)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _atomic_copy(reader: BinaryIO, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with _temp_beside(target, _HashingWriter) as (temp, out):  # its md5 kept: put_file may link it in
        shutil.copyfileobj(reader, out, CHUNK)
        out.finish()
        os.replace(temp, target)


def _resolved(mount: Mount) -> Mount:
    return Mount(Path(mount.path).resolve(), mount.writable)


def _walk_sorted(folder: Path, key_prefix: str) -> Iterator[str]:
    """Keys under a folder in S3's order (by code point of the whole key), lazily, skipping temp files."""
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return
    # A folder sorts as its name plus '/', which is where its keys fall among its siblings' keys.
    named = sorted((entry.name + ("/" if entry.is_dir(follow_symlinks=False) else ""), entry) for entry in entries)
    for name, entry in named:
        # The store never makes symlinks; following one could leave the root.
        if entry.name.startswith(TEMP_PREFIX) or entry.is_symlink():
            continue
        if name.endswith("/"):
            yield from _walk_sorted(Path(entry.path), key_prefix + name)
        else:
            yield key_prefix + name


def _remember_md5(fd: int, md5: str) -> None:
    """Keep the etag beside the data, so stat and list need not read whole objects to hash them.

    It is stored with the size and mtime it belongs to, so a file changed behind the store's back is rehashed.
    Filesystems without user xattrs just rehash every time.
    """
    info = os.fstat(fd)
    with contextlib.suppress(OSError, AttributeError):
        os.setxattr(fd, _ETAG_XATTR, f"{info.st_size}:{info.st_mtime_ns}:{md5}".encode())


def _weak_etag(info: os.stat_result) -> str:
    """The etag of a file that is sized, not hashed: it changes when the file is rewritten."""
    return f"W/{info.st_size:x}-{info.st_mtime_ns:x}"


def _cached_md5(fd: int) -> str | None:
    info = os.fstat(fd)
    try:
        size, mtime, md5 = os.getxattr(fd, _ETAG_XATTR).decode().split(":")
    except (OSError, AttributeError, UnicodeDecodeError, ValueError):
        return None
    return md5 if (size, mtime) == (str(info.st_size), str(info.st_mtime_ns)) else None


def _hashed(reader: BinaryIO) -> str:
    """The md5 of an object stored without one (a linked file): computed once, then kept beside it."""
    md5 = _md5(reader)
    _remember_md5(reader.fileno(), md5)
    return md5


def _md5(reader: BinaryIO) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    while chunk := reader.read(CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable; some filesystems refuse to open a folder for this, which is fine."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
