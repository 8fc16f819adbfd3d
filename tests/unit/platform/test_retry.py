"""Backoff is capped and exponential; only transient errors are retried."""

from __future__ import annotations

import threading
import time

import pytest

from transferline.errors import InvalidInput, TransientError
from transferline.retry import Backoff, RetriesExhausted, call_with_retries


def test_delays_grow_exponentially_and_stay_under_the_cap():
    backoff = Backoff(base_seconds=0.5, cap_seconds=4.0)
    for attempt in range(1, 12):
        bound = min(4.0, 0.5 * 2 ** (attempt - 1))
        assert all(0 <= backoff.delay(attempt) <= bound for _ in range(50))


def test_transient_errors_are_retried_then_given_up():
    calls, waits = [], []

    def flaky():
        calls.append(1)
        raise TransientError("down")

    with pytest.raises(RetriesExhausted, match="gave up after 4 attempts: down"):
        call_with_retries(flaky, 4, Backoff(0.001, 0.002), threading.Event(), lambda a, e, d: waits.append(a))
    assert len(calls) == 4 and waits == [1, 2, 3]


def test_success_after_failures_returns_the_value():
    outcomes = iter([TransientError("1"), TransientError("2"), "ok"])

    def flaky():
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert call_with_retries(flaky, 5, Backoff(0.001, 0.001), threading.Event(), lambda *a: None) == "ok"


def test_invalid_input_is_not_retried():
    calls = []

    def bad():
        calls.append(1)
        raise InvalidInput("no")

    with pytest.raises(InvalidInput):
        call_with_retries(bad, 5, Backoff(0.001, 0.001), threading.Event(), lambda *a: None)
    assert calls == [1]


def test_stopping_ends_the_retries_at_once():
    stopping = threading.Event()
    stopping.set()
    with pytest.raises(RetriesExhausted, match="after 1 attempts"):
        call_with_retries(
            lambda: (_ for _ in ()).throw(TransientError("x")), 9, Backoff(10, 10), stopping, lambda *a: None
        )


def test_retry_after_reads_seconds_and_http_dates_capped_and_refuses_the_rest() -> None:
    from email.utils import formatdate

    from transferline.retry import retry_after_seconds

    assert retry_after_seconds("5") == 5.0 and retry_after_seconds(" 1.5 ") == 1.5
    assert retry_after_seconds("-3") == 0.0 and retry_after_seconds("99999") == 3600.0
    assert 50 < (retry_after_seconds(formatdate(time.time() + 60, usegmt=True)) or 0) <= 60
    for unreadable in (None, "", "soon", "nan", "Wed, 21 Oct 2015 07:28:00"):  # the last has no zone
        assert retry_after_seconds(unreadable) is None
