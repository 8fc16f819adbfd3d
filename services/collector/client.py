"""Provider API calls: one session per provider, paced, retried with backoff on 429/503 (and what a provider
says is worth retrying, such as MediaWiki's maxlag), honouring Retry-After. Every way a provider can fail ends
in one ProviderError with a message a person can act on, so one provider's failure never stops another's."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

from transferline.errors import Interrupted, TransferlineError
from transferline.retry import Backoff, retry_after_seconds

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
Check = Callable[[requests.Response, Any], Any]


class ProviderError(TransferlineError):
    """A provider gave no (more) results; the message goes into the report."""


class Unusable(ProviderError):
    """The provider cannot be used as configured (its other queries are not tried)."""


class KeyRejected(Unusable):
    """A missing or refused API key: the message names the setting to fix."""


class Retry(Exception):
    """Raised by a check: this answer is worth asking again, after `seconds` (None: the backoff's delay)."""

    def __init__(self, why: str, seconds: float | None = None) -> None:
        super().__init__(why)
        self.why, self.seconds = why, seconds


@dataclass(frozen=True)
class Policy:
    interval: float  # least seconds between the starts of two requests
    attempts: int
    max_wait: float  # a longer Retry-After fails the provider: better than holding a worker for an hour
    timeout: float
    user_agent: str
    backoff_base: float = 1.0


class ApiClient:
    def __init__(
        self,
        provider: str,
        policy: Policy,
        stopping: threading.Event,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.provider, self.policy, self.stopping = provider, policy, stopping
        self.session = requests.Session()
        self.session.headers["User-Agent"] = policy.user_agent
        self.session.trust_env = False  # the settings name the endpoint: no proxy variables in between
        self._sleep = sleep or self._wait
        self._last: float | None = None
        self.requests = 0

    def get(self, url: str, params: dict[str, Any], check: Check, headers: dict[str, str] | None = None) -> Any:
        """The checked JSON answer of GET url?params, after pacing and any retries."""
        backoff = Backoff(self.policy.backoff_base, max(self.policy.max_wait, self.policy.backoff_base))
        for attempt in range(1, self.policy.attempts + 1):
            try:
                return check(*self._send(url, params, headers))
            except Retry as retry:
                why, wait = retry.why, backoff.delay(attempt) if retry.seconds is None else retry.seconds
            except (requests.Timeout, requests.ConnectionError) as exc:
                why, wait = f"{type(exc).__name__}: {str(exc)[:200]}", backoff.delay(attempt)
            if attempt == self.policy.attempts:
                raise ProviderError(f"{self.provider}: gave up after {attempt} tries: {why}")
            if wait > self.policy.max_wait:
                raise ProviderError(
                    f"{self.provider}: {why}; asked to wait {wait:.0f} s, more than "
                    f"TRANSFERLINE_COLLECTOR_MAX_WAIT_SECONDS ({self.policy.max_wait:g})"
                )
            self._sleep(wait)
        raise AssertionError("unreachable: the loop returns or raises")

    def close(self) -> None:
        self.session.close()

    def _send(self, url: str, params: dict[str, Any], headers: dict[str, str] | None) -> tuple[requests.Response, Any]:
        self._pace()
        self.requests += 1
        try:
            response = self.session.get(url, params=params, headers=headers, timeout=self.policy.timeout)
        except requests.exceptions.InvalidURL as exc:
            raise ProviderError(f"{self.provider}: bad URL {url}: {exc}") from None
        try:
            body = response.json()
        except ValueError:  # requests' JSONDecodeError; an HTML error page, say
            body = None
        return response, body

    def _pace(self) -> None:
        now = time.monotonic()
        if self._last is not None and now - self._last < self.policy.interval:
            self._sleep(self.policy.interval - (now - self._last))
        self._last = time.monotonic()

    def _wait(self, seconds: float) -> None:
        if self.stopping.wait(seconds):
            raise Interrupted(f"stopping while waiting for {self.provider}")


def retry_after(response: requests.Response) -> float | None:
    return retry_after_seconds(response.headers.get("Retry-After"))


def error_detail(first: str, second: str) -> Callable[[Any], str]:
    """A provider's {"error": {first, second, ...}} body as "first: second" (Brave: code, detail; Google: status,
    message)."""

    def detail(body: Any) -> str:
        error = body.get("error") if isinstance(body, dict) else None
        return f"{error.get(first)}: {error.get(second)}" if isinstance(error, dict) else str(body)[:300]

    return detail


def http_check(provider: str, detail: Callable[[Any], str]) -> Check:
    """The check every provider starts from: retry 429 and 5xx, fail other errors with the provider's own
    words (`detail(body)`), insist on JSON."""

    def check(response: requests.Response, body: Any) -> Any:
        if response.status_code in RETRY_STATUSES:
            raise Retry(f"HTTP {response.status_code}", retry_after(response))
        if response.status_code >= 400:
            said = detail(body) if body is not None else response.text[:200]
            raise ProviderError(f"{provider}: HTTP {response.status_code}: {said}")
        if body is None:
            raise ProviderError(f"{provider}: the answer is not JSON ({response.headers.get('Content-Type')})")
        if not isinstance(body, dict):
            raise ProviderError(f"{provider}: the answer is JSON but no object ({type(body).__name__})")
        return body

    return check
