"""The URLs a download covers, read by the platform's one URL-list reader (the collector's JSON lines, a CSV with a
URL column, plain text, a JSON array: transferline.url_lists)."""

from __future__ import annotations

from transferline.url_lists import read_list, unwrap


def read_urls(data: bytes) -> list[str]:
    """The list's URLs in order, each once. An item without a usable URL is kept as its text, so it still gets
    its one outcome (bad-url) rather than vanishing."""
    found = (unwrap(item.text) for item in read_list(data).items)
    return list(dict.fromkeys(url for url in found if url))
