"""Image-search providers played by a real HTTP server on loopback, answering in the shapes their docs and client
code show (FORMATS.md §7): Openverse, the MediaWiki Action API, Brave, Flickr and Google Custom Search.

Each `play_*` returns a responder: a function from the request to an `Answer`. `serve_api` runs one and records
every request, so tests can check what was asked (page sizes, continuation, keys) as well as what came back.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from transferline_collector.settings import CollectorSettings

PROVIDERS = ("openverse", "wikimedia", "brave", "flickr", "google_cse")
NOWHERE = "http://127.0.0.1:9"  # loopback, nothing listening: a provider a test did not serve never leaves the host
FAST = {f"{name}_interval_seconds": 0.0 for name in PROVIDERS} | {f"{name}_url": NOWHERE for name in PROVIDERS}


@dataclass(frozen=True)
class Asked:
    path: str
    params: dict[str, str]
    headers: dict[str, str]


@dataclass(frozen=True)
class Answer:
    body: Any
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


Responder = Callable[[Asked], Answer]


@dataclass
class FakeApi:
    url: str
    asked: list[Asked]


@contextmanager
def serve_api(respond: Responder) -> Iterator[FakeApi]:
    asked: list[Asked] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            self._answer(Asked(parts.path, dict(parse_qsl(parts.query)), dict(self.headers.items())))

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = dict(parse_qsl(self.rfile.read(length).decode()))
            self._answer(Asked(urlsplit(self.path).path, form, dict(self.headers.items())))

        def _answer(self, request: Asked) -> None:
            asked.append(request)
            answer = respond(request)
            data = answer.body if isinstance(answer.body, bytes) else json.dumps(answer.body).encode()
            self.send_response(answer.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            """Tests read answers, not access logs."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield FakeApi(f"http://127.0.0.1:{server.server_address[1]}", asked)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def collector_settings(**fields: Any) -> CollectorSettings:
    """Every provider on loopback and unpaced, unless `fields` point one at a fake server."""
    return CollectorSettings.model_validate({**FAST, **fields})


def image_url(provider: str, number: int) -> str:
    """On loopback too: a chained download stage that read these would never leave the host."""
    return f"{NOWHERE}/{provider}/{number}.jpg"


def throttled(respond: Responder, times: int = 1, retry_after: str = "3") -> Responder:
    """The first `times` requests get 429 with Retry-After (DRF's body), then `respond` answers."""
    left = [times]

    def answer(request: Asked) -> Answer:
        if left[0] > 0:
            left[0] -= 1
            detail = {"detail": f"Request was throttled. Expected available in {retry_after} seconds."}
            return Answer(detail, 429, {"Retry-After": retry_after})
        return respond(request)

    return answer


