"""Licences in one vocabulary (Openverse's codes), the groups `--license` accepts, and readers of what each
provider says (Wikimedia's short names, Flickr's ids)."""

from __future__ import annotations

import re

CODES = ("cc0", "pdm", "by", "by-sa", "by-nd", "by-nc", "by-nc-sa", "by-nc-nd", "sampling+", "nc-sampling+")
GROUPS = {
    "commercial": ("cc0", "pdm", "by", "by-sa", "by-nd"),  # Openverse's license_type=commercial
    "modification": ("cc0", "pdm", "by", "by-sa", "by-nc", "by-nc-sa"),  # license_type=modification
    "all-cc": tuple(code for code in CODES if code != "pdm"),
}
CHOICES = (*CODES, *GROUPS)
_VERSION = re.compile(r"[\s_-]*\d+(\.\d+)*([\s_-]+[a-z]{2,5})?\s*$")  # "4.0", "3.0 de" (ported)
_CODE_URL = {
    "cc0": "https://creativecommons.org/publicdomain/zero/1.0/",
    "pdm": "https://creativecommons.org/publicdomain/mark/1.0/",
}
# Flickr's flickr.photos.licenses.getInfo ids (FORMATS.md §7); 0, 7 and 8 are no Creative Commons licence.
FLICKR_IDS = {
    "0": "all-rights-reserved",
    "1": "by-nc-sa",
    "2": "by-nc",
    "3": "by-nc-nd",
    "4": "by",
    "5": "by-sa",
    "6": "by-nd",
    "7": "no-known-copyright",
    "8": "us-government-work",
    "9": "cc0",
    "10": "pdm",
}


def expand(choices: list[str]) -> frozenset[str]:
    """`--license cc0,by commercial` -> the codes allowed (empty: no filter)."""
    allowed: set[str] = set()
    for choice in choices:
        allowed.update(GROUPS.get(choice, (choice,)))
    return frozenset(allowed)


def check(choice: str) -> str:
    if choice not in CHOICES:
        raise ValueError(f"unknown licence {choice!r}: use {', '.join(CHOICES)}")
    return choice


def from_name(name: object) -> str | None:
    """A licence as people write it ('CC BY-SA 4.0', 'CC-BY-2.0', 'CC0', 'Public domain') as a code; a name
    outside the vocabulary (GFDL, 'Attribution') comes back lower-cased, so a filter drops it."""
    if not isinstance(name, str) or not name.strip():
        return None
    text = " ".join(name.lower().split())
    if text.startswith("public domain") or text in ("pd", "pdm", "public domain mark"):
        return "pdm"
    bare = _VERSION.sub("", text.removeprefix("cc").strip(" -_")).replace(" ", "-").replace("_", "-")
    if text.startswith("cc0") or bare in ("0", "zero"):
        return "cc0"
    if bare in CODES:
        return bare
    return text


def flickr(licence_id: object) -> str | None:
    return FLICKR_IDS.get(str(licence_id))


def flickr_ids(allowed: frozenset[str]) -> str:
    """The Flickr `license` parameter for a filter; without one, every Creative Commons and public-domain id."""
    wanted = allowed or frozenset(CODES)
    return ",".join(i for i, code in FLICKR_IDS.items() if code in wanted)


def url_of(code: str | None, version: str = "4.0") -> str | None:
    """The deed of a Creative Commons code, for providers that give only the code."""
    if code in _CODE_URL:
        return _CODE_URL[code]
    if code in CODES and not code.endswith("sampling+"):
        return f"https://creativecommons.org/licenses/{code}/{version}/"
    return None
