"""The tf.train.Example layout Model Garden's TfExampleDecoder and the TF OD API read: every key spelled here.
Built with `tfrecord`'s messages, so no TensorFlow."""

from __future__ import annotations

from typing import Any

from transferline_recorder.encode import Encoded
from transferline_recorder.tfrecord import BytesList, Example, Feature, Features, FloatList, Int64List

ENCODED = "image/encoded"
FORMAT = "image/format"
HEIGHT = "image/height"
WIDTH = "image/width"
SOURCE_ID = "image/source_id"  # numeric text: Model Garden's evaluation converts it to int64
FILENAME = "image/filename"
SHA256 = "image/key/sha256"
XMIN = "image/object/bbox/xmin"
XMAX = "image/object/bbox/xmax"
YMIN = "image/object/bbox/ymin"
YMAX = "image/object/bbox/ymax"
LABEL = "image/object/class/label"
TEXT = "image/object/class/text"
IS_CROWD = "image/object/is_crowd"
AREA = "image/object/area"
MASK = "image/object/mask"  # one single-channel PNG per instance, values 0/1


def to_example(item: Encoded) -> bytes:
    feature = {
        ENCODED: _bytes([item.image]),
        FORMAT: _bytes([item.format.encode()]),
        HEIGHT: _ints([item.height]),
        WIDTH: _ints([item.width]),
        SOURCE_ID: _bytes([item.source_id.encode()]),
        FILENAME: _bytes([item.filename.encode()]),
        SHA256: _bytes([item.sha256.encode()]),
        XMIN: _floats(item.xmin),
        XMAX: _floats(item.xmax),
        YMIN: _floats(item.ymin),
        YMAX: _floats(item.ymax),
        LABEL: _ints(item.labels),
        TEXT: _bytes([text.encode() for text in item.texts]),
        IS_CROWD: _ints(item.crowd),
        AREA: _floats(item.areas),
    }
    if item.masks:
        feature[MASK] = _bytes(item.masks)
    # deterministic: map entries sorted by key (otherwise their order follows a per-process hash seed)
    return bytes(Example(features=Features(feature=feature)).SerializeToString(deterministic=True))


def _bytes(values: list[bytes]) -> Any:
    return Feature(bytes_list=BytesList(value=values))


def _ints(values: list[int]) -> Any:
    return Feature(int64_list=Int64List(value=values))


def _floats(values: list[float]) -> Any:
    return Feature(float_list=FloatList(value=values))