def play_openverse(total: int, token: str | None = None) -> Responder:
    """`total` results over pages; page_size > 20 without a token is a 401, as the real API answers."""

    def respond(request: Asked) -> Answer:
        if request.path == "/v1/auth_tokens/token/":
            if token and request.params.get("client_secret") == "secret":
                return Answer({"access_token": token, "expires_in": 36000, "token_type": "Bearer"})
            return Answer({"error": "invalid_client"}, 401)
        size, page = int(request.params.get("page_size", 20)), int(request.params.get("page", 1))
        if size > 20 and request.headers.get("Authorization") != f"Bearer {token}":
            return Answer({"detail": "Authentication credentials were not provided."}, 401)
        if size > 50 or page * size > 240:  # past the token's page size, or a page reaching past the depth
            return Answer({"detail": {"page_size": ["Ensure this value is within the allowed range."]}}, 400)
        available = min(total, 240)
        first = (page - 1) * size
        results = [_openverse_result(n) for n in range(first + 1, min(first + size, available) + 1)]
        pages = -(-available // size)
        return Answer({"result_count": total, "page_count": pages, "page_size": size, "page": page, "results": results})

    return respond


def _openverse_result(n: int) -> dict[str, Any]:
    licence = ("by", "by-sa", "cc0", "by-nc")[n % 4]
    return {
        "id": f"id-{n}",
        "title": f"Bottle {n}",
        "url": image_url("openverse", n),
        "width": 640,
        "height": 480,
        "filetype": "jpg",
        "license": licence,
        "license_version": "4.0",
        "license_url": f"https://creativecommons.org/licenses/{licence}/4.0/",
        "creator": f"Creator {n}",
        "attribution": f'"Bottle {n}" by Creator {n} is licensed under CC {licence.upper()} 4.0.',
        "foreign_landing_url": f"https://www.flickr.com/photos/x/{n}",
        "provider": "flickr",
        "source": "flickr",
        "mature": False,
    }


def play_wikimedia(total: int, per_call: int | None = None, maxlag_first: bool = False) -> Responder:
    """A search generator over `total` files, continued with gsroffset; the first call may be a maxlag error
    (HTTP 200, MediaWiki-API-Error header, Retry-After), as the Action API answers when replicas lag."""
    lagged = [maxlag_first]

    def respond(request: Asked) -> Answer:
        if lagged[0]:
            lagged[0] = False
            error = {"code": "maxlag", "info": "Waiting for 10.64.48.23: 7 seconds lagged.", "lag": 7}
            return Answer({"error": error}, 200, {"MediaWiki-API-Error": "maxlag", "Retry-After": "5"})
        if "User-Agent" not in request.headers or "transferline" not in request.headers["User-Agent"]:
            return Answer({"error": {"code": "forbidden", "info": "Use a descriptive User-Agent"}}, 403)
        limit = per_call or int(request.params["gsrlimit"])
        offset = int(request.params.get("gsroffset", 0))
        numbers = range(offset + 1, min(offset + limit, total) + 1)
        pages = [_wikimedia_page(n) for n in reversed(numbers)]  # unordered: `index` is the rank
        body: dict[str, Any] = {"batchcomplete": True, "query": {"pages": pages}}
        if offset + limit < total:
            body["continue"] = {"gsroffset": offset + limit, "continue": "gsroffset||"}
        return Answer(body)

    return respond


def _wikimedia_page(n: int) -> dict[str, Any]:
    video = n == 3  # the File namespace holds videos too
    name = f"Bottle_{n}.{'webm' if video else 'jpg'}"
    meta = {
        "LicenseShortName": {"value": "CC BY-SA 4.0", "source": "commons-desc-page"},
        "LicenseUrl": {"value": "https://creativecommons.org/licenses/by-sa/4.0", "source": "commons-desc-page"},
        "Artist": {"value": f'<a href="//commons.wikimedia.org/wiki/User:A{n}" title="User:A{n}">Artist&nbsp;{n}</a>'},
        "AttributionRequired": {"value": "true"},
    }
    info = {
        "url": f"https://upload.wikimedia.test/{name}",
        "descriptionurl": f"https://commons.wikimedia.test/wiki/File:{name}",
        "thumburl": f"https://upload.wikimedia.test/thumb/{name}/1024px-{name}" + (".jpg" if video else ""),
        "thumbwidth": 1024,
        "thumbheight": 768,
        "width": 4000,
        "height": 3000,
        "mime": "video/webm" if video else "image/jpeg",
        "extmetadata": meta,
    }
    return {"pageid": 1000 + n, "ns": 6, "title": f"File:{name}", "index": n, "imageinfo": [info]}


def play_brave(key: str, total: int) -> Responder:
    def respond(request: Asked) -> Answer:
        if request.headers.get("X-Subscription-Token") != key:
            error = {"id": "e1", "status": 422, "code": "SUBSCRIPTION_TOKEN_INVALID", "detail": "The token is invalid."}
            return Answer({"type": "ErrorResponse", "error": error}, 422)
        count = min(int(request.params["count"]), total)
        results = [
            {
                "type": "image_result",
                "title": f"Brave bottle {n}",
                "url": f"https://pages.test/brave/{n}",
                "source": "pages.test",
                "thumbnail": {"src": f"https://imgs.search.brave.test/{n}", "width": 500, "height": 400},
                "properties": {"url": image_url("brave", n), "width": 1200, "height": 900},
                "meta_url": {"hostname": "pages.test"},
                "confidence": "high",
            }
            for n in range(1, count + 1)
        ]
        return Answer({"type": "images", "query": {"original": request.params["q"]}, "results": results})

    return respond


def play_flickr(key: str, total: int) -> Responder:
    def respond(request: Asked) -> Answer:
        if request.params.get("api_key") != key:
            return Answer({"stat": "fail", "code": 100, "message": "Invalid API Key (Key has invalid format)"})
        size, page = int(request.params["per_page"]), int(request.params["page"])
        first = (page - 1) * size
        photos = [_flickr_photo(n) for n in range(first + 1, min(first + size, total) + 1)]
        pages = -(-total // size)  # Flickr sends these as strings at times
        body = {"page": page, "pages": str(pages), "perpage": size, "total": str(total), "photo": photos}
        return Answer({"photos": body, "stat": "ok"})

    return respond


def _flickr_photo(n: int) -> dict[str, Any]:
    return {
        "id": str(5000 + n),
        "owner": "12345@N00",
        "title": f"Flickr bottle {n}",
        "license": ("4", "5", "9", "10")[n % 4],
        "ownername": f"Owner {n}",
        "url_l": image_url("flickr", n),
        "height_l": "768",
        "width_l": 1024,
    }


def play_google_cse(key: str, total: int) -> Responder:
    def respond(request: Asked) -> Answer:
        if request.params.get("key") != key:
            error = {
                "code": 400,
                "message": "API key not valid. Please pass a valid API key.",
                "status": "INVALID_ARGUMENT",
            }
            return Answer({"error": {**error, "errors": [{"reason": "badRequest", "domain": "global"}]}}, 400)
        start, num = int(request.params["start"]), int(request.params["num"])
        items = [
            {
                "kind": "customsearch#result",
                "title": f"Google bottle {n}",
                "link": image_url("google", n),
                "mime": "image/jpeg",
                "fileFormat": "image/jpeg",
                "image": {"contextLink": f"https://pages.test/google/{n}", "width": 800, "height": 600},
            }
            for n in range(start, min(start + num - 1, total) + 1)
        ]
        queries: dict[str, Any] = {"request": [{"startIndex": start, "count": num}]}
        if start + num <= min(total, 100):
            queries["nextPage"] = [{"startIndex": start + num, "count": num}]
        return Answer({"kind": "customsearch#search", "queries": queries, "items": items})

    return respond
