"""COCO files as JSON text. A conversion writes its dataset twice (coco.json, then the splits, which together
hold it again), and encoding was a fifth of a large conversion, so each image's annotations are encoded once and
every file is put together from those pieces: the same text `json.dumps` would write. A file is written as a
stream of its pieces, never held whole (as text and again as bytes, it was the peak of a large conversion)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Iterator
from typing import Any

# check_circular off: the dicts were built by the converter and hold no cycles; on, the encoder tracks every
# container (a third of the encoding time).
encode = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode
CHUNK = 1 << 20  # bytes a stream of pieces hands over at a time


class CocoText:
    def __init__(self, coco: dict[str, Any]) -> None:
        grouped: dict[Any, list[dict[str, Any]]] = {}
        for annotation in coco["annotations"]:
            grouped.setdefault(annotation["image_id"], []).append(annotation)
        # Pieces reproduce the annotation list only when it runs image by image in the images' order, as build
        # writes it; any other order is encoded as it stands.
        order = [image["id"] for image in coco["images"] if image["id"] in grouped]
        self.in_order = [a for image in order for a in grouped[image]] == coco["annotations"]
        self.pieces = {image: encode(found)[1:-1] for image, found in grouped.items()} if self.in_order else {}
        self.counts = {image: len(found) for image, found in grouped.items()}

    def stream(self, coco: dict[str, Any]) -> io.BufferedReader:
        """`coco` (the dataset this was made from, or a split of it holding whole images) as JSON text, in a
        binary file to read: encoded as it is read."""
        return io.BufferedReader(_Encoded(_batched(self._chunks(coco))), CHUNK)

    def _chunks(self, coco: dict[str, Any]) -> Iterator[str]:
        yield "{"
        for number, (key, value) in enumerate(coco.items()):
            yield f"{',' if number else ''}{encode(key)}:"
            if key == "annotations":
                yield from self._annotations(coco)
            else:
                yield encode(value)
        yield "}"

    def _annotations(self, coco: dict[str, Any]) -> Iterator[str]:
        held = [image["id"] for image in coco["images"] if image["id"] in self.pieces] if self.in_order else []
        if not self.in_order or sum(self.counts[image] for image in held) != len(coco["annotations"]):
            yield encode(coco["annotations"])  # not whole images of this dataset: encoded as it stands
            return
        yield "["
        for number, image in enumerate(held):
            if number:
                yield ","
            yield self.pieces[image]
        yield "]"


def _batched(pieces: Iterable[str]) -> Iterator[str]:
    """The pieces joined into about CHUNK characters each: reading then costs a call per chunk, not per image."""
    held: list[str] = []
    size = 0
    for piece in pieces:
        held.append(piece)
        size += len(piece)
        if size >= CHUNK:
            yield "".join(held)
            held, size = [], 0
    yield "".join(held)


class _Encoded(io.RawIOBase):
    """Text pieces as the bytes of their UTF-8 encoding, each piece encoded when reading reaches it (the JSON is
    ASCII: the encoder escapes everything else)."""

    def __init__(self, pieces: Iterable[str]) -> None:
        self._pieces = iter(pieces)
        self._left = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._left:
            piece = next(self._pieces, None)
            if piece is None:
                return 0
            self._left = memoryview(piece.encode())
        count = min(len(buffer), len(self._left))
        buffer[:count] = self._left[:count]
        self._left = self._left[count:]
        return count
