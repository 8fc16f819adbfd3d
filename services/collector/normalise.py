"""One URL as people and scrapers leave it -> its normal http(s) form, or the reason it is none.

Parsing and normalising are yarl's (scheme and host case, IDNA, default ports, dot segments, percent-encoding);
this module only undoes what sits around a URL (quotes, JSON and HTML escapes), drops the fragment, and refuses
what is not an absolute http(s) URL with a host.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from yarl import URL

from transferline.url_lists import ENTITY, MAX_LENGTH, unwrap

SCHEMES = ("http", "https")
BAD_SCHEME, NOT_A_URL, TOO_LONG = "bad-scheme", "not-a-url", "too-long"

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # a space may sit in a path (yarl encodes it), never in a host
_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")


@dataclass(frozen=True)
class Normalised:
    url: str | None
    reason: str | None = None
    detail: str = ""


def normalise(text: str) -> Normalised:
    """The normal form of `text`, or why there is none (`reason`: bad-scheme, not-a-url, too-long)."""
    if len(text) > MAX_LENGTH * 2:  # unescaping only shortens; this bounds the work on a runaway line
        return Normalised(None, TOO_LONG, f"{len(text)} characters")
    candidate = unwrap(text)
    if not candidate:
        return Normalised(None, NOT_A_URL, "empty")
    if _CONTROL.search(candidate.strip()):
        return Normalised(None, NOT_A_URL, "contains control characters")
    try:
        url = URL(candidate.strip())
        found = _checked(url)
        if found.url is None:
            return found
        url = url.with_fragment(None)
        if url.raw_path in ("", "/"):  # RFC 3986 6.2.3: an empty http path is "/" (yarl may print it empty)
            url = url.with_path("/", keep_query=True)
        out = ENTITY.sub(_keep_entity, str(url))
    except (ValueError, TypeError, UnicodeError) as exc:
        return Normalised(None, NOT_A_URL, str(exc)[:200])
    if len(out) > MAX_LENGTH:
        return Normalised(None, TOO_LONG, f"{len(out)} characters once normalised")
    return Normalised(out)


def _keep_entity(match: re.Match[str]) -> str:
    """yarl decodes %26amp%3B in a path to `&amp;`; keeping its `;` encoded stops a second pass reading it as
    an entity, so normalising the normal form changes nothing."""
    return match.group(0)[:-1] + "%3B"


def _checked(url: URL) -> Normalised:
    if not url.scheme:
        return Normalised(None, NOT_A_URL, "relative: no scheme")
    if url.scheme not in SCHEMES:
        return Normalised(None, BAD_SCHEME, f"{url.scheme}: is not http or https")
    host = url.raw_host
    if not host or not _valid_host(host):
        return Normalised(None, NOT_A_URL, f"no usable host ({host!r})")
    return Normalised(str(url))


def _valid_host(host: str) -> bool:
    if ":" in host:
        try:
            ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            return False
        return True
    labels = host.removesuffix(".").split(".")
    return len(host) <= 253 and all(_LABEL.fullmatch(label) for label in labels)
