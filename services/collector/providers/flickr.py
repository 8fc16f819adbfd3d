"""Flickr (keyed): flickr.photos.search at {TRANSFERLINE_FLICKR_URL}/services/rest/, Creative Commons and
public-domain licences only (their ids mapped to codes), pages of up to 500. Errors come with HTTP 200 as
{"stat": "fail", "code", "message"}; code 100 is a bad key."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import requests

from transferline_collector import licences
from transferline_collector.client import ProviderError, http_check
from transferline_collector.providers.base import Hit, Page, Provider, count, hit, obj, objs

PAGE, CAP, BAD_KEY = 500, 4000, 100  # Flickr returns no more than 4,000 distinct results for one search
SIZES = ("l", "c", "o")  # 1024 px first: big enough to label, small enough to fetch


class Flickr(Provider):
    name = "flickr"
    cap = CAP
    key_field = "flickr_api_key"

    def pages(self, query: str, limit: int, allowed: frozenset[str]) -> Iterator[Page]:
        wanted = min(limit, CAP)
        size = min(PAGE, wanted)
        params = {
            "method": "flickr.photos.search",
            "api_key": self.settings.flickr_api_key.get_secret_value(),
            "text": query,
            "license": licences.flickr_ids(allowed),
            "extras": "license,owner_name,url_l,url_c,url_o,o_dims",
            "sort": "relevance",
            "content_type": "1",  # photos only, no screenshots
            "media": "photos",
            "per_page": size,
            "format": "json",
            "nojsoncallback": "1",
        }
        number = 1
        while (number - 1) * size < wanted:
            url = self.settings.flickr_url + "/services/rest/"
            body = self.client.get(url, {**params, "page": number}, self._check)
            photos = obj(body.get("photos"))
            found = objs(photos.get("photo"))
            first = (number - 1) * size + 1
            yield Page(number, [h for i, p in enumerate(found) if (h := _hit(p, first + i)) and h.rank <= wanted])
            if not found or number >= count(photos.get("pages")):
                return
            number += 1

    def _check(self, response: requests.Response, body: Any) -> Any:
        if isinstance(body, dict) and body.get("stat") == "fail":
            if count(body.get("code")) == BAD_KEY:
                raise self.key_rejected(str(body.get("message")))
            raise ProviderError(f"flickr: error {body.get('code')}: {body.get('message')}")
        return http_check(self.name, lambda b: str(b)[:300])(response, body)


def _hit(photo: dict[str, Any], rank: int) -> Hit | None:
    size = next((s for s in SIZES if photo.get(f"url_{s}")), None)
    if size is None:
        return None
    code = licences.flickr(photo.get("license"))
    owner, photo_id = photo.get("owner"), photo.get("id")
    return hit(
        photo.get(f"url_{size}"),
        rank,
        title=photo.get("title"),
        licence=code,
        licence_url=licences.url_of(code, "2.0"),  # Flickr's Creative Commons licences are the 2.0 ones
        creator=photo.get("ownername"),
        landing_page=f"https://www.flickr.com/photos/{owner}/{photo_id}" if owner and photo_id else None,
        width=photo.get(f"width_{size}"),
        height=photo.get(f"height_{size}"),
    )
