"""COCO files as JSON text: the text `json.dumps(coco, separators=(",", ":"))` writes, encoded by orjson (a tenth
of json's time; encoding the dataset and its splits was a fifth of a large conversion).

The dataset and its splits are written from one encoding: the splits repeat the dataset's images and annotations,
so encoding each file on its own encoded everything twice. The images and annotations are encoded in runs of
neighbours that go to the same split, and each file joins the runs it holds, a megabyte at a time, as it is read.
The runs are held while the files are written (the dataset's text once: 11 MB for 84k boxes), never a whole file."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import compress, groupby, repeat
from operator import eq, itemgetter
from typing import Any

import orjson

# check_circular off: the dicts were built by the converter and hold no cycles; on, the encoder tracks every
# container (a third of the encoding time).
_json_encode = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode
# Where orjson's text may differ from json.dumps's: non-ASCII (json escapes it, and DEL), null (orjson's spelling of
# NaN and infinity), and a float under 1e-4 (json writes 1e-05 and 1e-07, orjson 0.00001 and 1e-7). A piece with
# any of these, with an integer past 64 bits or a type orjson leaves to json, is json's own text.
_SHORT_EXPONENT = re.compile(rb"e-[0-9](?![0-9])")  # a literal start: searched at memory speed
_PASSTHROUGH = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_SUBCLASS
CHUNK = 1 << 20  # bytes a file's stream hands over at a time
BATCH = 8192  # list items encoded in one run at most: about a megabyte of annotations
CHECKED = 256  # runs encoded, then checked in one search
SHORT = 1 << 16  # bytes of a text checked with others: a longer one is searched alone, joining would copy it
SPLIT_KEYS = ("images", "annotations", "categories")  # a split's file: its images and annotations, every category


def encode(value: Any) -> bytes:
    """`json.dumps(value, separators=(",", ":"))` as UTF-8 bytes (it is ASCII), by orjson (a tenth of the time)
    wherever its text is the same; what json cannot encode raises as json raises."""
    try:
        text = orjson.dumps(value, option=_PASSTHROUGH)
    except orjson.JSONEncodeError:
        return _json_encode(value).encode()
    return text if _as_json_writes(text) else _json_encode(value).encode()


def _item_texts(lists: list[list[Any]]) -> list[bytes]:
    """Each list's items as `encode` writes the list, without its brackets; orjson's SHORT texts checked in one
    search: a large COCO's items are encoded in thousands of runs of a few items, and a search of each run's text
    cost three quarters of encoding them."""
    texts: list[bytes | None] = []
    for items in lists:
        try:
            # cut out (a copy): orjson's own bytes keep their room to grow, held they took four times the text
            texts.append(orjson.dumps(items, option=_PASSTHROUGH)[1:-1])
        except orjson.JSONEncodeError:
            texts.append(None)
    # a newline between texts: orjson escapes it, and no pattern the check looks for spans it (nor a bracket)
    short = _as_json_writes(b"\n".join(text for text in texts if text is not None and len(text) < SHORT))
    return [
        text
        if text is not None and ((short and len(text) < SHORT) or _as_json_writes(text))
        else _json_encode(items).encode()[1:-1]
        for text, items in zip(texts, lists, strict=True)
    ]


def _as_json_writes(text: bytes) -> bool:
    """Whether orjson's text is json's. Each pattern is searched for only where a byte it needs is there: a byte is
    found by memchr, at ten times the speed of a search for a pattern, and most COCO text has no 'u', '.' or '-'."""
    if not text.isascii() or b"\x7f" in text:
        return False
    if (b"u" in text and b"null" in text) or (b"." in text and b"0.0000" in text):
        return False
    if b"-" not in text:
        return True
    return not any(text[found.start() - 1 : found.start()].isdigit() for found in _SHORT_EXPONENT.finditer(text))


class CocoText:
    """A COCO dataset's file and its splits' files, as JSON text, from one encoding of its items. `split_ids`:
    the image ids of each split; a split's file holds those images, their annotations and every category."""

    def __init__(self, coco: dict[str, Any], split_ids: dict[str, list[int]]) -> None:
        split_of = {image_id: split for split, ids in split_ids.items() for image_id in ids}
        images, annotations = coco["images"], coco["annotations"]
        self._keys = list(coco)
        self._runs = {
            "images": _Runs.of(images, map(split_of.get, map(itemgetter("id"), images))),
            "annotations": _Runs.of(annotations, map(split_of.get, map(itemgetter("image_id"), annotations))),
        }
        self._values = {key: encode(value) for key, value in coco.items() if key not in self._runs}

    def stream(self, split: str | None = None) -> io.BufferedReader:
        """The dataset's file, or a split's, in a binary file to read, joined a piece at a time as it is read."""
        return io.BufferedReader(_Pieces(self._pieces(split)), CHUNK)

    def _pieces(self, split: str | None) -> Iterator[bytes]:
        yield b"{"
        for number, key in enumerate(self._keys if split is None else SPLIT_KEYS):
            yield (b"," if number else b"") + encode(key) + b":"
            if key in self._runs:
                yield b"["
                yield from _joined(self._runs[key].texts_of(split))
                yield b"]"
            else:
                yield self._values[key]
        yield b"}"


@dataclass(frozen=True)
class _Runs:
    """A list's items as JSON text (without the list's brackets), in runs of neighbours that go to one split."""

    splits: list[str | None]  # None: an item in no split (an annotation of an image not in the dataset)
    texts: list[bytes]

    @classmethod
    def of(cls, items: list[Any], splits: Iterable[str | None]) -> _Runs:
        runs = cls([], [])
        chunks = []
        start = 0
        for split, members in groupby(splits):
            end = start + len(list(members))
            for at in range(start, end, BATCH):
                runs.splits.append(split)
                chunks.append(items[at : min(at + BATCH, end)])
            start = end
        for at in range(0, len(chunks), CHECKED):
            runs.texts.extend(_item_texts(chunks[at : at + CHECKED]))
        return runs

    def texts_of(self, split: str | None) -> list[bytes]:
        """Every run, or a split's runs."""
        return self.texts if split is None else list(compress(self.texts, map(eq, self.splits, repeat(split))))


def _joined(texts: list[bytes]) -> Iterator[bytes]:
    """The texts comma-separated, in pieces of about CHUNK bytes: a piece per run would be a Python call for each
    few kilobytes of a split's text."""
    group: list[bytes] = []
    size = 0
    for text in texts:
        group.append(text)
        size += len(text)
        if size >= CHUNK:
            yield b",".join(group)
            group, size = [b""], 0  # the next piece starts with the comma after this one
    if size:
        yield b",".join(group)


class _Pieces(io.RawIOBase):
    """Pieces of bytes as one binary file, each piece taken when reading reaches it."""

    def __init__(self, pieces: Iterable[bytes]) -> None:
        self._pieces = iter(pieces)
        self._left = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._left:
            piece = next(self._pieces, None)
            if piece is None:
                return 0
            self._left = memoryview(piece)
        count = min(len(buffer), len(self._left))
        buffer[:count] = self._left[:count]
        self._left = self._left[count:]
        return count
