"""YOLO reader: boxes and segmentation lines, class names from classes.txt / obj.names / data.yaml, stems as
image names, and every kind of broken line."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tests.support.labels import GtImage
from transferline.errors import InvalidInput
from transferline_converter import sources
from transferline_converter.dataset import Problems, Where
from transferline_converter.readers import ReadOptions, yolo
from transferline_converter.sources import ExportFile, ExportSource

CLASSES = b"person\ncar\ntraffic light\n"


def export(files: dict[str, bytes]) -> ExportSource:
    return ExportSource("export", [ExportFile(name, data) for name, data in files.items()])


def read_files(files: dict[str, bytes]):
    problems = Problems()
    return yolo.read(export(files), ReadOptions(), problems), problems


def test_golden_boxes_and_polygons_in_the_normalised_frame():
    label = b"0 0.5 0.5 0.2 0.4\n2 0.1 0.1 0.3 0.1 0.2 0.25\r\n\n1 0.25 0.75 0.5 0.5\n"
    result, problems = read_files({"classes.txt": CLASSES, "train/labels/img_7.txt": label})
    assert problems.items == []
    assert result.categories == ["person", "car", "traffic light"]
    (image,) = result.images
    assert (image.ids.file_name, image.ids.external_id) == ("train/images/img_7", None)  # where its image is
    assert (image.width, image.height) == (None, None)
    person, light, car = image.shapes
    assert (person.category, person.kind, person.frame) == ("person", "box", "normalized")
    assert person.box == pytest.approx((0.4, 0.3, 0.2, 0.4))  # centre to top-left corner
    assert (light.category, light.kind) == ("traffic light", "polygon")
    assert light.polygons == [[(0.1, 0.1), (0.3, 0.1), (0.2, 0.25)]]
    assert car.box == pytest.approx((0.0, 0.5, 0.5, 0.5))
    assert car.where == Where("train/labels/img_7.txt line 4")


def test_an_empty_label_file_is_an_unlabelled_image():
    result, problems = read_files({"classes.txt": CLASSES, "labels/empty.txt": b"", "labels/a.txt": b"0 .5 .5 .1 .1"})
    assert {row.ids.file_name: len(row.shapes) for row in result.images} == {"images/empty": 0, "images/a": 1}
    assert problems.items == []


@pytest.mark.parametrize(
    ("line", "code", "field"),
    [
        ("3 0.5 0.5 0.1 0.1", "unknown-class", "class"),
        ("-1 0.5 0.5 0.1 0.1", "malformed-row", "class"),
        ("1.0 0.5 0.5 0.1 0.1", "malformed-row", "class"),
        ("0 0.5 nan 0.1 0.1", "nan-coordinate", "cy"),
        ("0 0.5 0.5 inf 0.1", "nan-coordinate", "w"),
        ("0 0.5 0.5 0.1 abc", "malformed-row", "h"),
        ("0 0.5 0.5 -0.1 0.1", "malformed-row", "w"),
        ("0 0.5 0.5 0.1 0.1 0.9", "malformed-row", ""),
        ("0 0.5", "malformed-row", ""),
        ("1 0.1 0.1 0.2 0.2 0.3 x", "malformed-row", "y3"),
    ],
)
def test_a_broken_line_is_reported_with_file_line_and_field_and_the_rest_kept(line, code, field):
    label = f"1 0.5 0.5 0.2 0.2\n{line}\n2 0.5 0.5 0.2 0.2\n".encode()
    result, problems = read_files({"classes.txt": CLASSES, "labels/a.txt": label})
    assert [(p.code, p.row, p.field) for p in problems.items] == [(code, "labels/a.txt line 2", field)]
    assert [s.category for s in result.images[0].shapes] == ["car", "traffic light"]


def test_unknown_class_message_names_the_known_range():
    _, problems = read_files({"classes.txt": CLASSES, "labels/a.txt": b"7 0.5 0.5 0.1 0.1\n"})
    assert problems.items[0].message == "class 7 is not in the class names (0..2)"


@pytest.mark.parametrize(
    "yaml",
    [
        "path: ../datasets\nnames: [person, car, 'traffic light']\nnc: 3\n",
        'names: ["person", "car", "traffic light"]  # three\n',
        "names:\n  - person\n  - car\n  - traffic light # comment\ntrain: images/train\n",
        "names:\n- person\n- 'car'\n- \"traffic light\"\n",
        "names:\n  0: person\n  1: car\n  2: traffic light\nval: images/val\n",
        "names: {0: person, 1: car, 2: 'traffic light'}\n",
        "train: x\nnames: [person,\n  car,\n  traffic light]\n",
    ],
    ids=["flow", "double-quoted", "block", "block-unindented", "mapping", "flow-mapping", "multi-line-flow"],
)
def test_yaml_class_names_in_every_common_layout(yaml):
    result, _ = read_files({"data.yaml": yaml.encode(), "labels/a.txt": b"2 0.5 0.5 0.1 0.1\n"})
    assert result.categories == ["person", "car", "traffic light"]
    assert result.images[0].shapes[0].category == "traffic light"


def test_yaml_names_with_a_gap_leave_that_index_unknown():
    yaml = b"names:\n  0: person\n  2: light\n"
    result, problems = read_files({"dataset.yaml": yaml, "labels/a.txt": b"1 .5 .5 .1 .1\n2 .5 .5 .1 .1\n"})
    assert result.categories == ["person", "light"]
    assert [p.code for p in problems.items] == ["unknown-class"]
    assert [s.category for s in result.images[0].shapes] == ["light"]


@pytest.mark.parametrize(
    ("yaml", "message"),
    [
        (b"nc: 2\n", "no top-level `names:` key"),
        (b"names: *anchor\n", "cannot read `names:`"),
        (b"names: [a, b\n", "cannot read `names:`"),
        (b"names:\n  person: 0\n", "cannot read `names:`"),
        (b"names: []\n", "lists no classes"),
    ],
)
def test_yaml_outside_the_supported_subset_is_refused_clearly(yaml, message):
    with pytest.raises(InvalidInput, match=rf"data\.yaml.*{message}"):
        read_files({"data.yaml": yaml, "labels/a.txt": b"0 0.5 0.5 0.1 0.1\n"})


def test_no_names_file_is_a_clear_error():
    with pytest.raises(InvalidInput, match=r"classes\.txt, obj\.names or data\.yaml"):
        read_files({"labels/a.txt": b"0 0.5 0.5 0.1 0.1\n"})


def test_darknet_layout_ignores_image_lists_and_notes_them():
    files = {
        "obj.names": b"person\ncar\n",
        "obj.data": b"classes = 2\nnames = data/obj.names\n",
        "train.txt": b"data/obj_train_data/a.jpg\n",
        "obj_train_data/a.txt": b"1 0.5 0.5 0.1 0.1\n",
    }
    assert yolo.sniff(export(files))
    result, problems = read_files(files)
    rows = [(row.ids.file_name, [s.category for s in row.shapes]) for row in result.images]
    assert rows == [("obj_train_data/a", ["car"])]  # the image sits beside its label
    assert any("train.txt" in note for note in result.notes) and problems.items == []


@pytest.mark.parametrize(
    ("label", "image"),
    [
        ("train/labels/x.txt", "train/images/x"),  # Roboflow
        ("labels/val/x.txt", "images/val/x"),  # Ultralytics
        ("data/labels/labels/x.txt", "data/labels/images/x"),  # only the last `labels` folder turns
        ("x.txt", "x"),
    ],
)
def test_a_label_file_names_its_image_as_ultralytics_pairs_them(label, image):
    assert yolo.image_path(label) == image


def test_an_export_with_its_own_images_reads_their_sizes_and_names():
    """Roboflow's layout: split/images beside split/labels; the same stem in two splits stays two images."""
    pictures = {
        f"{split}/images/x.jpg": GtImage("x.jpg", 30 + n, 20 + n, seed=n).jpeg()
        for n, split in enumerate(("train", "valid"))
    }
    labels = {
        "train/labels/x.txt": b"0 .5 .5 .1 .1\n",
        "valid/labels/x.txt": b"1 .5 .5 .1 .1\n",
        "test/labels/y.txt": b"",
    }
    result, problems = read_files({"data.yaml": b"names: [person, car]\n", **pictures, **labels})
    assert [(row.ids.file_name, row.width, row.height) for row in result.images] == [
        ("test/images/y", None, None),
        ("train/images/x.jpg", 30, 20),
        ("valid/images/x.jpg", 31, 21),
    ]
    assert "1 label files have no image beside them in the export (looked for test/images/y.*)" in result.notes
    assert problems.items == []


