"""COCO files as JSON text: the text `json.dumps(coco, separators=(",", ":"))` writes, encoded by orjson (a tenth
of json's time; encoding the dataset and its splits was a fifth of a large conversion). A file is written as a
stream of pieces, a few thousand images or annotations at a time, never held whole (as text and again as bytes, it
was the peak of a large conversion)."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

import orjson

# check_circular off: the dicts were built by the converter and hold no cycles; on, the encoder tracks every
# container (a third of the encoding time).
_json_encode = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode
# Where orjson's text may differ from json.dumps's: non-ASCII (json escapes it, and DEL), null (orjson's spelling of
# NaN and infinity), and a float under 1e-4 (json writes 1e-05 and 1e-07, orjson 0.00001 and 1e-7). A piece with
# any of these (found by byte search, not one regex with alternatives: that scans at a tenth of the speed), with
# an integer past 64 bits or a type orjson leaves to json, is json's own text.
_SHORT_EXPONENT = re.compile(rb"e-[0-9](?![0-9])")  # a literal start: searched at memory speed
_PASSTHROUGH = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_SUBCLASS
CHUNK = 1 << 20  # bytes a stream of pieces hands over at a time


def encode(value: Any) -> bytes:
    """`json.dumps(value, separators=(",", ":"))` as UTF-8 bytes (it is ASCII), by orjson (a tenth of the time)
    wherever its text is the same; what json cannot encode raises as json raises."""
    try:
        text = orjson.dumps(value, option=_PASSTHROUGH)
    except orjson.JSONEncodeError:
        return _json_encode(value).encode()
    return text if _as_json_writes(text) else _json_encode(value).encode()


def _as_json_writes(text: bytes) -> bool:
    if not text.isascii() or b"null" in text or b"\x7f" in text or b"0.0000" in text:
        return False
    return not any(text[found.start() - 1 : found.start()].isdigit() for found in _SHORT_EXPONENT.finditer(text))


BATCH = 8192  # list items encoded in one piece: about a megabyte of annotations


def stream(coco: dict[str, Any]) -> io.BufferedReader:
    """`coco` as JSON text, in a binary file to read: encoded a piece at a time as it is read."""
    return io.BufferedReader(_Pieces(_pieces(coco)), CHUNK)


def _pieces(coco: dict[str, Any]) -> Iterator[bytes]:
    yield b"{"
    for number, (key, value) in enumerate(coco.items()):
        yield (b"," if number else b"") + encode(key) + b":"
        if type(value) is list and len(value) > BATCH:
            yield b"["
            for start in range(0, len(value), BATCH):
                yield (b"," if start else b"") + encode(value[start : start + BATCH])[1:-1]
            yield b"]"
        else:
            yield encode(value)
    yield b"}"


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
