"""VOC, YOLO, Label Studio and CVAT readers together: each recognises only its own exports, and ground truth
written the way each tool writes it reads back to the same boxes (to 1e-6 px) and classes."""

from __future__ import annotations

import io
import zipfile
from types import ModuleType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.exports import cvat, label_studio, labelbox_json, labelbox_ndjson, voc, yolo
from tests.support.labels import GtDataset, GtImage, GtObject, make_dataset
from transferline.errors import InvalidInput
from transferline_converter.dataset import LabeledImage, Problems, ReadResult, Shape
from transferline_converter.readers import ReadOptions
from transferline_converter.readers import cvat as cvat_reader
from transferline_converter.readers import label_studio as label_studio_reader
from transferline_converter.readers import voc as voc_reader
from transferline_converter.readers import yolo as yolo_reader
from transferline_converter.sources import ExportFile, ExportSource

READERS: dict[str, ModuleType] = {
    "voc": voc_reader,
    "yolo": yolo_reader,
    "label-studio": label_studio_reader,
    "cvat": cvat_reader,
}
WRITERS: dict[str, ModuleType] = {"voc": voc, "yolo": yolo, "label-studio": label_studio, "cvat": cvat}
OTHERS: dict[str, ModuleType] = {"labelbox-json": labelbox_json, "labelbox-ndjson": labelbox_ndjson}


def source(files: dict[str, bytes], name: str = "export") -> ExportSource:
    return ExportSource(name, [ExportFile(path, data) for path, data in files.items()])


def read(format_name: str, files: dict[str, bytes]) -> tuple[ReadResult, Problems]:
    problems = Problems()
    return READERS[format_name].read(source(files), ReadOptions(), problems), problems


def pixel_box(shape: Shape, width: int, height: int) -> tuple[float, float, float, float]:
    """The shape's bounds in pixels from the top-left, converting the normalised frame with the true size."""
    sx, sy = (width, height) if shape.frame == "normalized" else (1, 1)
    if shape.box is not None:
        x, y, w, h = shape.box
        return (x * sx, y * sy, w * sx, h * sy)
    xs = [x * sx for ring in shape.polygons for x, _ in ring]
    ys = [y * sy for ring in shape.polygons for _, y in ring]
    return (min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys))


def image_key(row: LabeledImage) -> str:
    """The image name a row labels; YOLO names only its image's path without the suffix (the matcher matches stems)."""
    assert row.ids.file_name is not None
    return row.ids.file_name.rsplit("/", 1)[-1].rsplit(".", 1)[0]


def assert_same_as_truth(result: ReadResult, dataset: GtDataset, polygons_kept: bool) -> None:
    truth = {image.file_name.rsplit(".", 1)[0]: image for image in dataset.images}
    assert sorted(image_key(row) for row in result.images) == sorted(truth)
    for row in result.images:
        image = truth[image_key(row)]
        # Rounded so float noise (-1e-16 against 0) cannot reorder two look-alike boxes.
        got = sorted((s.category, s.kind, _rounded(pixel_box(s, image.width, image.height))) for s in row.shapes)
        want = sorted((o.category, _kind(o, polygons_kept), tuple(map(float, o.box))) for o in image.objects)
        assert [(c, k) for c, k, _ in got] == [(c, k) for c, k, _ in want], row.where
        for (_, _, box), (_, _, expected) in zip(got, want, strict=True):
            assert box == pytest.approx(expected, abs=1e-6), row.where


def _rounded(box: tuple[float, ...]) -> tuple[float, ...]:
    return tuple(round(v, 6) + 0.0 for v in box)


def _kind(obj: GtObject, polygons_kept: bool) -> str:
    return "polygon" if obj.polygon and polygons_kept else "box"


