"""Splitting a request into chunks, and the chunk markers' claims, on a folder store."""

from __future__ import annotations

from pathlib import Path

import pytest

from transferline import fanout, keys
from transferline.errors import InvalidInput
from transferline.fanout import ChunkedRequest, ChunkRef
from transferline.stage import StageResult
from transferline.store.filesystem import FilesystemStore

GROUP = "ab" * 32


def test_a_request_within_its_chunk_size_is_not_split() -> None:
    assert fanout.split(ChunkedRequest(chunk_size=10), 10, GROUP, "req") == []


def test_chunks_cover_every_item_once_in_order() -> None:
    chunks = fanout.split(ChunkedRequest(chunk_size=4), 10, GROUP, "req")
    refs = [chunk.chunk for chunk in chunks]
    assert [(r.start, r.stop) for r in refs if r] == [(0, 4), (4, 8), (8, 10)]
    assert {(r.count, r.group, r.parent) for r in refs if r} == {(3, GROUP, "req")}
    assert fanout.bus_key("job-1", refs[2]) == "job-1#2" and fanout.job_of_key("job-1#2") == "job-1"


def test_too_many_chunks_is_refused() -> None:
    with pytest.raises(InvalidInput, match="chunk_size"):
        fanout.split(ChunkedRequest(chunk_size=1), fanout.MAX_CHUNKS + 1, GROUP, "req")


def test_markers_are_kept_once_and_the_merge_is_claimed_once(tmp_path: Path) -> None:
    store = FilesystemStore(tmp_path)
    refs = [ChunkRef(group=GROUP, parent="req", index=i, count=2, start=i, stop=i + 1) for i in range(2)]
    fanout.record_done(store, "job-1", "download", refs[0], StageResult({"a": "k"}, {"n": 1.0}))
    fanout.record_done(store, "job-1", "download", refs[0], StageResult({"a": "other"}, {"n": 2.0}))
    assert fanout.finished(store, "job-1", "download", refs[0]) is None
    fanout.record_done(store, "job-1", "download", refs[1], StageResult({}, {}))
    parts = fanout.finished(store, "job-1", "download", refs[1])
    assert parts is not None and [p.index for p in parts] == [0, 1] and parts[0].outputs == {"a": "k"}
    assert fanout.claim_merge(store, "job-1", "download", refs[1]) is True
    assert fanout.claim_merge(store, "job-1", "download", refs[0]) is False
    assert fanout.claim_merge(store, "job-1", "download", refs[1]) is True  # the winner's own redelivery


def test_chunk_keys_are_checked() -> None:
    assert keys.chunk_done("job-1", "download", GROUP, 3).endswith(f"chunks/download/{GROUP}/done/00003.json")
    with pytest.raises(InvalidInput):
        keys.chunks("job-1", "download", "not-a-digest")
    with pytest.raises(InvalidInput):
        keys.chunk_file("job-1", "download", GROUP, 100_000, "x")
