"""Our TensorFlow-free Example messages and TFRecord framing, checked against TensorFlow itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from transferline_recorder import tfrecord
from transferline_recorder.encode import Encoded
from transferline_recorder.features import to_example
from transferline_recorder.tfrecord import RecordWriter

VALUES = {
    "bytes_list": st.lists(st.binary(max_size=40), max_size=4),
    "float_list": st.lists(st.floats(width=32, allow_nan=False), max_size=4),
    "int64_list": st.lists(st.integers(-(2**63), 2**63 - 1), max_size=4),
}
FEATURES = st.dictionaries(
    st.text(max_size=12), st.sampled_from(list(VALUES)).flatmap(lambda kind: st.tuples(st.just(kind), VALUES[kind]))
)


def build(module: Any, features: dict[str, tuple[str, list]]) -> Any:
    """The same Example through either set of classes (ours, or tf.train's)."""
    lists = {"bytes_list": "BytesList", "float_list": "FloatList", "int64_list": "Int64List"}
    feature = {
        key: module.Feature(**{kind: getattr(module, lists[kind])(value=values)})
        for key, (kind, values) in features.items()
    }
    return module.Example(features=module.Features(feature=feature))


@settings(max_examples=60, deadline=None)
@given(features=FEATURES)
def test_our_examples_are_tensorflows_bytes(features: dict[str, tuple[str, list]]) -> None:
    ours = build(tfrecord, features).SerializeToString(deterministic=True)
    theirs = build(tf.train, features)
    assert ours == theirs.SerializeToString(deterministic=True)
    assert tf.train.Example.FromString(ours) == theirs


def test_a_recorder_example_parses_back_in_tensorflow() -> None:
    item = Encoded("7", "a.jpg", b"\xff\xd8jpeg", "jpeg", 4, 3, "ab" * 32, False, [0.1], [0.5], [0.2], [0.9], [2])
    item.texts, item.crowd, item.areas, item.masks = ["can"], [0], [3.5], [b"\x89PNG mask"]
    feature = tf.train.Example.FromString(to_example(item)).features.feature
    assert feature["image/encoded"].bytes_list.value == [b"\xff\xd8jpeg"]
    assert feature["image/object/bbox/ymax"].float_list.value == pytest.approx([0.9])
    assert feature["image/object/class/label"].int64_list.value == [2]
    assert feature["image/object/mask"].bytes_list.value == [b"\x89PNG mask"]
    assert to_example(item) == to_example(item)  # map entries in key order: the same item, the same bytes


RECORDS = [b"", b"x", bytes(range(256)) * 300]  # empty, tiny, and longer than any one buffer


def write(path: Path, records: list[bytes]) -> Path:
    with RecordWriter(path) as out:
        for record in records:
            out.write(record)
    return path


def test_tensorflow_reads_our_records_back(tmp_path: Path) -> None:
    path = write(tmp_path / "a.tfrecord", RECORDS)
    assert [raw.numpy() for raw in tf.data.TFRecordDataset(str(path))] == RECORDS


@pytest.mark.parametrize(
    ("where", "offset"),
    [("length", 0), ("length crc", 8), ("data", 12), ("data crc", 13)],
)
def test_tensorflow_finds_a_flipped_byte(tmp_path: Path, where: str, offset: int) -> None:
    """Bytes 0-7 the length, 8-11 its CRC, then one data byte, then its CRC. TensorFlow checks both CRCs: reading
    an intact file (above) shows ours are right, and this shows that every part of the frame is covered."""
    path = write(tmp_path / "a.tfrecord", [b"x"])
    data = bytearray(path.read_bytes())
    assert len(data) == 8 + 4 + 1 + 4
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(tf.errors.DataLossError):
        list(tf.data.TFRecordDataset(str(path)))