def zipped(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return buffer.getvalue()


SAMPLES = {name: writer.write(make_dataset(seed=3)) for name, writer in {**WRITERS, **OTHERS}.items()}


@pytest.mark.parametrize("sample", sorted(SAMPLES))
@pytest.mark.parametrize("format_name", sorted(READERS))
def test_each_reader_recognises_only_its_own_exports(format_name, sample):
    assert READERS[format_name].sniff(source(SAMPLES[sample])) is (sample == format_name)


@pytest.mark.parametrize("format_name", sorted(READERS))
def test_sniff_recognises_a_zipped_export_with_its_images(format_name):
    dataset = make_dataset(seed=4, images=2)
    files = {**WRITERS[format_name].write(dataset), **{f"images/{i.file_name}": i.jpeg() for i in dataset.images}}
    zipped_source = ExportSource.from_bytes("export.zip", zipped(files))
    if format_name == "label-studio":  # a single JSON file, not a folder: the zip holds images beside it
        assert not READERS[format_name].sniff(zipped_source)
        assert READERS[format_name].sniff(source(WRITERS[format_name].write(dataset)))
    else:
        assert READERS[format_name].sniff(zipped_source)
        result = READERS[format_name].read(zipped_source, ReadOptions(), Problems())
        assert_same_as_truth(result, dataset, polygons_kept=format_name != "voc")


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("format_name", sorted(READERS))
def test_writer_to_reader_round_trip_equals_the_truth(format_name, seed):
    dataset = make_dataset(seed=seed, images=8, max_objects=5)
    result, problems = read(format_name, WRITERS[format_name].write(dataset))
    assert result.format == format_name
    assert problems.items == []
    assert_same_as_truth(result, dataset, polygons_kept=format_name != "voc")  # VOC has boxes only


@pytest.mark.parametrize("format_name", ["yolo", "cvat"])
def test_readers_that_declare_categories_keep_the_exports_order(format_name):
    dataset = make_dataset(seed=5, categories=("zebra", "apple", "mango"))
    result, _ = read(format_name, WRITERS[format_name].write(dataset))
    assert result.categories == ["zebra", "apple", "mango"]


def test_sizes_are_the_declared_ones_where_the_format_declares_them():
    dataset = make_dataset(seed=6, images=3)
    sizes = {image.file_name: (image.width, image.height) for image in dataset.images}
    for format_name in ("voc", "label-studio", "cvat"):
        result, _ = read(format_name, WRITERS[format_name].write(dataset))
        assert {row.ids.file_name: (row.width, row.height) for row in result.images} == sizes, format_name
    yolo_result, _ = read("yolo", yolo.write(dataset))
    assert {(row.width, row.height) for row in yolo_result.images} == {(None, None)}  # YOLO declares no size


@st.composite
def datasets(draw: st.DrawFn) -> GtDataset:
    """1-3 images of 1-5000 px a side, each with 0-4 boxes of at least 1 px lying wholly inside it."""
    images = []
    for index in range(draw(st.integers(1, 3))):
        width, height = draw(st.integers(1, 5000)), draw(st.integers(1, 5000))
        image = GtImage(f"pic_{index}.png", width, height, seed=index)
        for _ in range(draw(st.integers(0, 4))):
            x, y = draw(st.integers(0, width - 1)), draw(st.integers(0, height - 1))
            w, h = draw(st.integers(1, width - x)), draw(st.integers(1, height - y))
            image.objects.append(GtObject(draw(st.sampled_from(["a", "b c", "d"])), (x, y, w, h)))
        images.append(image)
    return GtDataset(images, ["a", "b c", "d"])


@pytest.mark.parametrize("format_name", sorted(READERS))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dataset=datasets())
def test_random_valid_boxes_survive_write_then_read(format_name, dataset):
    result, problems = read(format_name, WRITERS[format_name].write(dataset))
    assert problems.items == []
    assert_same_as_truth(result, dataset, polygons_kept=True)


JUNK = [b"nan", b"-1", b"", b'"x"', b"null", b"[]", b"{}", b"1e999", b" ", b",", b";", b"<", b"&", b"\xff", b"\n"]


@pytest.mark.parametrize("format_name", sorted(READERS))
@settings(max_examples=150, deadline=None)
@given(edits=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 8), st.sampled_from(JUNK)), min_size=1, max_size=4))
def test_mangled_exports_give_problems_or_invalid_input_never_a_crash(format_name, edits):
    files = WRITERS[format_name].write(make_dataset(seed=7, images=2))
    for name, data in files.items():
        buffer = bytearray(data)
        for where, length, junk in edits:
            start = int(where * len(buffer))
            buffer[start : start + length] = junk
        files[name] = bytes(buffer)
    assert isinstance(READERS[format_name].sniff(source(files)), bool)
    try:
        result, _ = read(format_name, files)
    except InvalidInput as exc:
        assert str(exc)  # a message a person can act on
    else:
        assert all(isinstance(row, LabeledImage) for row in result.images)
