"""GET a URL that someone else chose (an export's mask URL, later the downloader's image URLs) without letting it
aim a service at internal hosts or hold it forever.

- Every hop's host is resolved once, each address checked (`blocked`), and the connection made to the checked
  address (so a second DNS answer cannot swap in another); redirects are followed by hand, at most
  `max_redirects`, each hop checked the same way.
- One deadline covers the whole fetch: resolving, connecting, TLS, headers, body and every redirect. A watchdog
  shuts the socket down when it passes, so a server dripping a byte every few seconds is cut off on time.
- The body is capped: a Content-Length over the cap is refused before reading, and reading stops past it.
- Headers that carry secrets (`ScopedHeader`) go only to the hosts they belong to, checked on every hop.
- Every failure is one `FetchError` whose `reason` is one of `REASONS`.
- A host written as a number in any spelling `inet_aton` accepts (decimal `2130706433`, octal `0177.1`, hex
  `0x7f.1`, short `127.1`) is read as the address it means, never looked up, and checked like any other
  (`host_address`, `refused_host`): the spelling cannot get a refused address past the guard.
- `download` streams the body into a file the caller gives (a temp file), so memory stays bounded.

Proxy variables (HTTP_PROXY, ...) are not used: the checked address is the one connected to.
"""

from __future__ import annotations

import heapq
import ipaddress
import itertools
import re
import socket
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from http.client import HTTPException
from typing import NoReturn, Protocol
from urllib.parse import SplitResult, urljoin, urlsplit, urlunsplit

from requests.certs import where as ca_bundle
from requests.utils import requote_uri
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import NewConnectionError
from urllib3.exceptions import TimeoutError as Urllib3Timeout
from urllib3.response import BaseHTTPResponse
from urllib3.util.ssl_match_hostname import CertificateError

from transferline.errors import TransferlineError
from transferline.retry import retry_after_seconds

BLOCKED_ADDRESS = "blocked-address"
TOO_MANY_REDIRECTS = "too-many-redirects"
HTTP_STATUS = "http-status"
TIMEOUT = "timeout"
CONNECTION = "connection"
TOO_LARGE = "too-large"
BAD_URL = "bad-url"
REASONS = (BLOCKED_ADDRESS, TOO_MANY_REDIRECTS, HTTP_STATUS, TIMEOUT, CONNECTION, TOO_LARGE, BAD_URL)

REDIRECTS = frozenset({301, 302, 303, 307, 308})
CHUNK = 64 * 1024
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# IPv6 forms that carry an IPv4 address a gateway may forward to: a private one behind them is as internal.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_HOST = re.compile(r"[A-Za-z0-9._-]+|[0-9A-Fa-f:.]+")  # a DNS name (IDNA-encoded) or an IP address
_INET_PART = re.compile(r"0[xX][0-9a-fA-F]*|0[0-7]*|[1-9][0-9]*")  # what inet_aton reads as a number
_FLAGS = ("is_unspecified", "is_loopback", "is_link_local", "is_multicast", "is_reserved", "is_private")


class Sink(Protocol):
    """Where `Fetcher.download` writes a body (a file, or a file that hashes as it writes)."""

    def write(self, data: bytes, /) -> object: ...