def test_non_utf8_label_file_is_invalid_input_naming_it():
    with pytest.raises(InvalidInput, match=r"labels/a\.txt: not UTF-8"):
        read_files({"classes.txt": CLASSES, "labels/a.txt": b"0 0.5 0.5 0.1 0.1\n\xff\xfe"})


@pytest.mark.parametrize(
    "files",
    [
        {"labels/a.txt": b"0 0.5 0.5 0.1 0.1\n"},
        {"classes.txt": CLASSES},
        {"classes.txt": CLASSES, "labels/a.txt": b"hello world\n"},
        {"classes.txt": CLASSES, "labels/a.txt": b"0 12 40 100 200\n"},
        {"classes.txt": CLASSES, "labels/a.txt": b"0 0.5 0.5 0.1\n"},
        {"classes.txt": CLASSES, "labels/a.txt": b"\xff\xfe\x00"},
    ],
    ids=["no-names", "no-labels", "not-rows", "pixels", "four-numbers", "binary"],
)
def test_sniff_is_false_without_raising(files):
    assert yolo.sniff(export(files)) is False


def test_a_picture_in_the_export_is_read_only_as_far_as_its_header():
    """Its size comes from the first bytes; the whole file is read only when the header lies past them (here a
    JPEG whose 300 KB colour profile comes before its size)."""
    small, profiled = io.BytesIO(), io.BytesIO()
    Image.new("RGB", (30, 20)).save(small, "JPEG")
    Image.new("RGB", (40, 10)).save(profiled, "JPEG", icc_profile=bytes(300_000))
    asked: dict[str, list[int]] = {"a": [], "b": []}

    def picture(name: str, data: bytes) -> ExportFile:
        return ExportFile(f"images/{name}.jpg", read=lambda size: asked[name].append(size) or data[:size])

    labels = [ExportFile(f"labels/{name}.txt", b"0 .5 .5 .1 .1\n") for name in asked]
    pictures = [picture("a", small.getvalue()), picture("b", profiled.getvalue())]
    source = ExportSource("export", [ExportFile("classes.txt", CLASSES), *labels, *pictures])
    result = yolo.read(source, ReadOptions(), Problems())
    assert [(row.ids.file_name, row.width, row.height) for row in result.images] == [
        ("images/a.jpg", 30, 20),
        ("images/b.jpg", 40, 10),
    ]
    assert asked == {"a": [yolo._HEADER_BYTES], "b": [yolo._HEADER_BYTES, sources.MAX_MEMBER_BYTES + 1]}
