"""Scalars from TensorBoard event files (what Model Garden's trainer writes under models/<run>/summaries/train/),
read without TensorFlow: the files' TFRecord framing, then the few protobuf fields of Event -> Summary -> Value
that hold a scalar (a `simple_value`, or a scalar float tensor as TF 2's `tf.summary.scalar` writes it).

Field numbers are tensorflow/core/util/event.proto, framework/summary.proto and framework/tensor.proto."""

from __future__ import annotations

import struct
from collections import defaultdict
from collections.abc import Iterator

Curves = dict[str, list[tuple[int, float]]]  # tag -> (step, value), in the files' order
DT_FLOAT, DT_DOUBLE = 1, 2
_FORMATS = {DT_FLOAT: "f", DT_DOUBLE: "d"}
_VARINT, _FIXED64, _BYTES, _FIXED32 = 0, 1, 2, 5


def scalars(data: bytes, into: Curves | None = None) -> Curves:
    """Every scalar of an event file, by tag; a record cut short (a file still being written) ends the reading."""
    found: Curves = defaultdict(list, into or {})
    for record in _records(data):
        event = dict((number, value) for number, _, value in _fields(record))
        step, summary = event.get(2, 0), event.get(5)
        if not isinstance(summary, bytes) or not isinstance(step, int):
            continue
        for number, _, value in _fields(summary):
            scalar = _value(value) if number == 1 and isinstance(value, bytes) else None
            if scalar is not None:
                found[scalar[0]].append((step, scalar[1]))
    return dict(found)


def _records(data: bytes) -> Iterator[bytes]:
    """TFRecord framing: length (uint64), its CRC, the bytes, their CRC (the CRCs are not checked here)."""
    at = 0
    while at + 12 <= len(data):
        (length,) = struct.unpack_from("<Q", data, at)
        start = at + 12
        if start + length + 4 > len(data):
            return
        yield data[start : start + length]
        at = start + length + 4


def _fields(message: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) of a protobuf message: varints as ints, everything else as bytes."""
    at = 0
    while at < len(message):
        key, at = _varint(message, at)
        wire = key & 7
        if wire == _VARINT:
            value, at = _varint(message, at)
            yield key >> 3, wire, value
            continue
        if wire == _BYTES:
            size, at = _varint(message, at)
        elif wire in (_FIXED64, _FIXED32):
            size = 8 if wire == _FIXED64 else 4
        else:
            return  # groups are not in these messages: stop rather than misread
        yield key >> 3, wire, message[at : at + size]
        at += size


def _varint(data: bytes, at: int) -> tuple[int, int]:
    result = shift = 0
    while at < len(data):
        byte = data[at]
        at += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, at
        shift += 7
    return result, at


def _value(message: bytes) -> tuple[str, float] | None:
    """Summary.Value: tag = 1, simple_value = 2 (float), tensor = 8."""
    tag, number = "", None
    for field, wire, value in _fields(message):
        if field == 1 and isinstance(value, bytes):
            tag = value.decode("utf-8", "replace")
        elif field == 2 and wire == _FIXED32 and isinstance(value, bytes):
            number = struct.unpack("<f", value)[0]
        elif field == 8 and isinstance(value, bytes):
            number = _scalar_tensor(value)
    return (tag, float(number)) if tag and number is not None else None


def _scalar_tensor(message: bytes) -> float | None:
    """TensorProto: dtype = 1, tensor_shape = 2 (a scalar has no dim), tensor_content = 4, float_val = 5,
    double_val = 6 (packed or not)."""
    parts: dict[int, list[int | bytes]] = defaultdict(list)
    for field, _, value in _fields(message):
        parts[field].append(value)
    dtype = parts[1][0] if parts[1] else 0
    shape = parts[2][0] if parts[2] else b""
    code = _FORMATS.get(dtype) if isinstance(dtype, int) else None
    if code is None or not isinstance(shape, bytes) or any(field == 2 for field, _, _ in _fields(shape)):
        return None
    raw = b"".join(v for v in parts[4] + parts[5 if code == "f" else 6] if isinstance(v, bytes))
    size = struct.calcsize(code)
    return struct.unpack_from("<" + code, raw)[0] if len(raw) >= size else None