class FetchError(TransferlineError):
    """A fetch that did not return a body; `reason` is one of REASONS (stable, for counters and tests)."""

    def __init__(
        self, reason: str, url: str, detail: str, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(f"GET {redacted(url)}: {detail}")
        self.reason, self.url, self.status = reason, url, status
        self.detail = detail
        self.retry_after = retry_after  # seconds the server asked to wait (Retry-After on a 429 or 503)

    @property
    def transient(self) -> bool:
        """Whether the same fetch may succeed later (a caller's retry policy decides whether to try)."""
        if self.reason == HTTP_STATUS:
            return self.status is not None and (self.status >= 500 or self.status == 429)
        return self.reason in (TIMEOUT, CONNECTION)


@dataclass(frozen=True)
class Fetched:
    url: str  # after redirects
    status: int
    headers: Mapping[str, str]
    content: bytes  # empty when the body went to a file (`Fetcher.download`)
    size: int = 0


@dataclass(frozen=True)
class ScopedHeader:
    """A header (an API key) sent only where it belongs: a host in `hosts` given exactly (`api.example.com`) or
    as a suffix (`.example.com`: any host under example.com, not example.com itself), over one of `schemes`."""

    name: str
    value: str
    hosts: tuple[str, ...]
    schemes: tuple[str, ...] = ("https",)

    def applies_to(self, url: str) -> bool:
        try:
            parts = urlsplit(url)
            host = (parts.hostname or "").rstrip(".")
        except ValueError:
            return False
        return parts.scheme in self.schemes and bool(host) and any(_host_matches(host, p) for p in self.hosts)


def _host_matches(host: str, pattern: str) -> bool:
    pattern = pattern.strip().lower().rstrip(".")
    if pattern.startswith("."):
        return host.endswith(pattern) and len(host) > len(pattern)
    return host == pattern


def parse_networks(cidrs: Iterable[str | Network]) -> tuple[Network, ...]:
    """CIDRs as networks (host bits allowed: 10.1.2.3/8 is 10.0.0.0/8); ValueError naming a bad one."""
    networks = []
    for cidr in cidrs:
        try:
            networks.append(ipaddress.ip_network(cidr, strict=False) if isinstance(cidr, str) else cidr)
        except ValueError:
            raise ValueError(f"{cidr!r} is not a network such as 10.0.0.0/8 or fd00::/8") from None
    return tuple(networks)


def blocked(address: Address, allow: Sequence[Network] = ()) -> str | None:
    """Why a fetch may not connect to `address` ('loopback', 'private', ...), or None when it may: public
    addresses, and any address inside a network of `allow`."""
    if any(address in network for network in allow):  # an address is never in a network of the other version
        return None
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        return blocked(embedded, allow)
    for flag in _FLAGS:
        if getattr(address, flag):
            return flag.removeprefix("is_").replace("_", "-")
    return None if address.is_global else "not-global"  # e.g. 100.64.0.0/10, carrier-grade NAT


def host_address(host: str) -> Address | None:
    """The address a URL's host names when it is a number in any spelling a resolver accepts (IPv6, dotted,
    decimal, octal, hex, 1-3 part short forms), else None (a name, to be resolved)."""
    host = host.strip("[]").rstrip(".")
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    parts = host.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    try:
        numbers = [_inet_number(part) for part in parts]
    except ValueError:
        return None
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(parts)):
        return None
    value = sum(n << (8 * (3 - i)) for i, n in enumerate(head)) + last
    return ipaddress.IPv4Address(value)


def _inet_number(part: str) -> int:
    """One part of an inet_aton spelling: 0x.. hex, 0.. octal, else decimal; ValueError when none."""
    if not _INET_PART.fullmatch(part):
        raise ValueError(part)
    if part[:2].lower() == "0x":
        return int(part[2:] or "0", 16)
    return int(part, 8) if part.startswith("0") else int(part)


def refused_host(host: str, allow: Sequence[Network] = ()) -> str | None:
    """Why a URL host that is an address (in any spelling) may not be fetched, or None when it may or when it is a
    name (names are judged by what they resolve to, every hop)."""
    address = host_address(host)
    return None if address is None else blocked(address, allow)


def _embedded_ipv4(address: Address) -> ipaddress.IPv4Address | None:
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None or address.sixtofour is not None:
        return address.ipv4_mapped or address.sixtofour
    return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF) if address in _NAT64 else None


