"""Capped exponential backoff with full jitter, for work that failed with a TransientError."""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TypeVar

from transferline.errors import TransientError

T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    base_seconds: float
    cap_seconds: float

    def delay(self, attempt: int) -> float:
        """Delay before retry number `attempt` (1-based): random in [0, min(cap, base * 2**(attempt-1))]."""
        return random.uniform(0, min(self.cap_seconds, self.base_seconds * 2 ** (attempt - 1)))


def retry_after_seconds(value: str | None, cap: float = 3600.0) -> float | None:
    """An HTTP Retry-After header in seconds (a number or an HTTP date), at most `cap`; None when absent or
    unreadable. Used by every client that honours it (the fetcher, the collector's providers)."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        seconds = when.timestamp() - time.time()
    return min(max(0.0, seconds), cap) if not math.isnan(seconds) else None


class RetriesExhausted(Exception):
    def __init__(self, attempts: int, last: TransientError) -> None:
        super().__init__(f"gave up after {attempts} attempts: {last}")
        self.attempts = attempts
        self.last = last


def call_with_retries(
    fn: Callable[[], T],
    attempts: int,
    backoff: Backoff,
    stopping: threading.Event,
    on_retry: Callable[[int, TransientError, float], None],
) -> T:
    """Call fn; on TransientError wait and call again, up to `attempts` calls or until `stopping` is set."""
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except TransientError as exc:
            if attempt == attempts or stopping.is_set():
                raise RetriesExhausted(attempt, exc) from exc
            delay = backoff.delay(attempt)
            on_retry(attempt, exc, delay)
            stopping.wait(delay)
    raise AssertionError("unreachable: the loop returns or raises")
