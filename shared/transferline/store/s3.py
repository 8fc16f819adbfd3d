"""The object store on S3-compatible storage (MinIO in every deployment we run).

The boto3 client is made on first use and again in a forked child (a client's connection pool must not be
shared across processes), never at import time. Connection failures and 5xx/throttling answers become
TransientError so the runner retries them; a missing object is KeyError, as the interface says.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, cast

import boto3
import boto3.exceptions
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
    ResponseStreamingError,
)

from transferline.errors import InvalidInput, TransientError
from transferline.settings import Settings
from transferline.store.base import STREAM_BUFFER, ObjectInfo, Store, check_key

log = logging.getLogger(__name__)

MIB = 1024 * 1024
MAX_ATTEMPTS = 4  # botocore's own retries; the runner retries whole units of work on top
CONNECT_TIMEOUT_SECONDS = 5
READ_TIMEOUT_SECONDS = 60

_CONNECTION_ERRORS = (
    EndpointConnectionError,
    ConnectionClosedError,
    ReadTimeoutError,
    ConnectTimeoutError,
    ResponseStreamingError,
    boto3.exceptions.RetriesExceededError,  # download_file gave up after connection failures
)
_MISSING_CODES = {"NoSuchKey", "404", "NotFound"}
_TRANSIENT_CODES = {"SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable", "Throttling"}


class S3Store(Store):
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.bucket = settings.bucket
        self._client: Any = None
        self._pid = 0
        self._lock = threading.Lock()

    def __reduce__(self) -> tuple[type[S3Store], tuple[Settings]]:
        """Pickled as its settings: a worker process opens its own client."""
        return S3Store, (self.settings,)

    def ensure_bucket(self) -> None:
        kwargs: dict[str, Any] = {"Bucket": self.bucket}
        if self.settings.s3_region != "us-east-1":  # us-east-1 is the one region S3 refuses to be told
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.settings.s3_region}
        try:
            with _translate():
                self._s3().create_bucket(**kwargs)
            log.info("created bucket", extra={"bucket": self.bucket})
        except ClientError as exc:
            if _code(exc) != "BucketAlreadyOwnedByYou":
                raise

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> ObjectInfo:
        check_key(key)
        with _translate():
            answer = self._s3().put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)
        return ObjectInfo(key=key, size=len(data), etag=_etag(answer))

    def create_if_absent(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> bool:
        """A conditional PUT (`If-None-Match: *`, which S3 and MinIO honour): 412 when the key exists. A 409
        (another conditional write to the key in flight) is retried until one of them has won."""
        check_key(key)
        while True:
            try:
                with _translate():
                    self._s3().put_object(
                        Bucket=self.bucket, Key=key, Body=data, ContentType=content_type, IfNoneMatch="*"
                    )
                return True
            except ClientError as exc:
                if _status(exc) == 412 or _code(exc) == "PreconditionFailed":
                    return False
                if _status(exc) != 409:
                    raise
            time.sleep(0.05)

    def put_stream(self, key: str, stream: BinaryIO, content_type: str = "application/octet-stream") -> ObjectInfo:
        check_key(key)
        with _translate():
            self._s3().upload_fileobj(
                stream, self.bucket, key, ExtraArgs={"ContentType": content_type}, Config=self._transfer()
            )
        info = self.stat(key)
        if info is None:  # deleted by someone else between our upload and our look
            raise KeyError(key)
        return info

    def get_bytes(self, key: str) -> bytes:
        body = self.open(key)
        try:
            with _translate():
                return body.read()
        finally:
            body.close()

    def open(self, key: str) -> BinaryIO:
        check_key(key)
        with _translate(key):
            answer = self._s3().get_object(Bucket=self.bucket, Key=key)
        # A botocore StreamingBody: read(n), iter_chunks() and close(), enough of BinaryIO for our readers.
        return cast(BinaryIO, answer["Body"])

    def open_buffered(self, key: str) -> BinaryIO:
        """`open`'s body buffered: iterating a StreamingBody gives 1 KiB chunks, not lines, and its readline is
        IOBase's, a read(1) per byte."""
        return io.BufferedReader(_Body(self.open(key)), STREAM_BUFFER)

    def download(self, key: str, path: Path) -> None:
        check_key(key)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with _translate(key):
            # s3transfer writes to a temp name and renames, so a failed download leaves no partial file.
            self._s3().download_file(self.bucket, key, str(path), Config=self._transfer())

    def stat(self, key: str) -> ObjectInfo | None:
        check_key(key)
        try:
            with _translate(key):
                answer = self._s3().head_object(Bucket=self.bucket, Key=key)
        except KeyError:
            return None
        return ObjectInfo(key=key, size=answer["ContentLength"], etag=_etag(answer))

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        check_key(prefix, prefix=True)  # here, not in the generator, so a bad prefix fails at the call
        return self._list(prefix)

    def _list(self, prefix: str) -> Iterator[ObjectInfo]:
        pages = self._s3().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        with _translate():
            for page in pages:
                for item in page.get("Contents", []):
                    yield ObjectInfo(key=item["Key"], size=item["Size"], etag=_etag(item))

    def delete(self, key: str) -> None:
        check_key(key)
        with _translate():
            self._s3().delete_object(Bucket=self.bucket, Key=key)

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{check_key(key)}"

    def key_of(self, uri: str) -> str:
        base = f"s3://{self.bucket}/"
        if not isinstance(uri, str) or not uri.startswith(base):
            raise InvalidInput(f"{uri!r} is not an object of the S3 store's bucket {self.bucket!r}")
        return check_key(uri[len(base) :])

    def presigned_url(self, key: str, expires_seconds: int = 3600) -> str:
        check_key(key)
        # Signing is local (no request is made), so there is nothing to translate.
        return str(
            self._s3().generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_seconds
            )
        )

    def _s3(self) -> Any:
        """The client for this process: made on first use, and again after a fork."""
        pid = os.getpid()
        if self._client is None or self._pid != pid:
            with self._lock:
                if self._client is None or self._pid != pid:
                    self._client = self._new_client()
                    self._pid = pid
        return self._client

    def _new_client(self) -> Any:
        settings = self.settings
        config = Config(
            region_name=settings.s3_region,
            signature_version="s3v4",
            s3={"addressing_style": "path"},  # MinIO serves buckets as paths, not as host names
            retries={"mode": "standard", "max_attempts": MAX_ATTEMPTS},
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            read_timeout=READ_TIMEOUT_SECONDS,
        )
        # A session per client: boto3's default session is shared state and not thread-safe.
        session = boto3.session.Session()
        log.debug("creating S3 client", extra={"endpoint": settings.s3_endpoint, "pid": os.getpid()})
        return session.client(
            "s3",
            endpoint_url=settings.s3_endpoint or None,
            aws_access_key_id=settings.s3_access_key or None,
            aws_secret_access_key=settings.s3_secret_key.get_secret_value() or None,
            config=config,
        )

    def _transfer(self) -> TransferConfig:
        size = self.settings.multipart_threshold_mb * MIB
        return TransferConfig(multipart_threshold=size, multipart_chunksize=size)


class _Body(io.RawIOBase):
    """A response body as a raw stream for io.BufferedReader, its read failures translated as `get_bytes`'s."""

    def __init__(self, body: BinaryIO) -> None:
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        with _translate():
            return int(self._body.readinto(buffer))  # type: ignore[attr-defined]

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()


@contextlib.contextmanager
def _translate(key: str | None = None) -> Iterator[None]:
    """Map botocore failures onto the interface: KeyError (when reading `key`), TransientError, or as is."""
    try:
        yield
    except _CONNECTION_ERRORS as exc:
        raise TransientError(f"object store unreachable or interrupted: {exc}") from exc
    except ClientError as exc:
        code = _code(exc)
        if key is not None and code in _MISSING_CODES:
            raise KeyError(key) from None
        if code in _TRANSIENT_CODES or _status(exc) >= 500:
            raise TransientError(f"object store failed ({code}): {exc}") from exc
        raise


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


def _etag(answer: dict[str, Any]) -> str:
    return str(answer.get("ETag", "")).strip('"')
