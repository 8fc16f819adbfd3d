"""The tf.train.Example layout Model Garden's TfExampleDecoder and the TF OD API read: every key spelled here."""

from __future__ import annotations

import tensorflow as tf

from services.recorder.encode import Encoded

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
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def _bytes(values: list[bytes]) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))


def _ints(values: list[int]) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=values))


def _floats(values: list[float]) -> tf.train.Feature:
    return tf.train.Feature(float_list=tf.train.FloatList(value=values))
