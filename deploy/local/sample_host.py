"""The internet the demo cannot reach, played on loopback by one HTTP server: an image host serving the bundled
sample's pictures, Openverse answering the sample's one query (FORMATS.md §7), and a model zoo serving the base
checkpoint. The services reach it through their ordinary settings (the Openverse base URL, the downloader's
allow-list), so the code path is the one real hosts take."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

HOST = "{host}"  # how the sample's URL list and Openverse answer name this server
NOTHING = {"result_count": 0, "page_count": 0, "page_size": 20, "page": 1, "results": []}


@dataclass(frozen=True)
class SampleHost:
    url: str  # http://127.0.0.1:<port>
    query: str  # the one query the Openverse stand-in answers

    def resolve(self, text: str) -> str:
        return text.replace(HOST, self.url)

    def model(self, path: Path) -> str:
        return f"{self.url}/models/{path.name}"


@contextmanager
def serve_sample(sample: Path, base: Path) -> Iterator[SampleHost]:
    """sample/images/* at /images/, Openverse's /v1/images/ (sample/openverse.json) and `base` at /models/."""
    images = {path.name: path for path in (sample / "images").glob("*.jpg")}
    played = json.loads((sample / "openverse.json").read_text())
    answers: dict[str, Any] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            name = parts.path.rpartition("/")[2]
            if parts.path.startswith("/images/") and name in images:
                self._send(images[name].read_bytes(), "image/jpeg")
            elif parts.path == f"/models/{base.name}":
                self._send(base.read_bytes(), "application/gzip")
            elif parts.path == "/v1/images/":
                query = dict(parse_qsl(parts.query)).get("q", "")
                self._send(json.dumps(answers.get(query, NOTHING)).encode(), "application/json")
            else:
                self.send_error(404)

        def _send(self, data: bytes, content_type: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            """The demo's terminal shows progress bars, not access logs."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    host = SampleHost(f"http://127.0.0.1:{server.server_port}", played["query"])
    answers[host.query] = json.loads(host.resolve(json.dumps(played["response"])))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield host
    finally:
        server.shutdown()
        server.server_close()
