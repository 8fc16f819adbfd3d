"""Brave Search images (keyed): GET {TRANSFERLINE_BRAVE_URL}/res/v1/images/search with the key in
X-Subscription-Token. Up to 200 results in one call; no paging parameter is documented, so one page per query.
Results say nothing of licences (a licence filter drops them all)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import requests

from transferline_collector.client import error_detail, http_check
from transferline_collector.providers.base import Page, Provider, hit, obj, objs

CAP = 200
_KEY_CODES = ("SUBSCRIPTION_TOKEN_INVALID", "SUBSCRIPTION_TOKEN_MISSING", "UNAUTHORIZED")
_DETAIL = error_detail("code", "detail")


class Brave(Provider):
    name = "brave"
    cap = CAP
    key_field = "brave_api_key"

    def pages(self, query: str, limit: int, allowed: frozenset[str]) -> Iterator[Page]:
        params = {"q": query, "count": min(limit, CAP), "safesearch": "strict"}
        headers = {"X-Subscription-Token": self.settings.brave_api_key.get_secret_value(), "Accept": "application/json"}
        body = self.client.get(self.settings.brave_url + "/res/v1/images/search", params, self._check, headers)
        results = objs(body.get("results"))
        yield Page(1, [h for i, r in enumerate(results[:limit], start=1) if (h := _hit(r, i))])

    def _check(self, response: requests.Response, body: Any) -> Any:
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict) and (error.get("code") in _KEY_CODES or response.status_code in (401, 403)):
            raise self.key_rejected(_DETAIL(body))
        return http_check(self.name, _DETAIL)(response, body)


def _hit(result: dict[str, Any], rank: int) -> Any:
    properties = obj(result.get("properties"))
    return hit(
        properties.get("url"),
        rank,
        title=result.get("title"),
        landing_page=result.get("url"),
        width=properties.get("width"),
        height=properties.get("height"),
    )
