"""The stage's work over a store (a real filesystem store): which uploaded lists it reads, and the messages a
person gets when there is nothing to collect or a named list is missing. Settings name their variables."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from tests.support.providers import collector_settings
from transferline import keys
from transferline.errors import ConfigurationError, InvalidInput
from transferline.settings import Settings
from transferline.stage import StageContext
from transferline.store.filesystem import FilesystemStore
from transferline_collector.job import collect_job, read_lists
from transferline_collector.request import CollectRequested
from transferline_collector.settings import CollectorSettings

JOB = "job-1"


@pytest.fixture
def store(tmp_path: Path) -> FilesystemStore:
    store = FilesystemStore(tmp_path / "store")
    store.ensure_bucket()
    return store


def context(store: FilesystemStore, tmp_path: Path) -> StageContext:
    settings = Settings(data_dir=tmp_path / "data")
    return StageContext(JOB, "r1", settings, store, logging.getLogger("test"), lambda *_: None)


def test_every_uploaded_list_is_read_unless_the_request_names_some(store: FilesystemStore) -> None:
    store.put_bytes(keys.url_list(JOB, "b.txt"), b"https://b.test/1.jpg\n")
    store.put_bytes(keys.url_list(JOB, "a.csv"), b"url\nhttps://a.test/1.jpg\n")
    assert list(read_lists(store, JOB, CollectRequested())) == ["a.csv", "b.txt"]
    assert list(read_lists(store, JOB, CollectRequested(lists=["b.txt"]))) == ["b.txt"]
    with pytest.raises(InvalidInput, match=re.escape("'c.txt' is not under jobs/job-1/urls/lists/")):
        read_lists(store, JOB, CollectRequested(lists=["c.txt"]))


def test_a_job_with_no_query_and_no_list_says_what_to_upload(store: FilesystemStore, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"transferline upload job-1 --urls FILE"):
        collect_job(CollectRequested(), context(store, tmp_path), collector_settings())


def test_a_job_writes_rows_credits_and_report(store: FilesystemStore, tmp_path: Path) -> None:
    store.put_bytes(keys.url_list(JOB, "a.txt"), b"https://a.test/1.jpg\nhttps://a.test/1.jpg\n")
    result = collect_job(CollectRequested(), context(store, tmp_path), collector_settings())
    assert result.outputs == {
        "urls": keys.urls(JOB),
        "attribution": keys.urls_attribution(JOB),
        "report": keys.urls_report(JOB),
    }
    assert result.counters["kept"] == 1 and result.counters["dropped_duplicate"] == 1
    assert store.get_bytes(keys.urls(JOB)) == b'{"url":"https://a.test/1.jpg","source":"list:a.txt"}\n'


def test_a_bad_base_url_setting_names_its_variable() -> None:
    with pytest.raises(ConfigurationError, match="TRANSFERLINE_OPENVERSE_URL"):
        CollectorSettings.from_env({"TRANSFERLINE_OPENVERSE_URL": "ftp://mirror.test"})
    found = CollectorSettings.from_env({"TRANSFERLINE_WIKIMEDIA_URL": "http://127.0.0.1:8080/"})
    assert found.wikimedia_url == "http://127.0.0.1:8080"


def test_the_user_agent_carries_the_contact() -> None:
    assert CollectorSettings(collector_contact="me@example.org").user_agent.endswith(
        "(image dataset builder; me@example.org)"
    )
    assert "TRANSFERLINE_COLLECTOR_CONTACT" in CollectorSettings().user_agent
