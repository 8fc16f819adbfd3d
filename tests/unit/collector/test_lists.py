"""URL lists as people have them: every messy case of issue 12 lands as one clean row each, in first-seen order,
and every dropped input is in the report with its reason and line."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.collector.conftest import run, settings_for
from transferline.url_lists import read_list
from transferline_collector.report import report_json

MESSY = (
    "\ufeffurl\r\n"  # BOM, a header row, CRLF
    '  "https://Example.com/a.jpg"  \r\n'  # quoted, whitespace
    "https://example.com:443/a.jpg#top\r\n"  # the same after normalising (default port, fragment)
    "https://img.test/i?w\\u003d300\\u0026h\\u003d200\r\n"  # JSON escapes left in by a scraper
    "https://img.test/i?w\\\\u003d300\\\\u0026h\\\\u003d200\r\n"  # doubled backslash: the same URL
    "https://img.test/i?w=300&amp;h=200\r\n"  # an HTML entity: the same URL again
    "javascript:alert(1)\r\n"
    "data:image/png;base64,iVBORw0KGgo=\r\n"
    "ftp://files.test/b.jpg\r\n"
    "/relative/c.jpg\r\n"
    "\r\n"
    "https://long.test/" + "x" * 9000 + "\r\n"
    "HTTPS://EXAMPLE.COM/d.jpg\r\n"
)


def reasons(found) -> list[tuple[int | None, str]]:
    return [(d.line, d.reason) for d in found.collection.dropped]


def test_a_messy_text_list_keeps_one_row_per_url_in_first_seen_order() -> None:
    found = run(settings_for(), {"mine.txt": MESSY.encode()})
    assert found.urls() == [
        "https://example.com/a.jpg",
        "https://img.test/i?w=300&h=200",
        "https://example.com/d.jpg",
    ]
    assert reasons(found) == [
        (3, "duplicate"),
        (5, "duplicate"),
        (6, "duplicate"),
        (7, "bad-scheme"),
        (8, "bad-scheme"),
        (9, "bad-scheme"),
        (10, "not-a-url"),
        (12, "too-long"),
    ]
    [source] = found.collection.sources
    assert (source.source, source.format, source.header, source.seen) == ("list:mine.txt", "text", "line 1: 'url'", 11)
    assert {row.source for row in found.collection.rows} == {"list:mine.txt"}
    assert found.collection.dropped[0].detail == "first seen at list:mine.txt line 2"


def test_a_csv_list_finds_its_url_column_by_header() -> None:
    data = b'id,label,Image URL\n1,bottle,"https://a.test/1.jpg?x=1,2"\n2,can,\n3,cup,https://a.test/3.jpg\n'
    read = read_list(data)
    assert read.format == "csv" and read.header == "line 1: URL column 'image url'"
    assert [(i.line, i.text, i.problem) for i in read.items] == [
        (2, "https://a.test/1.jpg?x=1,2", None),
        (3, "2,can,", "no-url"),
        (4, "https://a.test/3.jpg", None),
    ]


def test_an_over_long_csv_row_is_too_long_not_a_row_without_url() -> None:
    data = b"id,url\n1,https://a.test/" + b"x" * 20_000 + b"\n2,https://a.test/2.jpg\n"
    found = run(settings_for(), {"big.csv": data})
    assert found.urls() == ["https://a.test/2.jpg"] and reasons(found) == [(2, "too-long")]
    collection = found.collection
    report = json.loads(report_json(collection.sources, collection.dropped, len(collection.rows)))
    assert len(report["dropped_inputs"][0]["input"]) == 300  # the report keeps only the start of a runaway line


def test_a_csv_without_header_finds_its_url_column_by_content() -> None:
    read = read_list(b"bottle;https://a.test/1.jpg;12\ncan;https://a.test/2.jpg;13\n")
    assert read.format == "csv" and [i.text for i in read.items] == ["https://a.test/1.jpg", "https://a.test/2.jpg"]


def test_a_plain_list_whose_url_holds_a_comma_stays_plain() -> None:
    read = read_list(b"https://a.test/1.jpg\nhttps://a.test/x,y.jpg\n")
    assert read.format == "text" and [i.text for i in read.items] == ["https://a.test/1.jpg", "https://a.test/x,y.jpg"]


def test_json_lines_with_a_url_field() -> None:
    data = b'{"url": "https://a.test/1.jpg", "label": "bottle"}\nnot json\n\n{"name": "no url"}\n{"URL": "https://a.test/2.jpg"}\n'
    found = run(settings_for(), {"rows.jsonl": data})
    assert found.urls() == ["https://a.test/1.jpg", "https://a.test/2.jpg"]
    assert reasons(found) == [(2, "bad-json"), (4, "no-url")]
    assert found.collection.sources[0].format == "jsonl"


def test_a_json_array_of_urls_and_objects_with_their_lines() -> None:
    data = json.dumps(["https://a.test/1.jpg", {"url": "https://a.test/2.jpg"}, 7, "https://a.test/1.jpg"], indent=1)
    found = run(settings_for(), {"export.json": data.encode()})
    assert found.urls() == ["https://a.test/1.jpg", "https://a.test/2.jpg"]
    assert reasons(found) == [(6, "no-url"), (7, "duplicate")]  # the object spans lines 3-5


def test_a_broken_json_array_is_read_as_lines() -> None:
    read = read_list(b"[https://a.test/1.jpg]\n")
    assert read.format == "text" and read.items[0].text == "[https://a.test/1.jpg]"
    assert run(settings_for(), {"x.txt": b"[https://a.test/1.jpg]\n"}).urls() == ["https://a.test/1.jpg"]


def test_utf16_with_its_bom_is_read() -> None:
    found = run(settings_for(), {"excel.txt": "url\r\nhttps://a.test/é.jpg\r\n".encode("utf-16")})
    assert found.urls() == ["https://a.test/%C3%A9.jpg"]


def test_duplicates_across_lists_keep_the_first_list_s_row() -> None:
    found = run(settings_for(), {"a.txt": b"https://a.test/1.jpg\n", "b.csv": b"url\nHTTPS://A.TEST/1.jpg#x\n"})
    assert found.urls() == ["https://a.test/1.jpg"]
    [dropped] = found.collection.dropped
    assert (dropped.source, dropped.line, dropped.detail) == ("list:b.csv", 2, "first seen at list:a.txt line 1")


PIECES = [
    "url",
    "id,url",
    '"https://a.test/1.jpg",',
    "https://a.test/2.jpg?x\\u003d1",
    '{"url": "https://a.test/3.jpg"}',
    '{"url": 5}',
    "[",
    "]",
    "1,https://a.test/4.jpg",
    "javascript:x",
    "\ufeff",
    "&amp;",
]
_files = st.lists(st.sampled_from(PIECES) | st.text(max_size=30), max_size=15).map(lambda ls: "\r\n".join(ls).encode())


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600) | _files)
def test_any_file_is_read_and_every_input_accounted_for(data: bytes) -> None:
    found = run(settings_for(), {"any.txt": data})
    [source] = found.collection.sources
    assert source.seen == source.kept + source.dropped == len(found.collection.rows) + len(found.collection.dropped)
    assert all(row.url.startswith(("http://", "https://")) for row in found.collection.rows)
