"""URL lists as people have them -> numbered items: plain text (one URL a line, maybe a header, `#` comment
lines), CSV (the URL column found by its header or, without one, by its content), JSON lines with a `url` field,
or a JSON array of URLs or objects. Items keep their line number so a report can point at every input it drops.
Read once here for every stage that takes a list (the collector, the downloader's command)."""

from __future__ import annotations

import csv
import html
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

MAX_LENGTH = 8192  # contracts.UrlRow.url

URL_FIELDS = ("url", "image_url", "imageurl", "img_url", "image", "img", "src", "link", "href", "uri", "photo_url")
DELIMITERS = (",", "\t", ";", "|")
NO_URL, BAD_JSON = "no-url", "bad-json"
_SAMPLE = 20
_WRAPPERS = {'"': '"', "'": "'", "<": ">", "(": ")", "[": "]", "`": "`"}
_JSON_ESCAPE = re.compile(r"\\{1,2}(?:u([0-9a-fA-F]{4})|(/))")  # \u003d, \\u0026, \/ (and doubled)
ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
_EDGE = "\ufeff\u200b\u200c\u200d\u2060 \t\r\n\f\v"


@dataclass(frozen=True)
class ListItem:
    line: int
    text: str
    problem: str | None = None  # no-url or bad-json: there is no URL to normalise
    detail: str = ""


@dataclass(frozen=True)
class ListRead:
    format: str  # text, csv, jsonl or json
    items: list[ListItem]
    header: str | None = None  # the header line taken as one, not as an input


def read_list(data: bytes) -> ListRead:
    text = _decode(data)
    lines = text.splitlines()
    start = text.lstrip()
    if start.startswith("["):
        items = _json_array(text)
        if items is not None:
            return ListRead("json", items)
    if start.startswith("{"):
        return ListRead("jsonl", list(_json_lines(lines)))
    return _delimited(lines)


def _decode(data: bytes) -> str:
    """UTF-8 with or without its BOM; UTF-16 when it starts with one (spreadsheets' "Unicode text")."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", "replace")
    return data.decode("utf-8-sig", "replace")


def _json_array(text: str) -> list[ListItem] | None:
    """Items of a JSON array with the line each starts on; None when the text is no JSON array."""
    decoder, items = json.JSONDecoder(), list[ListItem]()
    position = text.index("[") + 1
    try:
        while True:
            position = _skip(text, position, " \t\r\n\ufeff")
            if text.startswith("]", position):
                return items
            value, end = decoder.raw_decode(text, position)
            items.append(_from_value(value, text.count("\n", 0, position) + 1))
            position = _skip(text, end, " \t\r\n")
            if text.startswith(",", position):
                position += 1
            elif not text.startswith("]", position):
                return None
    except (json.JSONDecodeError, RecursionError):
        return None


def _skip(text: str, position: int, chars: str) -> int:
    while position < len(text) and text[position] in chars:
        position += 1
    return position


def _json_lines(lines: list[str]) -> Iterator[ListItem]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            yield ListItem(number, line, BAD_JSON, "not a JSON value")
            continue
        yield _from_value(value, number)


def _from_value(value: Any, line: int) -> ListItem:
    if isinstance(value, str):
        return ListItem(line, value)
    if isinstance(value, dict):
        lowered = {str(k).lower(): v for k, v in value.items()}
        found = next((lowered[f] for f in URL_FIELDS if isinstance(lowered.get(f), str)), None)
        if found is not None:
            return ListItem(line, found)
    return ListItem(line, json.dumps(value)[:300], NO_URL, f"no {' / '.join(URL_FIELDS[:3])} field")


def _delimited(lines: list[str]) -> ListRead:
    numbered = [(n, line) for n, line in enumerate(lines, start=1) if line.strip() and not _comment(line)]
    if not numbered:
        return ListRead("text", [])
    header = _header(numbered[0][1])
    if header is not None:
        delimiter, column, name = header
        if delimiter is None:
            return ListRead("text", [ListItem(n, line) for n, line in numbered[1:]], f"line 1: {name!r}")
        items = [_cell(n, line, delimiter, column) for n, line in numbered[1:]]
        return ListRead("csv", items, f"line {numbered[0][0]}: URL column {name!r}")
    found = _url_column(numbered[:_SAMPLE])
    if found is None:
        return ListRead("text", [ListItem(n, line) for n, line in numbered])
    delimiter, column = found
    return ListRead("csv", [_cell(n, line, delimiter, column) for n, line in numbered])


def _header(line: str) -> tuple[str | None, int, str] | None:
    """(delimiter, URL column, its name) when the first line is a header naming a URL column."""
    for delimiter in DELIMITERS:
        cells = [unwrap(cell).strip().lower() for cell in _cells(line, delimiter)]
        if len(cells) < 2:
            continue
        for field in URL_FIELDS:
            if field in cells:
                return delimiter, cells.index(field), field
        named = [i for i, cell in enumerate(cells) if "url" in cell and "://" not in cell]
        if named:
            return delimiter, named[0], cells[named[0]]
    word = unwrap(line).strip().lower()
    return (None, 0, word) if word in (*URL_FIELDS, "urls") else None


def _url_column(sample: list[tuple[int, str]]) -> tuple[str, int] | None:
    """Without a header: the delimiter and column when every sampled row splits into the same number (two or
    more) of cells and exactly one column holds a URL in every row (so a plain list whose URLs hold a comma
    stays plain text)."""
    for delimiter in DELIMITERS:
        rows = [[unwrap(c).lower() for c in _cells(line, delimiter)] for _, line in sample]
        if len({len(row) for row in rows}) != 1 or len(rows[0]) < 2:
            continue
        urlish = [i for i in range(len(rows[0])) if all(row[i].startswith(("http://", "https://")) for row in rows)]
        if len(urlish) == 1:
            return delimiter, urlish[0]
    return None


def _cell(number: int, line: str, delimiter: str, column: int) -> ListItem:
    if len(line) > MAX_LENGTH * 2:  # not split: normalising reports it too-long, not as a row without a URL
        return ListItem(number, line)
    cells = _cells(line, delimiter)
    if column >= len(cells) or not cells[column].strip():
        return ListItem(number, line[:300], NO_URL, f"no cell in column {column + 1}")
    return ListItem(number, cells[column])


def _cells(line: str, delimiter: str) -> list[str]:
    if len(line) > MAX_LENGTH * 2:  # a runaway line is one cell (csv's own field limit would raise)
        return [line]
    try:
        return next(csv.reader([line], delimiter=delimiter))
    except (csv.Error, StopIteration):
        return [line]


def unwrap(text: str) -> str:
    """Take off what surrounds or escapes a URL: whitespace and BOMs, quotes and brackets, JSON escapes, HTML
    entities (only with their semicolon: `&copy=1` in a query is a parameter, not ©)."""
    previous = None
    while previous != text:  # layers come in any order: "\"http://a/?x=1&amp;y=2\""
        previous = text
        text = text.strip(_EDGE)
        if text[:1] in _WRAPPERS:  # a quoted item of a JS or CSV array may keep its separator: "http://a/",
            text = text.removesuffix(",").removesuffix(";")
            if len(text) >= 2 and _WRAPPERS[text[0]] == text[-1]:
                text = text[1:-1]
        text = _JSON_ESCAPE.sub(_json_char, text)
        text = ENTITY.sub(lambda m: html.unescape(m.group(0)), text)
    return text


def _json_char(match: re.Match[str]) -> str:
    return match.group(2) or chr(int(match.group(1), 16))


def _comment(line: str) -> bool:
    return line.lstrip(_EDGE).startswith("#")
