"""The guard's decision on URL hosts, whatever the spelling: no packet is sent here (only `refused_host`,
`host_address` and `blocked` run, which decide from the text alone)."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from transferline.fetch import (
    Fetcher,
    FetchError,
    _Target,
    _Watchdog,
    blocked,
    host_address,
    parse_networks,
    refused_host,
)

TESTS_ALLOW = parse_networks(["127.0.0.1/32"])
REFUSED_V4 = [
    "127.0.0.0/8",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "169.254.0.0/16",
    "100.64.0.0/10",
    "0.0.0.0/8",
    "224.0.0.0/4",
    "240.0.0.0/4",
]


def spellings(address: ipaddress.IPv4Address) -> list[str]:
    """Ways a URL may write one IPv4 address that resolvers (inet_aton) accept."""
    a, b, c, d = address.packed
    n = int(address)
    return [
        str(address),
        str(n),
        hex(n),
        "0" + oct(n)[2:],
        f"{a}.{(b << 16) | (c << 8) | d}",
        f"{a}.{b}.{(c << 8) | d}",
        f"0x{a:x}.0x{b:x}.0x{c:x}.0x{d:x}",
        f"0{a:o}.0{b:o}.0{c:o}.0{d:o}",
        f"[::ffff:{address}]",
        f"[::ffff:{a * 256 + b:x}:{c * 256 + d:x}]",
        f"[64:ff9b::{address}]",
        f"[2002:{a * 256 + b:x}:{c * 256 + d:x}::1]",
    ]


def in_network(cidr: str):
    network = ipaddress.ip_network(cidr)
    return st.integers(int(network.network_address), int(network.broadcast_address)).map(ipaddress.IPv4Address)


@given(st.sampled_from(REFUSED_V4).flatmap(in_network), st.data())
def test_no_spelling_of_a_refused_ipv4_address_is_allowed(address: ipaddress.IPv4Address, data) -> None:
    spelling = data.draw(st.sampled_from(spellings(address)))
    assert host_address(spelling.strip("[]")) is not None
    if address == ipaddress.IPv4Address("127.0.0.1"):
        return  # the one address the tests' allow-list lets through
    assert refused_host(spelling.strip("[]"), TESTS_ALLOW) is not None, spelling


@given(st.integers(0, 2**32 - 1).map(ipaddress.IPv4Address))
def test_every_spelling_means_the_same_address(address: ipaddress.IPv4Address) -> None:
    for spelling in spellings(address)[:8]:
        assert host_address(spelling) == address, spelling


@pytest.mark.parametrize(
    "host",
    [
        "169.254.169.254",  # cloud metadata
        "0xa9fea9fe",
        "2852039166",
        "fd00:ec2::254",  # AWS metadata over IPv6
        "::1",
        "::",
        "0",
        "::ffff:169.254.169.254",
        "::127.0.0.1",  # IPv4-compatible
        "fe80::1",
        "fc00::1",
        "ff02::1",
        "100.100.100.200",  # Alibaba metadata, carrier-grade NAT range
        "127.2",
        "0177.0.0.2",
        "0x7f.2",
        "192.168.1.1.",
    ],
)
def test_the_address_zoo_is_refused(host: str) -> None:
    assert refused_host(host, TESTS_ALLOW) is not None


@given(st.ip_addresses(v=6))
def test_ipv6_carrying_a_refused_ipv4_is_refused(address: ipaddress.IPv6Address) -> None:
    embedded = address.ipv4_mapped or address.sixtofour
    if embedded is not None and blocked(embedded) is not None:
        assert blocked(address) is not None


def test_names_are_left_to_what_they_resolve_to() -> None:
    assert host_address("example.com") is None and refused_host("example.com") is None
    assert host_address("1.2.3.4.5") is None and host_address("08.1") is None


def test_public_addresses_pass() -> None:
    assert refused_host("93.184.216.34") is None and refused_host("2606:2800:220:1::") is None


def _fullwidth(text: str) -> str:
    """Digits and dots as fullwidth characters, which IDNA maps back to ASCII."""
    return text.translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789"}).replace(".", "\u3002")


@given(
    st.sampled_from(REFUSED_V4).flatmap(in_network),
    st.data(),
    st.sampled_from(["http", "https", "HTTP"]),
    st.sampled_from(["", ":80", ":8443"]),
    st.booleans(),
)
def test_no_url_spelling_gets_a_refused_address_past_the_fetcher(address, data, scheme, port, wide) -> None:
    """The fetcher's own decision for a URL whose host is an address, as far as it goes before connecting (a
    literal host is never looked up, so nothing leaves this process)."""
    if address == ipaddress.IPv4Address("127.0.0.1"):
        return
    host = data.draw(st.sampled_from(spellings(address)))
    host = _fullwidth(host) if wide and not host.startswith("[") and host[1:2] != "x" else host
    url = f"{scheme}://{host}{port}/picture.jpg?x=1"
    fetcher = Fetcher(allow_networks=["127.0.0.1/32"])
    watchdog = _Watchdog(5.0)
    try:
        with pytest.raises(FetchError) as refused:
            fetcher._addresses(_Target.parse(url), watchdog)
    finally:
        watchdog.stop()
    assert refused.value.reason in ("blocked-address", "bad-url"), url
