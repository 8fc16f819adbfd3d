"""The guarded fetcher: which addresses it refuses (decided without sending a packet), redirects checked hop by
hop, one deadline for the whole fetch, the size cap, scoped secrets, TLS to the checked address, stable reasons.
Every server here is on loopback; a refused address is never connected to."""

from __future__ import annotations

import datetime
import gzip
import ipaddress
import ssl
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from tests.support.hostile import drip, redirect, reply, serve
from transferline.fetch import (
    BAD_URL,
    BLOCKED_ADDRESS,
    CONNECTION,
    HTTP_STATUS,
    REASONS,
    TIMEOUT,
    TOO_LARGE,
    TOO_MANY_REDIRECTS,
    Fetcher,
    FetchError,
    ScopedHeader,
    blocked,
    parse_networks,
    redacted,
)

LOOPBACK = ["127.0.0.0/8"]
Route = Callable[[BaseHTTPRequestHandler], None]


def failure(fetcher: Fetcher, url: str) -> FetchError:
    with pytest.raises(FetchError) as caught:
        fetcher.get(url)
    assert caught.value.reason in REASONS
    return caught.value


# ---- the address decision, on addresses alone (nothing is sent) ----


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("127.0.0.1", "loopback"),
        ("127.10.20.30", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),  # the cloud metadata service
        ("224.0.0.1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("100.64.0.1", "not-global"),  # carrier-grade NAT
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fd00::1", "private"),
        ("ff02::1", "multicast"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
        ("::ffff:10.0.0.1", "private"),
        ("2002:7f00:1::", "loopback"),  # 6to4 around 127.0.0.1
        ("64:ff9b::a00:1", "private"),  # NAT64 around 10.0.0.1
        ("93.184.215.14", None),
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
        ("::ffff:8.8.8.8", None),
    ],
)
def test_which_addresses_are_refused(address: str, why: str | None) -> None:
    assert blocked(ipaddress.ip_address(address)) == why


def test_the_allow_list_lets_exactly_its_networks_through() -> None:
    allow = parse_networks(["127.0.0.0/8", "10.20.0.0/16"])
    assert blocked(ipaddress.ip_address("127.0.0.1"), allow) is None
    assert blocked(ipaddress.ip_address("::ffff:127.0.0.1"), allow) is None  # the same address, mapped
    assert blocked(ipaddress.ip_address("10.20.3.4"), allow) is None
    assert blocked(ipaddress.ip_address("10.21.0.1"), allow) == "private"
    assert blocked(ipaddress.ip_address("::1"), allow) == "loopback"  # IPv6 loopback is not in 127.0.0.0/8


def test_networks_are_parsed_and_a_bad_one_is_named() -> None:
    assert parse_networks(["10.1.2.3/8"]) == (ipaddress.ip_network("10.0.0.0/8"),)
    with pytest.raises(ValueError, match=r"'10\.0\.0\.0/33' is not a network"):
        parse_networks(["10.0.0.0/33"])


@pytest.mark.parametrize(
    ("url", "applies"),
    [
        ("https://api.labelbox.com/masks/1", True),
        ("https://API.LabelBox.com./masks/1", True),  # case and a trailing dot are the same host
        ("https://storage.labelbox.com/x", True),
        ("https://eu.storage.labelbox.com/x", True),  # the suffix entry
        ("https://api.labelbox.com:8443/x", True),
        ("http://api.labelbox.com/masks/1", False),  # a bearer token never travels in clear text
        ("https://labelbox.com/x", False),  # '.labelbox.com' is the hosts under it, not itself
        ("https://labelbox.com.evil.net/x", False),
        ("https://evillabelbox.com/x", False),
        ("https://api.labelbox.com@evil.net/x", False),  # user info, not the host
        ("https://evil.net/#@api.labelbox.com", False),
        ("https://127.0.0.1/x", False),
        ("https://[::1/x", False),  # unparsable
    ],
)
def test_a_scoped_header_goes_only_to_its_hosts_over_its_schemes(url: str, applies: bool) -> None:
    key = ScopedHeader("Authorization", "Bearer k", ("api.labelbox.com", ".labelbox.com"))
    assert key.applies_to(url) is applies


def test_messages_leave_out_queries_and_user_info() -> None:
    assert redacted("https://u:p@host.test/m.png?token=secret#x") == "https://host.test/m.png"
    error = FetchError(HTTP_STATUS, "https://host.test/m?token=secret", "answered HTTP 404", 404)
    assert "secret" not in str(error) and str(error) == "GET https://host.test/m: answered HTTP 404"


# ---- fetching from loopback servers ----


