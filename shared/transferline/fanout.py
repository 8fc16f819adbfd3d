"""Fan-out and fan-in for stages whose unit of work is large (the downloader's URL list; later the recorder's
shards), written once for every stage, as img2dataset's distributor is: a request over many items is split into
chunk requests published with a key per chunk, so they spread over the topic's partitions and every replica takes
some. Each chunk's result is a marker created once (`Store.create_if_absent`), so a redelivered chunk is not
redone; whoever sees every marker present tries to create the merge marker, and exactly one replica wins, merges
and completes the request, even when two finish together. The winner's marker names its chunk, so if it dies
before completing, its own redelivered chunk (uncommitted, it comes back) finishes the merge.

A stage opts in by taking a `ChunkedRequest` and being a `ChunkedStage`: `count_items` says how many items a
request has, `handle` works on `request.chunk`'s slice (or on everything when unchunked), and `merge` turns the
chunks' results into the request's result."""

from __future__ import annotations

import json
import os
import socket
from abc import abstractmethod
from dataclasses import dataclass
from typing import TypeVar

from pydantic import Field, NonNegativeInt, PositiveInt

from transferline import keys
from transferline.errors import InvalidInput
from transferline.payloads import Payload, StageRequest
from transferline.stage import Stage, StageContext, StageResult
from transferline.store import Store

MAX_CHUNKS = 10_000
KEY_SEPARATOR = "#"  # bus key of a chunk request: <job id>#<index>, so chunks spread over partitions


class ChunkRef(Payload):
    """Which part of a fanned-out request this is."""

    group: str = Field(pattern=r"^[0-9a-f]{64}$", description="the input digest of the request that was split")
    parent: str = Field(min_length=1, max_length=200, description="id of the request event that was split")
    index: NonNegativeInt
    count: PositiveInt
    start: NonNegativeInt = Field(description="first item of this chunk")
    stop: NonNegativeInt = Field(description="one past its last item")


class ChunkedRequest(StageRequest):
    chunk_size: int = Field(500, ge=1, le=1_000_000, description="items per chunk when the request is fanned out")
    chunk: ChunkRef | None = Field(None, description="set on chunk requests by the runner; absent on requests")


@dataclass(frozen=True)
class ChunkResult:
    """What one chunk produced (its marker's content)."""

    index: int
    outputs: dict[str, str]
    counters: dict[str, float]
    worker: str = ""  # host:pid of the replica that did it, for people (and tests) to see who did what

    def to_json(self) -> bytes:
        return json.dumps(self.__dict__, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> ChunkResult:
        raw = json.loads(data)
        return cls(int(raw["index"]), dict(raw["outputs"]), dict(raw["counters"]), str(raw.get("worker", "")))


ChunkedT = TypeVar("ChunkedT", bound=ChunkedRequest)


class ChunkedStage(Stage[ChunkedT]):
    @abstractmethod
    def count_items(self, request: ChunkedT, ctx: StageContext) -> int:
        """How many items the request covers (the runner splits when there are more than `chunk_size`)."""

    @abstractmethod
    def merge(self, request: ChunkedT, ctx: StageContext, parts: list[ChunkResult]) -> StageResult:
        """The request's result from its chunks' results, in chunk order (each chunk's outputs are in the store)."""


def split(request: ChunkedRequest, items: int, group: str, parent: str) -> list[ChunkedRequest]:
    """Chunk requests covering `items` in order, or [] when one request is enough."""
    size = request.chunk_size
    if items <= size:
        return []
    count = -(-items // size)
    if count > MAX_CHUNKS:
        raise InvalidInput(f"{items} items in chunks of {size} is over {MAX_CHUNKS} chunks: raise chunk_size")
    return [
        request.model_copy(
            update={
                "chunk": ChunkRef(
                    group=group, parent=parent, index=i, count=count, start=i * size, stop=min(items, (i + 1) * size)
                )
            }
        )
        for i in range(count)
    ]


def bus_key(job_id: str, chunk: ChunkRef) -> str:
    return f"{job_id}{KEY_SEPARATOR}{chunk.index}"


def job_of_key(key: str) -> str:
    return key.split(KEY_SEPARATOR, 1)[0]


def done_result(store: Store, job: str, stage: str, chunk: ChunkRef) -> ChunkResult | None:
    try:
        return ChunkResult.from_json(store.get_bytes(keys.chunk_done(job, stage, chunk.group, chunk.index)))
    except KeyError:
        return None


def record_done(store: Store, job: str, stage: str, chunk: ChunkRef, result: StageResult) -> None:
    """The chunk's marker; when it exists already (a redelivery finished too) the first one stands."""
    marker = ChunkResult(chunk.index, result.outputs, result.counters, worker())
    store.create_if_absent(keys.chunk_done(job, stage, chunk.group, chunk.index), marker.to_json(), "application/json")


def finished(store: Store, job: str, stage: str, chunk: ChunkRef) -> list[ChunkResult] | None:
    """Every chunk's result in order, or None while some are still missing (one listing, then the markers)."""
    prefix = keys.chunks_done(job, stage, chunk.group)
    found = [info.key for info in store.list(prefix)]
    if len(found) < chunk.count:
        return None
    parts = [ChunkResult.from_json(store.get_bytes(key)) for key in found]
    return sorted(parts, key=lambda part: part.index)


def claim_merge(store: Store, job: str, stage: str, chunk: ChunkRef) -> bool:
    """True for exactly one chunk of the group: the first to create the merge marker, or that chunk's own
    redelivery (its replica died before completing, so its message was not committed and came back)."""
    key = keys.chunks_merged(job, stage, chunk.group)
    claim = json.dumps({"index": chunk.index, "worker": worker()}).encode()
    if store.create_if_absent(key, claim, "application/json"):
        return True
    try:
        return int(json.loads(store.get_bytes(key))["index"]) == chunk.index
    except (KeyError, ValueError, TypeError):
        return False


def worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"
