"""One URL -> one outcome: fetch through the guarded fetcher into a temp file (hashed as it streams), retry what
may pass (429, 503, timeouts; Retry-After honoured), honour opt-outs, judge the bytes, store them by digest.
A `Worker` is a callable over one URL, so a thread pool (or anything else) can run it."""

from __future__ import annotations

import hashlib
import logging
import random
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

from transferline import keys
from transferline.contracts import DownloadOutcome, ImageRecord
from transferline.fetch import HTTP_STATUS, TIMEOUT, Fetched, Fetcher, FetchError, redacted
from transferline.store import Store
from transferline_downloader.inspect import Inspected, Limits, Rejected

log = logging.getLogger(__name__)
RETRY_STATUSES = frozenset({429, 503})
MAX_WAIT_SECONDS = 30.0  # a Retry-After longer than this is not waited for: the URL fails as it stands
_OPT_OUT = re.compile(r"(?:^|[\s,;:])no(?:image)?ai(?:$|[\s,;])", re.IGNORECASE)


@dataclass(frozen=True)
class Result:
    outcome: DownloadOutcome
    record: ImageRecord | None = None  # the stored image, when ok


@dataclass(frozen=True)
class Policy:
    """What a worker needs besides the URL: the store layout, limits and retry rules."""

    job: str
    limits: Limits
    retries: int
    per_host: int
    honour_opt_out: bool
    scratch: Path
    backoff_seconds: float = 0.5


class HostLimiter:
    """At most `limit` fetches to one host at a time, whatever the pool's size."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._hosts: dict[str, threading.BoundedSemaphore] = {}
        self._lock = threading.Lock()

    @contextmanager
    def slot(self, url: str) -> Iterator[None]:
        try:
            host = (urlsplit(url).hostname or "").lower()
        except ValueError:
            host = ""
        with self._lock:
            semaphore = self._hosts.setdefault(host, threading.BoundedSemaphore(self.limit))
        with semaphore:
            yield


Inspector = Callable[[Path, int, Limits], Inspected]  # `inspect`, or the same run in a decoder process


class Worker:
    def __init__(
        self, fetcher: Fetcher, store: Store, policy: Policy, stopping: threading.Event, inspector: Inspector
    ) -> None:
        self.fetcher, self.store, self.policy, self.stopping = fetcher, store, policy, stopping
        self.inspect = inspector
        self.hosts = HostLimiter(policy.per_host)

    def __call__(self, url: str) -> Result:
        started = time.monotonic()
        try:
            result = self._download(url)
        except FetchError as exc:
            detail = str(exc.status) if exc.reason == HTTP_STATUS else exc.detail
            result = _failed(url, exc.reason, detail, exc.url)
        except Rejected as exc:
            result = _failed(url, exc.reason, exc.detail)
        seconds = round(time.monotonic() - started, 3)
        return Result(result.outcome.model_copy(update={"seconds": seconds}), result.record)

    def _download(self, url: str) -> Result:
        with tempfile.NamedTemporaryFile(dir=self.policy.scratch, prefix="body-") as file:
            sink = _HashingSink(file)
            fetched = self._fetch_with_retries(url, sink)
            file.flush()
            if self.policy.honour_opt_out and _opted_out(fetched):
                return _failed(url, "opted-out", "X-Robots-Tag says noai", fetched.url)
            image = self.inspect(Path(file.name), fetched.size, self.policy.limits)
            record = self._store(Path(file.name), sink.sha256(), image, fetched)
        outcome = DownloadOutcome(url=url, status="ok", sha256=record.sha256, final_url=fetched.url)
        return Result(outcome, record.model_copy(update={"url": url}))

    def _fetch_with_retries(self, url: str, sink: _HashingSink) -> Fetched:
        for attempt in range(self.policy.retries + 1):
            sink.reset()
            try:
                with self.hosts.slot(url):
                    return self.fetcher.download(url, sink)
            except FetchError as exc:
                wait = self._retry_wait(exc, attempt)
                if wait is None:
                    raise
                log.debug("retrying", extra={"url": redacted(url), "reason": exc.reason, "wait": wait})
                if self.stopping.wait(wait):
                    raise
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _retry_wait(self, exc: FetchError, attempt: int) -> float | None:
        """Seconds before the next try, or None when this failure is final."""
        retryable = exc.reason == TIMEOUT or (exc.reason == HTTP_STATUS and exc.status in RETRY_STATUSES)
        if not retryable or attempt >= self.policy.retries:
            return None
        if exc.retry_after is not None:
            return exc.retry_after if exc.retry_after <= MAX_WAIT_SECONDS else None
        return random.uniform(0, self.policy.backoff_seconds * 2**attempt)

    def _store(self, path: Path, digest: str, image: Inspected, fetched: Fetched) -> ImageRecord:
        key = keys.image(self.policy.job, digest, image.ext)
        if self.store.stat(key) is None:  # content-addressed: a duplicate is stored once
            self.store.put_file(key, path, f"image/{image.format}")
        return ImageRecord(
            sha256=digest,
            key=key,
            width=image.width,
            height=image.height,
            format=image.format,
            bytes=fetched.size,
            file_name=_file_name(fetched.url),
            global_key=digest,
            phash=image.phash,
        )


class _HashingSink:
    """The temp file the body streams into, hashed as it goes (no second read)."""

    def __init__(self, file: IO[bytes]) -> None:
        self.file = file
        self._sha = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self._sha.update(data)
        return self.file.write(data)

    def reset(self) -> None:
        self.file.seek(0)
        self.file.truncate()
        self._sha = hashlib.sha256()

    def sha256(self) -> str:
        return self._sha.hexdigest()


def _opted_out(fetched: Fetched) -> bool:
    header = next((v for k, v in fetched.headers.items() if k.lower() == "x-robots-tag"), "")
    return bool(_OPT_OUT.search(header))


def _file_name(url: str) -> str | None:
    try:
        name = urlsplit(url).path.rsplit("/", 1)[-1]
    except ValueError:
        return None
    return name[:200] or None


def _failed(url: str, reason: str, detail: str, final_url: str | None = None) -> Result:
    return Result(DownloadOutcome(url=url, status="failed", reason=reason, detail=detail[:500], final_url=final_url))
