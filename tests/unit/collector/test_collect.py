"""Collecting across sources: lists first, then each provider; duplicates across sources, the licence filter,
one provider failing without losing the others, a missing key refused before any request, the report and
the credits."""

from __future__ import annotations

import json
import threading

import pytest

from tests.support.providers import Answer, image_url, play_openverse, play_wikimedia, serve_api
from tests.unit.collector.conftest import run, settings_for
from transferline.contracts import UrlRow, read_rows, rows_jsonl
from transferline_collector.client import KeyRejected
from transferline_collector.collect import collect
from transferline_collector.report import attribution_md, report_json, summary
from transferline_collector.request import CollectRequested


def test_a_provider_failing_keeps_the_other_s_results_and_reports_it() -> None:
    down = Answer({"detail": "Service unavailable"}, 503)
    with serve_api(lambda _: down) as broken, serve_api(play_wikimedia(total=4)) as wiki:
        settings = settings_for(openverse_url=broken.url, wikimedia_url=wiki.url, collector_attempts=2)
        found = run(settings, queries=["bottle"], max_per_query=4)
    assert [row.source for row in found.collection.rows] == ["wikimedia"] * 3  # file 3 is a video
    openverse, wikimedia = found.collection.sources
    assert "gave up after 2 tries: HTTP 503" in openverse.error and wikimedia.error is None
    assert len(broken.asked) == 2 and len(found.waits) == 1  # one backoff between the two tries
    assert found.collection.counters()["failed_searches"] == 1


def test_a_list_row_is_kept_before_the_same_url_from_a_provider() -> None:
    with serve_api(play_openverse(total=3)) as api:
        lists = {"mine.txt": image_url("openverse", 2).encode()}
        found = run(settings_for(openverse_url=api.url), lists, queries=["b"], providers=["openverse"])
    assert [(row.source, row.rank) for row in found.collection.rows] == [
        ("list:mine.txt", None),
        ("openverse", 1),
        ("openverse", 3),
    ]
    [dropped] = found.collection.dropped
    assert (dropped.reason, dropped.rank, dropped.detail) == ("duplicate", 2, "first seen at list:mine.txt line 1")


def test_the_licence_filter_keeps_only_allowed_codes_and_is_asked_of_the_provider() -> None:
    with serve_api(play_openverse(total=8)) as api:
        found = run(settings_for(openverse_url=api.url), queries=["b"], providers=["openverse"], licenses=["by", "cc0"])
    assert api.asked[0].params["license"] == "by,cc0"
    assert {row.licence for row in found.collection.rows} == {"by", "cc0"}  # the server ignores it: filtered here
    assert {d.reason for d in found.collection.dropped} == {"licence-filtered"}
    assert found.collection.counters()["dropped_licence-filtered"] == 4


def test_commercial_expands_to_its_licences() -> None:
    with serve_api(play_openverse(total=8)) as api:
        found = run(
            settings_for(openverse_url=api.url), queries=["b"], providers=["openverse"], licenses=["commercial"]
        )
    assert {row.licence for row in found.collection.rows} == {"by", "by-sa", "cc0"}  # by-nc is not commercial


def test_a_missing_key_is_refused_before_any_request_naming_the_setting() -> None:
    request = CollectRequested(queries=["b"], providers=["openverse", "flickr"])
    with pytest.raises(KeyRejected, match="TRANSFERLINE_FLICKR_API_KEY"):
        collect(request, {}, settings_for(openverse_url="http://127.0.0.1:9"), threading.Event(), lambda *_: None)
    with pytest.raises(KeyRejected, match="TRANSFERLINE_GOOGLE_CSE_CX"):
        request = CollectRequested(queries=["b"], providers=["google_cse"])
        collect(request, {}, settings_for(google_cse_api_key="k"), threading.Event(), lambda *_: None)


def test_rows_report_and_credits_read_back() -> None:
    with serve_api(play_openverse(total=2)) as api:
        lists = {"l.txt": b"ftp://x.test/a\n"}
        found = run(settings_for(openverse_url=api.url), lists, queries=["b"], providers=["openverse"])
    collection = found.collection
    rows = list(read_rows(rows_jsonl(collection.rows), UrlRow, "urls.jsonl"))
    assert rows == collection.rows and rows[0].query == "b" and rows[0].rank == 1
    report = json.loads(report_json(collection.sources, collection.dropped, len(collection.rows)))
    assert report["kept"] == 2 and report["dropped_by_reason"] == {"bad-scheme": 1}
    assert report["dropped_inputs"] == [
        {
            "source": "list:l.txt",
            "reason": "bad-scheme",
            "input": "ftp://x.test/a",
            "detail": "ftp: is not http or https",
            "line": 1,
        }
    ]
    assert "openverse 'b': seen 2, kept 2, dropped 0" in summary(report)
    credits = attribution_md(collection.rows).decode()
    assert (
        "| 1 | Bottle 1 | Creator 1 | [by-sa](https://creativecommons.org/licenses/by-sa/4.0/) | openverse |" in credits
    )
    assert "<https://www.flickr.com/photos/x/1>" in credits
