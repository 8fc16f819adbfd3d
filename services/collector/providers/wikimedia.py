"""Wikimedia Commons (keyless): the MediaWiki Action API at {TRANSFERLINE_WIKIMEDIA_URL}/w/api.php, a search
generator over the File namespace with each file's imageinfo and licence metadata (FORMATS.md §7). Errors come
with HTTP 200; `maxlag` asks to come back after Retry-After."""

from __future__ import annotations

import mimetypes
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

import requests

from transferline_collector import licences
from transferline_collector.client import ProviderError, Retry, http_check, retry_after
from transferline_collector.providers.base import Hit, Page, Provider, count, hit, obj, objs

PAGE, CAP, MAXLAG = 50, 10_000, 5  # only 50 files a call get a scaled thumburl; CirrusSearch stops at 10,000
METADATA = "LicenseShortName|LicenseUrl|Artist|UsageTerms|AttributionRequired|ObjectName"


class Wikimedia(Provider):
    name = "wikimedia"
    cap = CAP

    def pages(self, query: str, limit: int, allowed: frozenset[str]) -> Iterator[Page]:
        wanted = min(limit, CAP)
        params: dict[str, Any] = {
            "action": "query",
            "format": "json",
            "formatversion": "2",
            "generator": "search",
            "gsrsearch": query,
            "gsrnamespace": "6",
            "gsrlimit": min(PAGE, wanted),
            "prop": "imageinfo",
            "iiprop": "url|size|mime|extmetadata",
            "iiurlwidth": "1024",
            "iiextmetadatafilter": METADATA,
            "maxlag": MAXLAG,
        }
        continuation: dict[str, Any] = {}
        number, taken = 1, 0
        while taken < wanted:  # every round takes at least one file or ends: a `continue` without end cannot loop
            body = self.client.get(self.settings.wikimedia_url + "/w/api.php", {**params, **continuation}, _check)
            found = sorted(_pages(body), key=lambda page: count(page.get("index")))[: wanted - taken]
            taken += len(found)
            yield Page(number, [h for h in (_hit(page) for page in found) if h is not None])
            continuation = obj(body.get("continue"))
            if not continuation or not found:
                return
            number += 1


def _check(response: requests.Response, body: Any) -> Any:
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        code, info = error.get("code", ""), error.get("info", "")
        if code in ("maxlag", "ratelimited"):
            raise Retry(f"{code}: {info}"[:300], retry_after(response) or MAXLAG)
        raise ProviderError(f"wikimedia: {code}: {info}"[:400])
    return http_check("wikimedia", lambda b: str(b)[:300])(response, body)


def _pages(body: dict[str, Any]) -> list[dict[str, Any]]:
    pages = obj(body.get("query")).get("pages")
    return objs(list(pages.values()) if isinstance(pages, dict) else pages)  # an object without formatversion=2


def _hit(page: dict[str, Any]) -> Hit | None:
    info = (objs(page.get("imageinfo")) or [{}])[0]
    meta = obj(info.get("extmetadata"))
    thumb = info.get("thumburl")
    code = licences.from_name(_meta(meta, "LicenseShortName") or _meta(meta, "UsageTerms"))
    return hit(
        thumb or info.get("url"),
        count(page.get("index")),
        title=_meta(meta, "ObjectName") or str(page.get("title", "")).removeprefix("File:") or None,
        licence=code,
        licence_url=_meta(meta, "LicenseUrl") or licences.url_of(code),
        creator=_meta(meta, "Artist"),
        attribution=_attribution(meta),
        landing_page=info.get("descriptionurl"),
        width=info.get("thumbwidth") if thumb else info.get("width"),
        height=info.get("thumbheight") if thumb else info.get("height"),
        mime=_mime(info.get("mime"), thumb),
    )


def _mime(original: Any, thumb: Any) -> str | None:
    """The thumbnail's type (an SVG's is PNG); a video's or PDF's own, so the collector drops it."""
    original, thumb = (value if isinstance(value, str) else None for value in (original, thumb))
    if original and not original.startswith("image/"):
        return original
    return (mimetypes.guess_type(thumb)[0] if thumb else None) or original


def _attribution(meta: dict[str, Any]) -> str | None:
    if _meta(meta, "AttributionRequired") != "true":
        return None
    parts = [_meta(meta, "Artist"), _meta(meta, "LicenseShortName")]
    return ", ".join(part for part in parts if part) or None


def _meta(meta: dict[str, Any], name: str) -> str | None:
    """An extmetadata value as plain text (they may hold HTML: an Artist is often a link)."""
    value = obj(meta.get(name)).get("value")
    if value is None:
        return None
    text = _Text.of(str(value))
    return text or None


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)

    @classmethod
    def of(cls, markup: str) -> str:
        parser = cls()
        parser.feed(markup)
        parser.close()
        return " ".join("".join(parser.parts).split())
