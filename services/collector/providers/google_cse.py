"""Google Custom Search JSON API (keyed), kept only while it lives: closed to new customers, it ends for everyone
on 2027-01-01. GET {TRANSFERLINE_GOOGLE_CSE_URL}/customsearch/v1 with searchType=image, 10 results a call and at
most 100 a query (start + num <= 100). Results say nothing of licences (a licence filter drops them all)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import requests

from transferline_collector.client import KeyRejected, Retry, Unusable, error_detail, http_check, retry_after
from transferline_collector.providers.base import Page, Provider, hit, obj, objs
from transferline_collector.settings import CollectorSettings

PAGE, CAP = 10, 100
CLOSES = date(2027, 1, 1)  # developers.google.com/custom-search/v1/overview
_KEY_REASONS = ("keyInvalid", "badRequest", "forbidden", "accessNotConfigured")
_DETAIL = error_detail("status", "message")


class GoogleCse(Provider):
    name = "google_cse"
    cap = CAP
    key_field = "google_cse_api_key"

    @classmethod
    def check_settings(cls, settings: CollectorSettings) -> None:
        if closed():
            raise Unusable(f"google_cse: the Custom Search JSON API closed on {CLOSES}: use another provider")
        super().check_settings(settings)
        if not settings.google_cse_cx:
            raise KeyRejected(f"google_cse needs its search engine id: set {settings.setting('google_cse_cx')}")

    def pages(self, query: str, limit: int, allowed: frozenset[str]) -> Iterator[Page]:
        wanted = min(limit, CAP)
        params = {
            "key": self.settings.google_cse_api_key.get_secret_value(),
            "cx": self.settings.google_cse_cx,
            "q": query,
            "searchType": "image",
            "safe": "active",
        }
        start, number = 1, 1
        while start <= wanted:
            count = min(PAGE, wanted - start + 1)
            page = {**params, "start": start, "num": count}
            body = self.client.get(self.settings.google_cse_url + "/customsearch/v1", page, self._check)
            items = objs(body.get("items"))
            yield Page(number, [h for i, item in enumerate(items[:count]) if (h := _hit(item, start + i))])
            following = (objs(obj(body.get("queries")).get("nextPage")) or [{}])[0].get("startIndex")
            if not items or not isinstance(following, int) or following <= start:
                return
            start, number = following, number + 1

    def _check(self, response: requests.Response, body: Any) -> Any:
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict) and response.status_code in (400, 401, 403):
            reasons = [str(e.get("reason")) for e in objs(error.get("errors"))]
            if any(reason.endswith("LimitExceeded") for reason in reasons):  # the old quota answer: 403
                raise Retry(f"HTTP {response.status_code} {', '.join(reasons)}", retry_after(response))
            if response.status_code != 400 or any(r in _KEY_REASONS for r in reasons):
                said = _DETAIL(body)
                raise self.key_rejected(said + " (the API closed to new customers; it ends on 2027-01-01)")
        return http_check(self.name, _DETAIL)(response, body)


def closed(today: date | None = None) -> bool:
    return (today or datetime.now(UTC).date()) >= CLOSES


def _hit(item: dict[str, Any], rank: int) -> Any:
    image = obj(item.get("image"))
    return hit(
        item.get("link"),
        rank,
        title=item.get("title"),
        landing_page=image.get("contextLink"),
        width=image.get("width"),
        height=image.get("height"),
        mime=item.get("mime"),
    )
