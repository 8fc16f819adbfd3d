"""The journal a download streams its rows into: input order at the end whatever order they came in, one record
per digest, checkpoints a later run resumes from (a line cut short by a kill is fetched again)."""

from __future__ import annotations

import json
from pathlib import Path

from transferline.contracts import DownloadOutcome, ImageRecord
from transferline.store.filesystem import FilesystemStore
from transferline_downloader.journal import Journal, Layout

LAYOUT = Layout("jobs/j/images/outcomes.jsonl", "jobs/j/images/manifest.jsonl", "jobs/j/images/summary.json")
URLS = [f"http://h/{n}.png" for n in range(5)]


def ok(n: int, digest: str) -> tuple[DownloadOutcome, ImageRecord]:
    record = ImageRecord(
        sha256=digest,
        key=f"jobs/j/images/{digest[:2]}/{digest}.png",
        width=9,
        height=9,
        format="png",
        bytes=100 + n,
        url=URLS[n],
    )
    return DownloadOutcome(url=URLS[n], status="ok", sha256=digest), record


def failed(n: int) -> DownloadOutcome:
    return DownloadOutcome(url=URLS[n], status="failed", reason="http-status", detail="404")


def rows(store: FilesystemStore, key: str) -> list[dict]:
    return [json.loads(line) for line in store.get_bytes(key).splitlines()]


def test_rows_end_in_input_order_with_one_record_per_digest(tmp_path: Path) -> None:
    store = FilesystemStore(tmp_path / "store")
    a, b = "a" * 64, "b" * 64
    with Journal(URLS, tmp_path) as journal:
        for n, digest in ((3, a), (0, b), (4, a)):  # 4 is a duplicate of 3
            journal.add(n, *ok(n, digest))
        journal.add(2, failed(2), None)
        journal.add(1, failed(1), None)
        assert journal.first_missing() is None
        tally = journal.write(store, LAYOUT, tmp_path)
    assert [row["url"] for row in rows(store, LAYOUT.outcomes)] == URLS
    assert [row["sha256"] for row in rows(store, LAYOUT.manifest)] == [a, b]
    summary = tally.summary(fetched=5, fetched_ok=3, seconds=1.0)
    assert (summary["ok"], summary["failed"], summary["stored"], summary["duplicates"]) == (3, 2, 2, 1)
    assert summary["reasons"] == {"http-status": 2} and summary["bytes"] == 103 + 100


def test_a_checkpoint_resumes_and_a_line_cut_short_is_fetched_again(tmp_path: Path) -> None:
    store = FilesystemStore(tmp_path / "store")
    with Journal(URLS, tmp_path) as journal:
        journal.add(2, *ok(2, "c" * 64))
        journal.add(0, failed(0), None)
        journal.save(store, LAYOUT)
    cut = store.get_bytes(LAYOUT.outcomes) + failed(4).model_dump_json().encode()[:20]  # killed mid-write
    store.put_bytes(LAYOUT.outcomes, cut)
    with Journal(URLS, tmp_path) as again:
        again.load(store, LAYOUT)
        assert [again.has(n) for n in range(5)] == [True, False, True, False, False]
        assert again.first_missing() == 1 and again.fetched == 0


def test_outcomes_of_urls_not_in_the_list_are_left_out_and_the_first_known_wins(tmp_path: Path) -> None:
    store = FilesystemStore(tmp_path / "store")
    with Journal([*URLS, "http://h/gone.png"], tmp_path) as journal:
        journal.add(5, DownloadOutcome(url="http://h/gone.png", status="failed", reason="timeout"), None)
        journal.add(1, *ok(1, "d" * 64))
        journal.save(store, LAYOUT)
    with Journal(URLS, tmp_path) as journal:
        journal.add(1, failed(1), None)
        journal.load(store, LAYOUT)
        for n in (0, 2, 3, 4):
            journal.add(n, failed(n), None)
        journal.write(store, LAYOUT, tmp_path)
    outcomes = rows(store, LAYOUT.outcomes)
    assert [row["url"] for row in outcomes] == URLS and outcomes[1]["status"] == "failed"
    assert rows(store, LAYOUT.manifest) == []  # no outcome names the stored record any more