def test_a_body_is_fetched_and_redirects_followed_when_allowed() -> None:
    with serve({"/a": redirect("/b"), "/b": lambda h: reply(h, b"hello")}) as server:
        fetched = Fetcher(allow_networks=LOOPBACK).get(f"{server.url}/a")
    assert (fetched.status, fetched.content, fetched.url) == (200, b"hello", f"{server.url}/b")
    assert server.paths() == ["/a", "/b"]


def test_loopback_is_refused_by_default_and_never_connected_to() -> None:
    with serve({"/m.png": lambda h: reply(h, b"png")}) as server:
        by_ip = failure(Fetcher(), f"{server.url}/m.png")
        by_name = failure(Fetcher(), f"http://localhost:{server.port}/m.png")  # resolved from the hosts file
    assert by_ip.reason == by_name.reason == BLOCKED_ADDRESS
    assert "127.0.0.1 (loopback)" in str(by_ip)
    assert server.seen == []


def test_every_redirect_hop_is_checked() -> None:
    """Allowed: 127.0.0.1 only. The redirect's target, 127.0.0.2, is loopback too but outside the list."""
    with serve({"/start": lambda h: reply(h, b"", status=302, Location="http://127.0.0.2:9/inside")}) as server:
        error = failure(Fetcher(allow_networks=["127.0.0.1/32"]), f"{server.url}/start")
    assert error.reason == BLOCKED_ADDRESS and "127.0.0.2 (loopback)" in str(error)
    assert server.paths() == ["/start"]


def test_redirects_are_capped() -> None:
    with serve({"/loop": redirect("/loop")}) as server:
        error = failure(Fetcher(allow_networks=LOOPBACK, max_redirects=3), f"{server.url}/loop")
    assert error.reason == TOO_MANY_REDIRECTS
    assert server.paths() == ["/loop"] * 4  # the first request and three redirects


@pytest.mark.parametrize(("status", "transient"), [(404, False), (403, False), (503, True), (429, True)])
def test_an_error_status_is_an_http_status_failure(status: int, transient: bool) -> None:
    with serve({"/x": lambda h: reply(h, b"no", status=status)}) as server:
        error = failure(Fetcher(allow_networks=LOOPBACK), f"{server.url}/x")
    assert (error.reason, error.status, error.transient) == (HTTP_STATUS, status, transient)
    assert f"answered HTTP {status}" in str(error)


def test_a_declared_length_over_the_cap_is_refused_before_reading() -> None:
    with serve({"/big": lambda h: reply(h, b"x" * 5000)}) as server:
        error = failure(Fetcher(allow_networks=LOOPBACK, max_bytes=1000), f"{server.url}/big")
    assert error.reason == TOO_LARGE and "Content-Length 5000" in str(error)


