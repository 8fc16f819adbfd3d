"""URL lists in the shapes people have: the collector's JSON lines (a `url` field), a CSV with a URL column, or
plain text (one URL a line, `#` comments). The shape is read from the content, not the file name."""

from __future__ import annotations

import csv
import io
import json

URL_COLUMNS = ("url", "image_url", "imageurl", "image", "link", "src", "href")


def read_urls(data: bytes) -> list[str]:
    """The list's URLs in order, each once. A JSON line without a usable `url` is kept as its text, so it still
    gets its one outcome (bad-url) rather than vanishing."""
    text = data.decode("utf-8", "replace").removeprefix("\ufeff")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return []
    if lines[0].startswith("{"):
        found = [_json_url(line) for line in lines]
    elif _is_csv_header(lines[0]):
        found = _csv_urls(text)
    else:
        found = [line for line in lines if not line.startswith("#")]
    return list(dict.fromkeys(url for url in found if url))


def _json_url(line: str) -> str:
    try:
        row = json.loads(line)
    except (json.JSONDecodeError, RecursionError):
        return line
    url = row.get("url") if isinstance(row, dict) else None
    return url.strip() if isinstance(url, str) else line


def _is_csv_header(line: str) -> bool:
    cells = [cell.strip().strip('"').lower() for cell in line.split(",")]
    return len(cells) > 1 or cells[0] in URL_COLUMNS


def _csv_urls(text: str) -> list[str]:
    reader = csv.reader(io.StringIO(text))
    header = [cell.strip().lower() for cell in next(reader)]
    column = next((header.index(name) for name in URL_COLUMNS if name in header), 0)
    return [row[column].strip() for row in reader if len(row) > column]