def redacted(url: str) -> str:
    """The URL without user info, query or fragment (signed URLs carry tokens there), for messages and logs."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc.rpartition("@")[2]
        return urlunsplit((parts.scheme, netloc, parts.path, "", "")) or url[:40]
    except ValueError:
        return "an unreadable URL"


class Fetcher:
    """GETs whole bodies under one policy; thread-safe (it keeps no connection between fetches)."""

    def __init__(
        self,
        *,
        max_bytes: int = 64 * 1024 * 1024,
        deadline: float = 30.0,
        max_redirects: int = 5,
        allow_networks: Iterable[str | Network] = (),
        headers: Sequence[ScopedHeader] = (),
        ca_certs: str | None = None,
        user_agent: str = "transferline",
    ) -> None:
        self.max_bytes, self.deadline, self.max_redirects = max_bytes, deadline, max_redirects
        self.allow_networks = parse_networks(allow_networks)
        self.headers = tuple(headers)
        self.ca_certs = ca_certs or ca_bundle()
        self.user_agent = user_agent

    def get(self, url: str) -> Fetched:
        return self._fetch(url, None)

    def download(self, url: str, sink: Sink) -> Fetched:
        """GET into `sink` (a temp file): the body is never held whole in memory; `size` says how much came."""
        return self._fetch(url, sink)

    def _fetch(self, url: str, sink: Sink | None) -> Fetched:
        watchdog = _Watchdog(self.deadline)
        try:
            for _ in range(self.max_redirects + 1):
                found = self._hop(url, watchdog, sink)
                if isinstance(found, Fetched):
                    return found
                url = found
        finally:
            watchdog.stop()
        raise FetchError(TOO_MANY_REDIRECTS, url, f"more than {self.max_redirects} redirects")

    def _hop(self, url: str, watchdog: _Watchdog, sink: Sink | None) -> Fetched | str:
        """One request: the body, or the URL a redirect points at."""
        target = _Target.parse(url)
        addresses = self._addresses(target, watchdog)
        try:
            connection = self._connect(target, addresses, watchdog)
            try:
                connection.request("GET", target.path, headers=self._request_headers(target), preload_content=False)
                return self._answer(target, connection.getresponse(), watchdog, sink)
            finally:
                connection.close()
        except (OSError, HTTPException, Urllib3Error, CertificateError) as exc:
            _failed(exc, target.url, watchdog)

    def _addresses(self, target: _Target, watchdog: _Watchdog) -> list[Address]:
        literal = host_address(target.host)  # a number in any spelling: what it means, not a lookup
        addresses = [literal] if literal is not None else _resolve(target, watchdog)
        for address in addresses:
            why = blocked(address, self.allow_networks)
            if why is not None:
                raise FetchError(BLOCKED_ADDRESS, target.url, f"{target.host} is at {address} ({why}), not fetched")
        return addresses

    def _connect(self, target: _Target, addresses: list[Address], watchdog: _Watchdog) -> HTTPConnection:
        """A connection to the first of the checked addresses that answers."""
        error: BaseException | None = None
        for address in addresses:
            connection = self._connection(target, address, watchdog.remaining(target.url))
            watchdog.connection = connection
            try:
                connection.connect()
                # The response reads this socket after http.client lets go of it (HTTP/1.0, Connection: close).
                watchdog.sock = connection.sock
                return connection
            except (OSError, Urllib3Error, CertificateError) as exc:
                connection.close()
                error = exc
        assert error is not None  # _resolve never returns an empty list
        raise error

    def _connection(self, target: _Target, address: Address, timeout: float) -> HTTPConnection:
        if target.scheme == "http":
            return HTTPConnection(str(address), target.port, timeout=timeout)
        # TLS to the checked address, with the URL's host name for SNI and certificate verification.
        return HTTPSConnection(
            str(address),
            target.port,
            timeout=timeout,
            server_hostname=target.host,
            assert_hostname=target.host,
            cert_reqs="CERT_REQUIRED",
            ca_certs=self.ca_certs,
        )

    def _request_headers(self, target: _Target) -> dict[str, str]:
        headers = {"Host": target.netloc, "User-Agent": self.user_agent, "Accept-Encoding": "gzip, deflate"}
        headers.update({h.name: h.value for h in self.headers if h.applies_to(target.url)})
        return headers

    def _answer(
        self, target: _Target, response: BaseHTTPResponse, watchdog: _Watchdog, sink: Sink | None
    ) -> Fetched | str:
        location = response.headers.get("Location")
        if response.status in REDIRECTS and location:
            return urljoin(target.url, location)
        if response.status != 200:
            wait = retry_after_seconds(response.headers.get("Retry-After"))
            raise FetchError(HTTP_STATUS, target.url, f"answered HTTP {response.status}", response.status, wait)
        body = bytearray() if sink is None else sink
        size = self._body(target.url, response, watchdog, body)
        content = bytes(body) if isinstance(body, bytearray) else b""
        return Fetched(target.url, response.status, dict(response.headers), content, size)

    def _body(self, url: str, response: BaseHTTPResponse, watchdog: _Watchdog, sink: bytearray | Sink) -> int:
        declared = response.headers.get("Content-Length", "").strip()
        if declared.isdigit() and (len(declared) > 19 or int(declared) > self.max_bytes):
            raise FetchError(TOO_LARGE, url, f"Content-Length {declared[:20]} is over the {_size(self.max_bytes)} cap")
        size = 0
        # read1: one socket read per call, so the cap is checked as the body grows (decoded, so gzip cannot hide)
        while chunk := response.read1(CHUNK):
            size += len(chunk)
            if size > self.max_bytes:
                raise FetchError(TOO_LARGE, url, f"body is over the {_size(self.max_bytes)} cap")
            if isinstance(sink, bytearray):
                sink += chunk
            else:
                sink.write(chunk)
        if watchdog.fired:  # the watchdog's shutdown reads as a clean end of a body without a length
            raise FetchError(TIMEOUT, url, f"no whole answer within {self.deadline:g} s")
        return size


@dataclass(frozen=True)
class _Target:
    """A URL checked and split for one request."""

    url: str
    scheme: str
    host: str  # ASCII (IDNA), no brackets
    port: int
    netloc: str  # for the Host header
    path: str  # path and query, what the request line carries

    @classmethod
    def parse(cls, url: str) -> _Target:
        try:
            given = urlsplit(url)  # the host as written: requoting would percent-encode an IDN host
            parts = urlsplit(requote_uri(url))
            port = given.port or (443 if given.scheme == "https" else 80)
            host = (given.hostname or "").rstrip(".").encode("idna").decode("ascii")
        except (ValueError, UnicodeError) as exc:
            raise FetchError(BAD_URL, url, f"not a usable URL ({exc})") from None
        if given.scheme not in ("http", "https"):
            raise FetchError(BAD_URL, url, f"scheme {given.scheme!r} is not http or https")
        if not host or given.username is not None:
            raise FetchError(BAD_URL, url, "a URL needs a host and no user name or password in it")
        if not _HOST.fullmatch(host):  # refused here, never handed to the resolver
            raise FetchError(BAD_URL, url, f"host {host[:80]!r} is neither a name nor an address")
        netloc = _host_header(host, given.port)
        clean = urlunsplit((given.scheme, netloc, parts.path, parts.query, ""))
        return cls(clean, given.scheme, host, port, netloc, _path(parts))


def _host_header(host: str, port: int | None) -> str:
    """The Host header: the ASCII host (IPv6 in brackets) and the port when the URL gives one."""
    bracketed = f"[{host}]" if ":" in host else host
    return bracketed if port is None else f"{bracketed}:{port}"


def _path(parts: SplitResult) -> str:
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


class _Watchdog:
    """Shuts the current connection's socket down once the deadline passes: a blocked read, TLS handshake or
    header line then ends at once, however slowly the server sends (socket timeouts only bound each read)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.ends = time.monotonic() + seconds
        self.fired = False
        self.stopped = False
        self.connection: HTTPConnection | None = None  # its socket is the TCP one while TLS is being set up
        self.sock: socket.socket | None = None  # the connected (TLS) socket the response reads
        _DEADLINES.watch(self)

    def remaining(self, url: str) -> float:
        left = self.ends - time.monotonic()
        if left <= 0 or self.fired:
            raise FetchError(TIMEOUT, url, f"no whole answer within {self.seconds:g} s")
        return left

    def stop(self) -> None:
        self.stopped = True
        self.connection = self.sock = None  # it waits in the heap until its deadline: hold no socket meanwhile

    def fire(self) -> None:
        self.fired = True
        for sock in (self.sock, getattr(self.connection, "sock", None)):
            if sock is not None:
                with suppress(OSError):  # the plain socket's shutdown, under any TLS layer: reads see the end
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Deadlines:
    """One thread fires every fetch's watchdog when its deadline passes (a timer thread per fetch would cost more
    than a small fetch itself). Stopped watchdogs leave the heap when their deadline comes."""

    def __init__(self) -> None:
        self._due: list[tuple[float, int, _Watchdog]] = []
        self._order = itertools.count()
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def watch(self, watchdog: _Watchdog) -> None:
        with self._changed:
            heapq.heappush(self._due, (watchdog.ends, next(self._order), watchdog))
            if self._thread is None or not self._thread.is_alive():  # started on first use (and after a fork)
                self._thread = threading.Thread(target=self._run, name="fetch-deadlines", daemon=True)
                self._thread.start()
            elif self._due[0][2] is watchdog:
                self._changed.notify()

    def _run(self) -> None:
        with self._changed:
            while True:
                now = time.monotonic()
                while self._due and self._due[0][0] <= now:
                    watchdog = heapq.heappop(self._due)[2]
                    if not watchdog.stopped:
                        watchdog.fire()
                self._changed.wait(self._due[0][0] - now if self._due else None)


