"""Store.create_if_absent on both backends (a folder; real MinIO with If-None-Match: *): of racing writers to
one key exactly one wins, the loser leaves the winner's bytes alone, and readers never see a half object."""

from __future__ import annotations

import threading
import uuid

import pytest

from transferline.settings import Settings
from transferline.store import Store, open_store


@pytest.fixture
def store(backend_settings: Settings) -> Store:
    store = open_store(backend_settings)
    store.ensure_bucket()
    return store


def test_the_first_create_wins_and_later_ones_change_nothing(store: Store) -> None:
    key = f"race/{uuid.uuid4().hex}/merged.json"
    assert store.create_if_absent(key, b"first") is True
    assert store.create_if_absent(key, b"second") is False
    assert store.get_bytes(key) == b"first"


def test_of_racing_writers_exactly_one_wins(store: Store) -> None:
    key = f"race/{uuid.uuid4().hex}/merged.json"
    start = threading.Barrier(8)
    won: list[int] = []

    def race(me: int) -> None:
        start.wait()
        if store.create_if_absent(key, f"writer {me}".encode() * 1000):
            won.append(me)

    threads = [threading.Thread(target=race, args=(me,)) for me in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 1
    assert store.get_bytes(key) == f"writer {won[0]}".encode() * 1000
    assert [info.key for info in store.list(key.rsplit("/", 1)[0] + "/")] == [key]  # no temp file left behind
