"""Scalars read from TensorBoard event files without TensorFlow: a file TensorFlow itself wrote, and the other
shapes a scalar takes in the protos (simple_value, float_val, double tensors), what is not a scalar, a cut file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2

from transferline_gateway.pages_summaries import DT_DOUBLE, DT_FLOAT, scalars
from transferline_recorder.tfrecord import RecordWriter


def test_a_file_tensorflow_wrote_gives_its_scalars(tmp_path: Path) -> None:
    import tensorflow as tf

    writer = tf.summary.create_file_writer(str(tmp_path))
    with writer.as_default():
        for step in (10, 20, 30):
            tf.summary.scalar("total_loss", 1.0 / step, step=step)
            tf.summary.scalar("learning_rate", 0.01, step=step)
            tf.summary.histogram("weights", np.arange(5.0), step=step)  # a tensor, not a scalar
    writer.close()
    [path] = tmp_path.glob("events.out.tfevents.*")
    found = scalars(path.read_bytes())
    assert sorted(found) == ["learning_rate", "total_loss"]
    assert [(step, round(value, 5)) for step, value in found["total_loss"]] == [(10, 0.1), (20, 0.05), (30, 0.03333)]


def event(step: int, value: summary_pb2.Summary.Value) -> bytes:
    return event_pb2.Event(step=step, wall_time=1.0, summary=summary_pb2.Summary(value=[value])).SerializeToString()


def tensor(dtype: int, dims: int = 0, **values: object) -> tensor_pb2.TensorProto:
    shape = tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=2)] * dims)
    return tensor_pb2.TensorProto(dtype=dtype, tensor_shape=shape, **values)


def write_scalars(path: Path, tag: str, points: list[tuple[int, float]]) -> Path:
    """An event file of one scalar series, as float tensors (tf.summary.scalar's way), without TensorFlow."""
    with RecordWriter(path) as writer:
        for step, value in points:
            writer.write(event(step, summary_pb2.Summary.Value(tag=tag, tensor=tensor(DT_FLOAT, float_val=[value]))))
    return path


def test_every_scalar_shape_counts_and_nothing_else_does(tmp_path: Path) -> None:
    path = tmp_path / "events.out.tfevents.1"
    with RecordWriter(path) as writer:
        writer.write(event_pb2.Event(file_version="brain.Event:2").SerializeToString())  # no summary
        writer.write(event(1, summary_pb2.Summary.Value(tag="old", simple_value=0.5)))
        writer.write(event(2, summary_pb2.Summary.Value(tag="f", tensor=tensor(DT_FLOAT, float_val=[0.25]))))
        writer.write(event(3, summary_pb2.Summary.Value(tag="d", tensor=tensor(DT_DOUBLE, double_val=[2.5]))))
        writer.write(event(4, summary_pb2.Summary.Value(tag="v", tensor=tensor(DT_FLOAT, dims=1, float_val=[1, 2]))))
        writer.write(event(5, summary_pb2.Summary.Value(tag="s", tensor=tensor(7, string_val=[b"text"]))))
        writer.write(event(6, summary_pb2.Summary.Value(tag="old", simple_value=0.75)))
    data = path.read_bytes()
    expected = {"old": [(1, 0.5), (6, 0.75)], "f": [(2, 0.25)], "d": [(3, 2.5)]}
    assert scalars(data) == expected
    assert scalars(data[:-5]) == {"old": [(1, 0.5)], "f": [(2, 0.25)], "d": [(3, 2.5)]}  # the last record cut
    assert scalars(data, {"old": [(0, 1.0)]})["old"] == [(0, 1.0), (1, 0.5), (6, 0.75)]  # a second file adds on
