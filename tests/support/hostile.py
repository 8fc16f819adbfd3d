"""A hostile image host on loopback for the downloader's tests: good pictures and every way a body can be bad,
slow, huge, lying, redirected or opted out; plus canaries, servers on loopback addresses outside the tests'
allow-list that record any connection (a guard that works leaves them silent)."""

from __future__ import annotations

import io
import socket
import ssl
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from PIL import Image

Route = Callable[[BaseHTTPRequestHandler], None]


def picture(
    kind: str, size: tuple[int, int] = (64, 48), colour: str | tuple[int, int, int] = "teal", frames: int = 1
) -> bytes:
    out = io.BytesIO()
    images = [Image.new("RGB", size, colour), *(Image.new("RGB", size, "white") for _ in range(frames - 1))]
    extra = {"save_all": True, "append_images": images[1:]} if frames > 1 else {}
    images[0].save(out, kind, **extra)
    return out.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height (a decompression bomb's signature) with one tiny data chunk."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def reply(handler: BaseHTTPRequestHandler, body: bytes, status: int = 200, **headers: str) -> None:
    handler.send_response(status)
    named = {"Content-Length": str(len(body))} | {name.replace("_", "-"): value for name, value in headers.items()}
    for name, value in named.items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(body)


def redirect(to: str) -> Route:
    return lambda handler: reply(handler, b"", status=302, Location=to)


def stream_without_length(total: int) -> Route:
    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "image/jpeg")
        handler.send_header("Connection", "close")
        handler.end_headers()
        block = b"\xff\xd8\xff" + b"\0" * (64 * 1024 - 3)
        try:
            for _ in range(total // len(block)):
                handler.wfile.write(block)
        except OSError:
            pass  # the client hung up at its cap, as it should
        handler.close_connection = True

    return route


def drip(every: float, length: int | None = 1000) -> Route:
    """A body of one byte every `every` seconds (with or without a Content-Length)."""

    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        if length is not None:
            handler.send_header("Content-Length", str(length))
        handler.end_headers()
        try:
            for _ in range(length or 1000):
                handler.wfile.write(b"x")
                handler.wfile.flush()
                time.sleep(every)
        except OSError:
            pass  # the client hung up, as it should

    return route


def flaky(failures: int, body: bytes) -> Route:
    """503 (Retry-After: 0) `failures` times, then the body."""
    count = [0]

    def route(handler: BaseHTTPRequestHandler) -> None:
        count[0] += 1
        if count[0] <= failures:
            reply(handler, b"busy", 503, Retry_After="0")
        else:
            reply(handler, body, Content_Type="image/png")

    return route


@dataclass
class Host:
    url: str
    port: int
    seen: list[tuple[str, dict[str, str]]] = field(default_factory=list)  # (path, headers) of each request

    def paths(self) -> list[str]:
        return [path for path, _ in self.seen]

    def user_agents(self) -> set[str]:
        return {headers.get("User-Agent", "") for _, headers in self.seen}


@contextmanager
def serve(routes: dict[str, Route], address: str = "127.0.0.1", tls: ssl.SSLContext | None = None) -> Iterator[Host]:
    """An HTTP(S) server at `address` answering each path with its route (others: 404)."""
    host: list[Host] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            host[0].seen.append((self.path, dict(self.headers)))
            routes.get(self.path, lambda h: reply(h, b"not here", 404))(self)

        def log_message(self, *args: object) -> None:
            pass

    class Server(ThreadingHTTPServer):
        address_family = socket.AF_INET6 if ":" in address else socket.AF_INET
        daemon_threads = True

    httpd = Server((address, 0), Handler)
    if tls is not None:
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    shown, port = f"[{address}]" if ":" in address else address, httpd.server_address[1]
    host.append(Host(f"{'https' if tls else 'http'}://{shown}:{port}", port))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield host[0]
    finally:
        httpd.shutdown()
        httpd.server_close()


@dataclass
class Canary:
    url: str
    connections: list[object] = field(default_factory=list)


@contextmanager
def canary(address: str) -> Iterator[Canary]:
    """A listener that records every connection made to it (and answers nothing)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.bind((address, 0))
    listener.listen()
    listener.settimeout(0.05)
    shown = f"[{address}]" if ":" in address else address
    bird = Canary(f"http://{shown}:{listener.getsockname()[1]}")
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            try:
                connection, peer = listener.accept()
            except TimeoutError:
                continue
            bird.connections.append(peer)
            connection.close()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield bird
    finally:
        stop.set()
        thread.join()
        listener.close()


def picture_from(image: Image.Image, kind: str) -> bytes:
    out = io.BytesIO()
    image.save(out, kind)
    return out.getvalue()
