"""Each provider against a loopback server answering in its documented shapes: several pages, an empty page,
429 with Retry-After, MediaWiki's HTTP-200 maxlag error, a bad key. Every result comes once, in rank order, with
its licence fields."""

from __future__ import annotations

from datetime import date

import pytest

from tests.support.providers import (
    Answer,
    image_url,
    play_brave,
    play_flickr,
    play_google_cse,
    play_openverse,
    play_wikimedia,
    serve_api,
    throttled,
)
from tests.unit.collector.conftest import run, settings_for
from transferline_collector.providers.google_cse import closed


def test_openverse_pages_of_20_up_to_its_240_cap_in_rank_order_with_licences() -> None:
    with serve_api(play_openverse(total=500)) as api:
        found = run(
            settings_for(openverse_url=api.url), queries=["bottle"], providers=["openverse"], max_per_query=1000
        )
    assert found.urls() == [image_url("openverse", n) for n in range(1, 241)]
    assert [int(a.params["page_size"]) for a in api.asked] == [20] * 12  # anonymous: never asks for more (401)
    assert [int(a.params["page"]) for a in api.asked] == list(range(1, 13))
    first = found.collection.rows[0]
    assert (first.rank, first.licence, first.creator, first.mime) == (1, "by-sa", "Creator 1", "image/jpeg")
    assert first.licence_url == "https://creativecommons.org/licenses/by-sa/4.0/"
    assert first.landing_page == "https://www.flickr.com/photos/x/1" and first.attribution.startswith('"Bottle 1"')
    assert found.pages == [("openverse", "bottle", n) for n in range(1, 13)]


def test_openverse_stops_at_max_per_query_and_at_its_last_page() -> None:
    with serve_api(play_openverse(total=45)) as api:
        short = run(settings_for(openverse_url=api.url), queries=["a"], providers=["openverse"], max_per_query=30)
        whole = run(settings_for(openverse_url=api.url), queries=["b"], providers=["openverse"], max_per_query=200)
    assert len(short.urls()) == 30 and len(api.asked) == 2 + 3  # 2 pages for 30, then 3 pages hold all 45
    assert len(whole.urls()) == 45


def test_openverse_client_credentials_allow_bigger_pages_within_the_240_depth() -> None:
    with serve_api(play_openverse(total=500, token="tok")) as api:
        settings = settings_for(openverse_url=api.url, openverse_client_id="me", openverse_client_secret="secret")
        found = run(settings, queries=["bottle"], providers=["openverse"], max_per_query=1000)
    assert found.urls() == [image_url("openverse", n) for n in range(1, 241)]
    assert [a.params.get("page_size") for a in api.asked[1:]] == ["48"] * 5  # 5 x 48 = 240: no page past the depth
    assert api.asked[0].path == "/v1/auth_tokens/token/" and api.asked[1].headers["Authorization"] == "Bearer tok"


def test_a_429_with_retry_after_is_waited_out_then_the_results_come_once() -> None:
    with serve_api(throttled(play_openverse(total=40), times=1, retry_after="3")) as api:
        found = run(settings_for(openverse_url=api.url), queries=["bottle"], providers=["openverse"], max_per_query=40)
    assert found.waits == [3.0]
    assert found.urls() == [image_url("openverse", n) for n in range(1, 41)] and len(api.asked) == 3


def test_a_retry_after_longer_than_allowed_fails_the_provider_and_says_so() -> None:
    with serve_api(throttled(play_openverse(total=40), times=1, retry_after="3600")) as api:
        found = run(settings_for(openverse_url=api.url), queries=["bottle"], providers=["openverse"])
    [source] = found.collection.sources
    assert found.waits == [] and "3600 s" in source.error and "TRANSFERLINE_COLLECTOR_MAX_WAIT_SECONDS" in source.error


def test_an_empty_page_ends_the_search() -> None:
    empty = {"result_count": 0, "page_count": 0, "page_size": 20, "page": 1, "results": []}
    with serve_api(lambda _: Answer(empty)) as api:
        found = run(settings_for(openverse_url=api.url), queries=["nothing"], providers=["openverse"])
    assert found.urls() == [] and len(api.asked) == 1
    assert found.collection.sources[0].pages == 1 and found.collection.sources[0].error is None


def test_wikimedia_follows_continue_sorts_by_index_waits_out_maxlag_and_drops_videos() -> None:
    with serve_api(play_wikimedia(total=45, per_call=20, maxlag_first=True)) as api:
        found = run(settings_for(wikimedia_url=api.url), queries=["bottle"], providers=["wikimedia"], max_per_query=45)
    assert found.waits == [5.0]  # the maxlag answer came with HTTP 200 and Retry-After: 5
    assert [a.params.get("gsroffset") for a in api.asked[1:]] == [None, "20", "40"]
    assert all(a.params["maxlag"] == "5" and a.params["gsrnamespace"] == "6" for a in api.asked)
    expected = [n for n in range(1, 46) if n != 3]
    assert [row.rank for row in found.collection.rows] == expected
    row = found.collection.rows[0]
    assert row.url == "https://upload.wikimedia.test/thumb/Bottle_1.jpg/1024px-Bottle_1.jpg"
    assert (row.licence, row.creator, row.width, row.mime) == ("by-sa", "Artist 1", 1024, "image/jpeg")
    assert row.landing_page == "https://commons.wikimedia.test/wiki/File:Bottle_1.jpg"
    assert row.attribution == "Artist 1, CC BY-SA 4.0"
    [video] = found.collection.dropped
    assert (video.reason, video.detail, video.rank) == ("not-an-image", "video/webm", 3)