def test_reading_stops_past_the_cap_when_no_length_is_declared() -> None:
    def endless(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.end_headers()  # no Content-Length: the body ends when the connection closes
        try:
            for _ in range(100_000):  # 6 GiB, were it all read
                handler.wfile.write(b"x" * 65536)
        except OSError:
            pass

    with serve({"/endless": endless}) as server:
        started = time.monotonic()
        error = failure(Fetcher(allow_networks=LOOPBACK, max_bytes=1 << 20), f"{server.url}/endless")
    assert error.reason == TOO_LARGE and "body is over the 1 MiB cap" in str(error)
    assert time.monotonic() - started < 5


def test_the_cap_counts_decoded_bytes_so_gzip_cannot_hide_a_large_body() -> None:
    bomb = gzip.compress(b"\0" * (8 << 20))  # 8 MiB inflated from a few KiB
    route = {"/bomb": lambda h: reply(h, bomb, Content_Encoding="gzip")}
    with serve(route) as server:
        error = failure(Fetcher(allow_networks=LOOPBACK, max_bytes=1 << 20), f"{server.url}/bomb")
    assert len(bomb) < 1 << 20 and error.reason == TOO_LARGE


def test_a_body_shorter_than_its_length_is_a_connection_failure() -> None:
    with serve({"/short": lambda h: reply(h, b"abc", Content_Length="100")}) as server:
        error = failure(Fetcher(allow_networks=LOOPBACK), f"{server.url}/short")
    assert error.reason == CONNECTION and error.transient
    assert "IncompleteRead" in str(error) and "\n" not in str(error)


def test_a_server_dripping_a_byte_every_5_s_is_cut_at_the_deadline() -> None:
    with serve({"/drip": drip(every=5)}) as server:
        started = time.monotonic()
        error = failure(Fetcher(allow_networks=LOOPBACK, deadline=1.5), f"{server.url}/drip")
    assert error.reason == TIMEOUT and "within 1.5 s" in str(error)
    assert 1.4 < time.monotonic() - started < 3


def test_the_deadline_is_for_the_whole_fetch_not_each_read() -> None:
    """Bytes every 0.2 s never trip a per-read timeout; the total deadline still ends the fetch, with or without
    a Content-Length (without one, the cut must not pass for the end of the body)."""
    for length in (1000, None):
        with serve({"/drip": drip(every=0.2, length=length)}) as server:
            started = time.monotonic()
            error = failure(Fetcher(allow_networks=LOOPBACK, deadline=1.0), f"{server.url}/drip")
        assert error.reason == TIMEOUT, length
        assert time.monotonic() - started < 2.5


def test_slowly_sent_headers_are_cut_at_the_deadline_too() -> None:
    def slow_headers(handler: BaseHTTPRequestHandler) -> None:
        try:
            for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx":
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
                time.sleep(0.2)
        except OSError:
            pass

    with serve({"/slow": slow_headers}) as server:
        started = time.monotonic()
        error = failure(Fetcher(allow_networks=LOOPBACK, deadline=1.0), f"{server.url}/slow")
    assert error.reason == TIMEOUT and time.monotonic() - started < 2.5


def test_the_deadline_covers_redirects_together() -> None:
    def late(handler: BaseHTTPRequestHandler) -> None:
        time.sleep(0.6)
        reply(handler, b"", status=302, Location="/late")

    with serve({"/late": late}) as server:
        started = time.monotonic()
        error = failure(Fetcher(allow_networks=LOOPBACK, deadline=1.5, max_redirects=10), f"{server.url}/late")
    assert error.reason == TIMEOUT and time.monotonic() - started < 2.5
    assert 2 <= len(server.seen) <= 3  # each hop alone is quick; together they pass the deadline


def test_a_refused_connection_is_a_connection_failure() -> None:
    with serve({}) as server:
        port = server.port
    error = failure(Fetcher(allow_networks=LOOPBACK), f"http://127.0.0.1:{port}/gone")
    assert error.reason == CONNECTION and "Connection refused" in str(error)


@pytest.mark.parametrize(
    "url",
    ["ftp://127.0.0.1/x", "file:///etc/passwd", "http://", "http://user:pw@127.0.0.1/x", "http://[::1/x", "x"],
)
def test_unusable_urls_are_bad_urls(url: str) -> None:
    assert failure(Fetcher(allow_networks=LOOPBACK), url).reason == BAD_URL


def test_a_scoped_header_is_sent_to_its_host_and_dropped_on_a_redirect_elsewhere() -> None:
    key = ScopedHeader("Authorization", "Bearer s3cret", ("127.0.0.1",), schemes=("http",))
    fetcher = Fetcher(allow_networks=LOOPBACK, headers=[key])
    with serve({"/m.png": lambda h: reply(h, b"png")}) as server:
        assert fetcher.get(f"{server.url}/m.png").content == b"png"
        with serve({"/first": redirect(f"http://localhost:{server.port}/m.png")}) as first:
            assert fetcher.get(f"{first.url}/first").content == b"png"  # on to 'localhost': another host name
    sent = [(path, headers.get("Authorization")) for path, headers in first.seen + server.seen]
    assert sent == [("/first", "Bearer s3cret"), ("/m.png", "Bearer s3cret"), ("/m.png", None)]


# ---- TLS: the connection goes to the checked address, the certificate is checked against the URL's host ----


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 'localhost' only (not for 127.0.0.1)."""
    crypto = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    name = crypto.Name([crypto.NameAttribute(crypto.oid.NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        crypto.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(crypto.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(crypto.SubjectAlternativeName([crypto.DNSName("localhost")]), critical=False)
        .add_extension(crypto.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    (folder / "key.pem").write_bytes(pem)
    return folder / "cert.pem", folder / "key.pem"


def tls_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    return context


def test_https_verifies_the_url_host_while_connecting_to_the_checked_address(certificate) -> None:
    key = ScopedHeader("Authorization", "Bearer s3cret", ("localhost",))  # https only, the default
    fetcher = Fetcher(allow_networks=LOOPBACK, headers=[key], ca_certs=str(certificate[0]))
    with serve({"/m.png": lambda h: reply(h, b"png")}, tls=tls_context(certificate)) as server:
        assert fetcher.get(f"https://localhost:{server.port}/m.png").content == b"png"
        mismatch = failure(fetcher, f"https://127.0.0.1:{server.port}/m.png")  # the certificate names localhost
        untrusted = failure(Fetcher(allow_networks=LOOPBACK), f"https://localhost:{server.port}/m.png")
    assert mismatch.reason == untrusted.reason == CONNECTION
    assert "CERTIFICATE_VERIFY_FAILED" in str(untrusted)
    assert server.seen == [("/m.png", server.seen[0][1])] and server.seen[0][1]["Authorization"] == "Bearer s3cret"
    assert server.seen[0][1]["Host"] == f"localhost:{server.port}"
