"""tf.train.Example and TFRecord files without TensorFlow (whose import alone takes seconds).

The Example messages are built from the same schema as TensorFlow's `feature.proto` / `example.proto`, in a
private descriptor pool (so they never clash with TensorFlow's own classes in a process that has both); the
bytes on the wire are the same. `RecordWriter` frames records as TFRecordWriter does: the length as a little-endian
uint64, its masked CRC32C, the data, the data's masked CRC32C.
"""

from __future__ import annotations

import struct
from pathlib import Path
from types import TracebackType
from typing import Any

import google_crc32c
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_Field = descriptor_pb2.FieldDescriptorProto


def _schema() -> descriptor_pb2.FileDescriptorProto:
    """tensorflow/core/example/{feature,example}.proto: the messages an Example is made of."""
    schema = descriptor_pb2.FileDescriptorProto(name="transferline/tf_example.proto", package="tensorflow")
    schema.syntax = "proto3"
    for name, kind in (
        ("BytesList", _Field.TYPE_BYTES),
        ("FloatList", _Field.TYPE_FLOAT),
        ("Int64List", _Field.TYPE_INT64),
    ):
        schema.message_type.add(name=name).field.add(name="value", number=1, type=kind, label=_Field.LABEL_REPEATED)
    feature = schema.message_type.add(name="Feature")
    feature.oneof_decl.add(name="kind")
    for number, name in enumerate(("bytes_list", "float_list", "int64_list"), start=1):
        kind = ".tensorflow." + name.title().replace("_", "")
        feature.field.add(name=name, number=number, type=_Field.TYPE_MESSAGE, type_name=kind, oneof_index=0)
    features = schema.message_type.add(name="Features")
    entry = features.nested_type.add(name="FeatureEntry")
    entry.options.map_entry = True
    entry.field.add(name="key", number=1, type=_Field.TYPE_STRING)
    entry.field.add(name="value", number=2, type=_Field.TYPE_MESSAGE, type_name=".tensorflow.Feature")
    features.field.add(
        name="feature",
        number=1,
        type=_Field.TYPE_MESSAGE,
        label=_Field.LABEL_REPEATED,
        type_name=".tensorflow.Features.FeatureEntry",
    )
    example = schema.message_type.add(name="Example")
    example.field.add(name="features", number=1, type=_Field.TYPE_MESSAGE, type_name=".tensorflow.Features")
    return schema


_pool = descriptor_pool.DescriptorPool()
_classes = message_factory.GetMessages([_schema()], pool=_pool)
Example: Any = _classes["tensorflow.Example"]
Features: Any = _classes["tensorflow.Features"]
Feature: Any = _classes["tensorflow.Feature"]
BytesList: Any = _classes["tensorflow.BytesList"]
FloatList: Any = _classes["tensorflow.FloatList"]
Int64List: Any = _classes["tensorflow.Int64List"]


def masked_crc(data: bytes) -> bytes:
    """CRC32C, rotated and offset as TFRecord stores it (so data that holds its own CRC does not look valid)."""
    crc = google_crc32c.value(data)
    return struct.pack("<I", (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF)


class RecordWriter:
    """Appends framed records to a local file; use it as a context manager."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("wb")

    def write(self, record: bytes) -> None:
        length = struct.pack("<Q", len(record))
        self._file.write(length + masked_crc(length))
        self._file.write(record)
        self._file.write(masked_crc(record))

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._file.close()