_DEADLINES = _Deadlines()


def _resolve(target: _Target, watchdog: _Watchdog) -> list[Address]:
    """The host's addresses, in the resolver's order; the lookup runs in a thread so the deadline holds."""
    found: list[list[Address] | BaseException] = []

    def lookup() -> None:
        try:
            infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
            found.append(list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos)))
        except (OSError, UnicodeError, ValueError) as exc:
            found.append(exc)

    thread = threading.Thread(target=lookup, daemon=True)
    thread.start()
    thread.join(watchdog.remaining(target.url))
    if not found:
        raise FetchError(TIMEOUT, target.url, f"{target.host} did not resolve within {watchdog.seconds:g} s")
    if isinstance(found[0], BaseException) or not found[0]:
        raise FetchError(CONNECTION, target.url, f"cannot resolve {target.host}: {found[0]}")
    return found[0]


def _failed(exc: BaseException, url: str, watchdog: _Watchdog) -> NoReturn:
    """The FetchError for a network-level failure: past the deadline it was the deadline, whatever broke."""
    # NewConnectionError (refused, unreachable) derives from urllib3's ConnectTimeoutError, yet is no timeout.
    timed_out = isinstance(exc, TimeoutError | Urllib3Timeout) and not isinstance(exc, NewConnectionError)
    if watchdog.fired or timed_out:
        raise FetchError(TIMEOUT, url, f"no whole answer within {watchdog.seconds:g} s") from None
    raise FetchError(CONNECTION, url, f"connection failed: {type(exc).__name__}: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [""])[0][:200]


def _size(count: int) -> str:
    return f"{count / 2**20:g} MiB" if count >= 2**20 else f"{count} bytes"
