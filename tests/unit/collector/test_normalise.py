"""Normalising one URL: what scrapers and people leave around URLs is undone, the rest is yarl's normal form;
nothing but an absolute http(s) URL with a host comes out. Hypothesis: idempotent, never a non-http(s) URL,
never a lost query string."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transferline.url_lists import MAX_LENGTH
from transferline_collector.normalise import normalise

CASES = [
    ('  "https://Example.COM:443/a.jpg#frag"  ', "https://example.com/a.jpg"),
    ("'http://example.com:80/a.jpg'", "http://example.com/a.jpg"),
    ('"https://example.com/a.jpg",', "https://example.com/a.jpg"),
    ("<https://example.com/a.jpg>", "https://example.com/a.jpg"),
    ("\ufeffhttps://example.com/a.jpg\r", "https://example.com/a.jpg"),
    ("https://example.com/i?w\\u003d300\\u0026h\\u003d200", "https://example.com/i?w=300&h=200"),
    ("https://example.com/i?w\\\\u003d300\\\\u0026h\\\\u003d200", "https://example.com/i?w=300&h=200"),
    ("https:\\/\\/example.com\\/a.jpg", "https://example.com/a.jpg"),
    ("https://example.com/i?w=300&amp;h=200", "https://example.com/i?w=300&h=200"),
    ("https://example.com/i?w=300&amp;amp;h=200", "https://example.com/i?w=300&h=200"),
    ("https://example.com/i?a=1&copy=2", "https://example.com/i?a=1&copy=2"),  # no semicolon: no entity
    ("HTTPS://EXAMPLE.com/A.JPG", "https://example.com/A.JPG"),
    ("https://example.com/a/../b/./c.jpg", "https://example.com/b/c.jpg"),
    ("https://example.com", "https://example.com/"),
    ("https://bücher.example/a.jpg", "https://xn--bcher-kva.example/a.jpg"),
    ("https://example.com/My Photo.jpg", "https://example.com/My%20Photo.jpg"),
]
REFUSED = [
    ("javascript:alert(1)", "bad-scheme"),
    ("data:image/png;base64,iVBORw0KGgo=", "bad-scheme"),
    ("ftp://example.com/a.jpg", "bad-scheme"),
    ("mailto:someone@example.com", "bad-scheme"),
    ("/images/a.jpg", "not-a-url"),
    ("images/a.jpg", "not-a-url"),
    ("//example.com/a.jpg", "not-a-url"),
    ("http://", "not-a-url"),
    ("http://exa mple.com/a.jpg", "not-a-url"),
    ("http://example.com:99999/a.jpg", "not-a-url"),
    ("https://-bad-.example/a.jpg", "not-a-url"),
    ("", "not-a-url"),
    ("https://example.com/" + "a" * MAX_LENGTH, "too-long"),
    ("https://example.com/" + "a" * (3 * MAX_LENGTH), "too-long"),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_messy_forms_normalise_to_one_url(text: str, expected: str) -> None:
    assert normalise(text).url == expected


@pytest.mark.parametrize(("text", "reason"), REFUSED)
def test_what_is_no_http_url_is_refused_with_a_reason(text: str, reason: str) -> None:
    found = normalise(text)
    assert found.url is None and found.reason == reason


def test_a_double_escaped_entity_in_a_path_stays_the_same_resource() -> None:
    once = normalise("http://example.com/%26amp%3Bx").url
    assert once is not None and normalise(once).url == once


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_any_text_gives_an_http_url_or_a_reason(text: str) -> None:
    found = normalise(text)
    if found.url is None:
        assert found.reason in ("bad-scheme", "not-a-url", "too-long")
    else:
        assert urlsplit(found.url).scheme in ("http", "https") and urlsplit(found.url).hostname


_label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
_hosts = st.builds(lambda labels, tld: ".".join([*labels, tld]), st.lists(_label, min_size=1, max_size=3), _label)
_segments = st.lists(st.text(min_size=1, max_size=12), max_size=4)
_pairs = st.lists(st.tuples(st.text(min_size=1, max_size=10), st.text(max_size=10)), min_size=1, max_size=5)


@st.composite
def urls_with_queries(draw: st.DrawFn) -> tuple[str, list[tuple[str, str]]]:
    scheme = draw(st.sampled_from(["http", "https", "HTTP", "Https"]))
    port = draw(st.sampled_from(["", ":80", ":443", ":8080"]))
    path = "/".join(urlencode({"": s})[1:] for s in draw(_segments))
    pairs = draw(_pairs)
    fragment = draw(st.sampled_from(["", "#top", "#a=b"]))
    return f"{scheme}://{draw(_hosts)}{port}/{path}?{urlencode(pairs)}{fragment}", pairs


@settings(max_examples=300, deadline=None)
@given(urls_with_queries())
def test_normalising_is_idempotent_and_keeps_the_query(case: tuple[str, list[tuple[str, str]]]) -> None:
    url, pairs = case
    found = normalise(url)
    assert found.url is not None, found
    assert normalise(found.url).url == found.url
    parts = urlsplit(found.url)
    assert parts.scheme in ("http", "https") and parts.fragment == ""
    assert parse_qsl(parts.query, keep_blank_values=True) == pairs


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120))
def test_normalising_any_text_is_idempotent(text: str) -> None:
    found = normalise("https://example.com/" + text)
    if found.url is not None:
        assert normalise(found.url).url == found.url
