"""Openverse (keyless): GET {TRANSFERLINE_OPENVERSE_URL}/v1/images/. Anonymous pages hold at most 20 results
(more is a 401) and a query at most 240; client credentials allow pages of up to 50 (FORMATS.md §7; the API's
api/constants/restricted_features.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import requests

from transferline_collector import licences
from transferline_collector.client import ProviderError, http_check
from transferline_collector.providers.base import Page, Provider, count, hit, objs

# A token allows pages of 50; 48 divides the 240-result depth, so no page reaches past it (anonymous: 12 x 20).
ANONYMOUS_PAGE, TOKEN_PAGE, CAP = 20, 48, 240


class Openverse(Provider):
    name = "openverse"
    cap = CAP

    def pages(self, query: str, limit: int, allowed: frozenset[str]) -> Iterator[Page]:
        headers = self._auth()
        size = min(TOKEN_PAGE if headers else ANONYMOUS_PAGE, limit)
        params: dict[str, Any] = {"q": query, "page_size": size, "mature": "false"}
        if allowed:
            params["license"] = ",".join(sorted(allowed & set(licences.CODES)))
        check = http_check(self.name, _detail)
        wanted, number = min(limit, CAP), 1
        while (number - 1) * size < wanted:
            url = self.settings.openverse_url + "/v1/images/"
            body = self.client.get(url, {**params, "page": number}, check, headers)
            results = objs(body.get("results"))
            first = (number - 1) * size + 1
            yield Page(number, [h for i, r in enumerate(results) if (h := _hit(r, first + i)) and h.rank <= wanted])
            if not results or number >= count(body.get("page_count")):
                return
            number += 1

    def _auth(self) -> dict[str, str]:
        """A bearer token from the client credentials, when they are set (bigger pages: fewer requests)."""
        client_id, secret = self.settings.openverse_client_id, self.settings.openverse_client_secret
        if not client_id or not secret.get_secret_value():
            return {}
        form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret.get_secret_value()}
        url = self.settings.openverse_url + "/v1/auth_tokens/token/"
        try:
            answer = self.client.session.post(url, data=form, timeout=self.client.policy.timeout)
        except requests.RequestException as exc:
            raise ProviderError(f"openverse: token request failed: {exc}") from None
        try:
            token = answer.json().get("access_token") if answer.ok else None
        except (ValueError, AttributeError):  # not JSON, or no object
            token = None
        if not token:
            raise ProviderError(
                f"openverse refused TRANSFERLINE_OPENVERSE_CLIENT_ID / _CLIENT_SECRET: HTTP {answer.status_code}"
            )
        return {"Authorization": f"Bearer {token}"}


def _hit(result: dict[str, Any], rank: int) -> Any:
    code = licences.from_name(result.get("license"))
    filetype = result.get("filetype")
    return hit(
        result.get("url"),
        rank,
        title=result.get("title"),
        licence=code,
        licence_url=result.get("license_url") or licences.url_of(code, result.get("license_version") or "4.0"),
        creator=result.get("creator"),
        attribution=result.get("attribution"),
        landing_page=result.get("foreign_landing_url"),
        width=result.get("width"),
        height=result.get("height"),
        mime=f"image/{'jpeg' if filetype == 'jpg' else filetype}" if filetype else None,
    )


def _detail(body: Any) -> str:
    return str(body.get("detail", body))[:300] if isinstance(body, dict) else str(body)[:300]
