from __future__ import annotations

from transferline_downloader.inputs import read_urls


def test_json_lines_take_the_url_field_and_keep_bad_lines_for_their_outcome() -> None:
    data = b'{"url": "http://a/1", "source": "x"}\n{"url": "http://a/2"}\n{oops\n{"url": "http://a/1"}\n'
    assert read_urls(data) == ["http://a/1", "http://a/2", "{oops"]


def test_a_csv_with_a_url_column() -> None:
    assert read_urls(b"id,image_url,title\n1,http://a/1,x\n2,http://a/2,y\n") == ["http://a/1", "http://a/2"]


def test_plain_text_skips_comments_blank_lines_and_a_bom() -> None:
    assert read_urls("\ufeffhttp://a/1\n\n# note\n  http://a/2  \n".encode()) == ["http://a/1", "http://a/2"]


def test_an_empty_list() -> None:
    assert read_urls(b"\n\n") == []
