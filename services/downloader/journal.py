"""What a download knows so far, streamed: every outcome and manifest record is appended to an unnamed temp file
as it comes (in completion order), so memory holds one offset per URL and the digests stored, never the rows.
Copied to the store at checkpoints (a killed run resumes from there), and written in input order at the end."""

from __future__ import annotations

import json
import os
import tempfile
from array import array
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, TypeVar

from pydantic import ValidationError

from transferline.contracts import DownloadOutcome, ImageRecord
from transferline.errors import InvalidInput
from transferline.store import Store

JSONL = "application/x-ndjson"
_READ = 1 << 20
RowT = TypeVar("RowT", DownloadOutcome, ImageRecord)


@dataclass(frozen=True)
class Layout:
    """Where one run's files go (keys from keys.py)."""

    outcomes: str
    manifest: str
    summary: str


@dataclass
class Tally:
    """The summary's counts, added up as the final rows stream by."""

    urls: int = 0
    ok: int = 0
    stored: int = 0
    bytes: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def outcome(self, row: dict) -> None:
        self.urls += 1
        if row["status"] == "ok":
            self.ok += 1
        elif reason := row.get("reason"):
            self.reasons[reason] = self.reasons.get(reason, 0) + 1

    def record(self, row: dict) -> None:
        self.stored += 1
        self.bytes += int(row["bytes"])

    def summary(self, fetched: int, fetched_ok: int, seconds: float) -> dict:
        return {
            "urls": self.urls,
            "ok": self.ok,
            "failed": self.urls - self.ok,
            "reasons": dict(sorted(self.reasons.items())),
            "stored": self.stored,
            "duplicates": self.ok - self.stored,
            "bytes": self.bytes,
            "fetched_this_run": fetched,
            "fetched_ok": fetched_ok,
            "wall_seconds": round(seconds, 3),
            "images_per_second": round(fetched_ok / seconds, 2) if seconds > 0 else 0.0,
        }


class Journal:
    """The outcomes of `urls` (at most one each: the first known wins) and the records of stored images (one per
    digest). Use it as a context manager: its temp files go when it closes."""

    def __init__(self, urls: list[str], scratch: Path) -> None:
        self.urls = urls
        self.done = 0  # URLs with an outcome
        self.fetched = 0  # URLs handled by this run (not resumed)
        self.fetched_ok = 0
        self._offsets = array("q", [-1]) * len(urls)  # where each URL's outcome line starts, -1: none yet
        self._digests: set[str] = set()
        self._positions: dict[str, int] | None = None  # URL -> index, made when stored rows are loaded
        self._files = ExitStack()  # the journal is the context manager that closes its files
        self._outcomes = self._files.enter_context(tempfile.TemporaryFile(dir=scratch, prefix="outcomes-"))  # noqa: SIM115
        self._manifest = self._files.enter_context(tempfile.TemporaryFile(dir=scratch, prefix="manifest-"))  # noqa: SIM115

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._files.close()

    def has(self, index: int) -> bool:
        return self._offsets[index] >= 0

    def add(self, index: int, outcome: DownloadOutcome, record: ImageRecord | None) -> None:
        """This run's outcome for `urls[index]` (and the image it stored)."""
        self._add_outcome(index, outcome.model_dump_json(exclude_none=True).encode() + b"\n")
        if record is not None:
            self._add_record(record.sha256, record.model_dump_json(exclude_none=True).encode() + b"\n")
            self.fetched_ok += 1
        self.fetched += 1

    def load(self, store: Store, layout: Layout) -> None:
        """Outcomes and records stored already (a checkpoint, or a chunk's final files): those of URLs in the list
        that have none yet are kept. A last line cut short by a kill is left out (its URL is fetched again)."""
        if self._positions is None:
            self._positions = {url: i for i, url in enumerate(self.urls)}
        for line in stored_lines(store, layout.outcomes):
            index = self._positions.get(_row(line, DownloadOutcome, layout.outcomes).url)
            if index is not None and not self.has(index):
                self._add_outcome(index, line)
        for line in stored_lines(store, layout.manifest):
            self._add_record(_row(line, ImageRecord, layout.manifest).sha256, line)

    def first_missing(self) -> int | None:
        """The index of the first URL without an outcome, or None when every URL has one."""
        return next((index for index, offset in enumerate(self._offsets) if offset < 0), None)

    def save(self, store: Store, layout: Layout) -> None:
        """A checkpoint: what is known, as it is (completion order)."""
        _put(store, layout.outcomes, self._outcomes)
        _put(store, layout.manifest, self._manifest)

    def write(self, store: Store, layout: Layout, scratch: Path) -> Tally:
        """The final files: one outcome per URL in input order, and the records those outcomes name."""
        tally, wanted = Tally(), set()
        with tempfile.TemporaryFile(dir=scratch, prefix="outcomes-") as ordered:
            for offset in self._offsets:
                self._outcomes.seek(offset)
                line = self._outcomes.readline()
                ordered.write(line)
                row = json.loads(line)
                tally.outcome(row)
                if row.get("sha256"):
                    wanted.add(row["sha256"])
            _put(store, layout.outcomes, ordered)
        with tempfile.TemporaryFile(dir=scratch, prefix="manifest-") as kept:
            self._manifest.seek(0)
            for line in self._manifest:
                row = json.loads(line)
                if row["sha256"] in wanted:
                    kept.write(line)
                    tally.record(row)
            _put(store, layout.manifest, kept)
        return tally

    def _add_outcome(self, index: int, line: bytes) -> None:
        self._offsets[index] = self._outcomes.seek(0, os.SEEK_END)
        self._outcomes.write(line)
        self.done += 1

    def _add_record(self, digest: str, line: bytes) -> None:
        if digest not in self._digests:
            self._digests.add(digest)
            self._manifest.seek(0, os.SEEK_END)
            self._manifest.write(line)


def stored_lines(store: Store, key: str) -> Iterator[bytes]:
    """The whole lines of a stored JSON-lines file, streamed (none when it does not exist); a last line without
    its newline was cut short by a kill and is not given."""
    try:
        stream = store.open(key)
    except KeyError:
        return
    try:
        rest = b""
        while block := stream.read(_READ):
            *lines, rest = (rest + block).split(b"\n")
            yield from (line + b"\n" for line in lines if line.strip())
    finally:
        stream.close()


def _row(line: bytes, model: type[RowT], key: str) -> RowT:
    try:
        return model.model_validate_json(line)
    except ValidationError as exc:
        raise InvalidInput(f"{key}: a line is not a {model.__name__}: {exc.errors()[0]['msg']}") from None


def _put(store: Store, key: str, file: IO[bytes]) -> None:
    """The file as it is now, streamed to the store through a file object of its own (an S3 upload closes the
    stream it is given; appending goes on at the journal's end afterwards)."""
    file.flush()
    with os.fdopen(os.dup(file.fileno()), "rb") as reader:
        reader.seek(0)
        store.put_stream(key, reader, JSONL)