def test_a_mediawiki_error_with_http_200_fails_that_provider_with_its_code() -> None:
    error = {"error": {"code": "badvalue", "info": 'Unrecognized value for parameter "gsrnamespace".'}}
    with serve_api(lambda _: Answer(error, 200, {"MediaWiki-API-Error": "badvalue"})) as api:
        found = run(settings_for(wikimedia_url=api.url), queries=["bottle"], providers=["wikimedia"])
    assert "badvalue" in found.collection.sources[0].error and found.waits == []


def test_brave_sends_its_key_and_reads_the_image_from_properties() -> None:
    with serve_api(play_brave("good", total=300)) as api:
        found = run(settings_for(brave_url=api.url, brave_api_key="good"), queries=["bottle"], providers=["brave"])
    assert found.urls() == [image_url("brave", n) for n in range(1, 101)]
    assert api.asked[0].params["count"] == "100" and api.asked[0].path == "/res/v1/images/search"
    assert found.collection.rows[0].landing_page == "https://pages.test/brave/1"


def test_a_bad_brave_key_names_its_setting_and_stops_its_other_queries() -> None:
    with serve_api(play_brave("good", total=5)) as api:
        settings = settings_for(brave_url=api.url, brave_api_key="bad")
        found = run(settings, queries=["a", "b"], providers=["brave"])
    first, second = found.collection.sources
    assert "TRANSFERLINE_BRAVE_API_KEY" in first.error and "SUBSCRIPTION_TOKEN_INVALID" in first.error
    assert second.error.startswith("not searched:") and len(api.asked) == 1


def test_flickr_pages_with_string_counts_and_maps_licence_ids() -> None:
    with serve_api(play_flickr("good", total=7)) as api:
        settings = settings_for(flickr_url=api.url, flickr_api_key="good")
        found = run(settings, queries=["bottle"], providers=["flickr"], max_per_query=7)
    assert found.urls() == [image_url("flickr", n) for n in range(1, 8)]
    assert api.asked[0].params["license"] == "1,2,3,4,5,6,9,10"  # Creative Commons and public domain only
    assert [row.licence for row in found.collection.rows[:4]] == ["by-sa", "cc0", "pdm", "by"]
    row = found.collection.rows[0]
    assert (row.width, row.height, row.creator) == (1024, 768, "Owner 1")
    assert row.landing_page == "https://www.flickr.com/photos/12345@N00/5001"


def test_a_bad_flickr_key_fails_with_http_200_naming_the_setting() -> None:
    with serve_api(play_flickr("good", total=7)) as api:
        found = run(settings_for(flickr_url=api.url, flickr_api_key="bad"), queries=["a"], providers=["flickr"])
    assert "TRANSFERLINE_FLICKR_API_KEY" in found.collection.sources[0].error


def test_google_cse_pages_of_10_by_next_page_up_to_100() -> None:
    with serve_api(play_google_cse("good", total=500)) as api:
        settings = settings_for(google_cse_url=api.url, google_cse_api_key="good", google_cse_cx="engine")
        found = run(settings, queries=["bottle"], providers=["google_cse"], max_per_query=500)
    assert found.urls() == [image_url("google", n) for n in range(1, 101)]
    assert [a.params["start"] for a in api.asked] == [str(n) for n in range(1, 101, 10)]
    assert {a.params["cx"] for a in api.asked} == {"engine"}


def test_a_bad_google_key_names_its_setting_and_the_closure() -> None:
    with serve_api(play_google_cse("good", total=5)) as api:
        settings = settings_for(google_cse_url=api.url, google_cse_api_key="bad", google_cse_cx="engine")
        found = run(settings, queries=["a"], providers=["google_cse"])
    error = found.collection.sources[0].error
    assert "TRANSFERLINE_GOOGLE_CSE_API_KEY" in error and "2027-01-01" in error


ODD = [[], "text", {"results": "x", "photos": [], "items": {}, "query": {"pages": "x"}}, {"results": [1, None, "a"]}]
ODD += [{"query": {"pages": [{"index": "x", "imageinfo": [{"thumburl": 5, "mime": 7}]}]}, "continue": "x"}]
ODD += [{"photos": {"photo": [{"url_l": 3, "license": []}], "pages": "many"}, "stat": "ok"}]
ODD += [{"results": [{"url": "https://a.test/1.jpg", "license": 5, "width": "inf", "page_count": None}]}]


@pytest.mark.parametrize("body", ODD)
@pytest.mark.parametrize("provider", ["openverse", "wikimedia", "brave", "flickr", "google_cse"])
def test_an_odd_answer_is_no_results_or_a_provider_error_never_a_crash(provider: str, body) -> None:
    with serve_api(lambda _: Answer(body)) as api:
        fields = {f"{provider}_url": api.url, "brave_api_key": "k", "flickr_api_key": "k", "google_cse_api_key": "k"}
        found = run(settings_for(**fields, google_cse_cx="cx"), queries=["q"], providers=[provider])
    [source] = found.collection.sources
    assert source.error is None or source.error.startswith(provider)
    assert all(row.url.startswith("https://") for row in found.collection.rows)


def test_a_wikimedia_continue_that_never_ends_stops_at_max_per_query() -> None:
    endless = {"query": {"pages": [{"index": 1, "title": "File:x", "imageinfo": [{}]}]}, "continue": {"gsroffset": 1}}
    with serve_api(lambda _: Answer(endless)) as api:
        found = run(settings_for(wikimedia_url=api.url), queries=["q"], providers=["wikimedia"], max_per_query=5)
    assert len(api.asked) == 5 and found.urls() == []  # one file a call, none with a URL


def test_google_cse_is_refused_from_the_day_it_closes() -> None:
    assert not closed(date(2026, 12, 31)) and closed(date(2027, 1, 1))
