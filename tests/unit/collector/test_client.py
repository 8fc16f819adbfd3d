"""The provider client on its own: pacing between requests, Retry-After as seconds or an HTTP date, backoff when
a provider gives none, and a stop request that ends a wait. Waits are recorded as numbers, never timed."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from tests.support.providers import Answer, serve_api, throttled
from transferline.errors import Interrupted
from transferline.retry import retry_after_seconds
from transferline_collector.client import ApiClient, Policy, ProviderError, http_check

CHECK = http_check("test", str)


def client(waits: list[float] | None, interval: float = 0.0, attempts: int = 3, stopping=None) -> ApiClient:
    policy = Policy(interval=interval, attempts=attempts, max_wait=60, timeout=10, user_agent="transferline-test")
    return ApiClient("test", policy, stopping or threading.Event(), None if waits is None else waits.append)


def test_requests_are_spaced_by_the_provider_s_interval() -> None:
    waits: list[float] = []
    with serve_api(lambda _: Answer({"ok": True})) as api:
        paced = client(waits, interval=30.0)
        assert [paced.get(api.url, {}, CHECK) for _ in range(3)] == [{"ok": True}] * 3
    assert len(waits) == 2 and all(0 < wait <= 30.0 for wait in waits)  # asked to wait out what was left


def test_a_503_without_retry_after_backs_off_then_gives_up_naming_the_status() -> None:
    waits: list[float] = []
    with serve_api(lambda _: Answer({"detail": "down"}, 503)) as api, pytest.raises(ProviderError) as failed:
        client(waits, attempts=3).get(api.url, {}, CHECK)
    assert "gave up after 3 tries: HTTP 503" in str(failed.value) and len(waits) == 2
    assert all(0 <= wait <= 60 for wait in waits)


def test_retry_after_as_an_http_date() -> None:
    waits: list[float] = []
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=40), usegmt=True)
    with serve_api(throttled(lambda _: Answer({"ok": 1}), retry_after=later)) as api:
        assert client(waits).get(api.url, {}, CHECK) == {"ok": 1}
    assert len(waits) == 1 and 30 < waits[0] <= 40


def test_an_unreadable_retry_after_is_no_wait_asked() -> None:
    assert retry_after_seconds("soon") is None


def test_stopping_ends_a_wait_as_interrupted() -> None:
    stopping = threading.Event()
    stopping.set()
    with serve_api(throttled(lambda _: Answer({"ok": 1}), retry_after="30")) as api, pytest.raises(Interrupted):
        client(None, stopping=stopping).get(api.url, {}, CHECK)


def test_an_error_page_that_is_not_json_is_said_plainly() -> None:
    with serve_api(lambda _: Answer(b"<html>oops</html>")) as api, pytest.raises(ProviderError, match="not JSON"):
        client([]).get(api.url, {}, CHECK)
