"""S3Store.open_buffered: the response body buffered, so lines iterate and readline(limit) works as on a local file,
and a connection lost mid-body is a TransientError as in get_bytes. The client is stubbed (no MinIO)."""

from __future__ import annotations

import io
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import BinaryIO

import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber
from urllib3.exceptions import ProtocolError

from transferline.errors import TransientError
from transferline.settings import Settings
from transferline.store.filesystem import FilesystemStore
from transferline.store.s3 import S3Store

DATA = b'{"a": 1}\r\n\n  \n' + b"x" * 300_000 + b"\nlast line without its newline"


class Dropping(io.RawIOBase):
    """A response body whose connection drops after its first bytes."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if getattr(self, "sent", False):
            raise ProtocolError("Connection broken: IncompleteRead")
        self.sent = True
        buffer[:4] = b"abc\n"
        return 4


def answering(bodies: list[io.RawIOBase | io.BytesIO]) -> tuple[S3Store, Stubber]:
    store = S3Store(Settings(store="s3", s3_endpoint="http://127.0.0.1:1", s3_access_key="k", s3_secret_key="s"))
    stub = Stubber(store._s3())
    for body in bodies:
        answer = {"Body": StreamingBody(body, len(DATA))}
        stub.add_response("get_object", answer, {"Bucket": store.bucket, "Key": "a/b"})
    return store, stub


READS: dict[str, Callable[[BinaryIO], list[bytes]]] = {
    "lines": list,
    "limited readlines": lambda stream: list(iter(partial(stream.readline, 5000), b"")),
    "head then rest": lambda stream: [stream.read(7), stream.readline(), stream.read()],
}


@pytest.mark.parametrize("read", READS.values(), ids=READS.keys())
def test_an_objects_stream_reads_as_a_local_files(tmp_path: Path, read: Callable[[BinaryIO], list[bytes]]) -> None:
    local = FilesystemStore(tmp_path)
    local.put_bytes("a/b", DATA)
    store, stub = answering([io.BytesIO(DATA)])
    with stub, store.open_buffered("a/b") as remote, local.open_buffered("a/b") as here:
        assert read(remote) == read(here)


def test_a_connection_lost_mid_object_is_transient() -> None:
    store, stub = answering([Dropping()])
    with stub, store.open_buffered("a/b") as stream:
        assert stream.readline() == b"abc\n"
        with pytest.raises(TransientError):
            stream.readline()


def test_closing_the_stream_closes_the_response() -> None:
    body = io.BytesIO(DATA)
    store, stub = answering([body])
    with stub, store.open_buffered("a/b") as stream:
        stream.read(3)
    assert body.closed
