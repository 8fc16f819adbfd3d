"""Pascal VOC reader: documented fields, the pixel-edge convention, and broken or hostile XML."""

from __future__ import annotations

import pytest

from transferline.errors import InvalidInput
from transferline_converter.dataset import Problems, Where
from transferline_converter.readers import ReadOptions, voc
from transferline_converter.sources import ExportFile, ExportSource

GOLDEN = b"""<?xml version="1.0"?>
<annotation>
  <folder>VOC2012</folder>
  <filename>2007_000027.jpg</filename>
  <size><width>486</width><height>500</height><depth>3</depth></size>
  <segmented>0</segmented>
  <object>
    <name>person</name>
    <pose>Frontal</pose>
    <truncated>1</truncated>
    <difficult>0</difficult>
    <bndbox><xmin>174</xmin><ymin>101</ymin><xmax>349</xmax><ymax>351</ymax></bndbox>
    <part><name>head</name><bndbox><xmin>169</xmin><ymin>104</ymin><xmax>209</xmax><ymax>146</ymax></bndbox></part>
  </object>
  <object>
    <name> dog </name>
    <pose>Unspecified</pose>
    <difficult>1</difficult>
    <bndbox><xmin>12.5</xmin><ymin>0.25</ymin><xmax>40.75</xmax><ymax>20</ymax></bndbox>
    <attributes><attribute><name>breed</name><value>corgi</value></attribute></attributes>
  </object>
</annotation>
"""


def read_files(files: dict[str, bytes]):
    problems = Problems()
    source = ExportSource("export", [ExportFile(name, data) for name, data in files.items()])
    return voc.read(source, ReadOptions(), problems), problems


def annotation(objects: str, head: str = "<filename>a.jpg</filename>") -> bytes:
    return f"<annotation>{head}<size><width>100</width><height>50</height></size>{objects}</annotation>".encode()


def box(xmin="1", ymin="2", xmax="11", ymax="22", name="cat") -> str:
    return (
        f"<object><name>{name}</name><bndbox><xmin>{xmin}</xmin><ymin>{ymin}</ymin>"
        f"<xmax>{xmax}</xmax><ymax>{ymax}</ymax></bndbox></object>"
    )


def test_golden_voc_file_reads_every_documented_field():
    result, problems = read_files({"Annotations/2007_000027.xml": GOLDEN})
    assert problems.items == []
    (image,) = result.images
    assert (image.ids.file_name, image.width, image.height) == ("2007_000027.jpg", 486, 500)
    person, dog = image.shapes
    assert (person.category, person.kind, person.frame) == ("person", "box", "top-left")
    assert person.box == (174.0, 101.0, 175.0, 250.0)  # pixel edges: width = xmax - xmin
    assert person.attributes == {"difficult": False, "truncated": True, "pose": "Frontal"}
    assert person.where == Where("Annotations/2007_000027.xml", "object[0]")
    assert dog.category == "dog"
    assert dog.box == (12.5, 0.25, 28.25, 19.75)
    assert dog.attributes == {"difficult": True, "breed": "corgi"}
    assert any("xmax - xmin" in note for note in result.notes)


def test_size_zero_means_undeclared():
    xml = b"<annotation><filename>a.jpg</filename><size><width>0</width><height>0</height></size></annotation>"
    result, problems = read_files({"a.xml": xml})
    assert (result.images[0].width, result.images[0].height) == (None, None)
    assert result.images[0].shapes == [] and problems.items == []


@pytest.mark.parametrize(
    ("obj", "code", "field"),
    [
        (box(xmin="abc"), "malformed-row", "object[0].bndbox.xmin"),
        (box(ymax="NaN"), "nan-coordinate", "object[0].bndbox.ymax"),
        (box(xmax="inf"), "nan-coordinate", "object[0].bndbox.xmax"),
        (box(name=" "), "empty-class", "object[0].name"),
        ("<object><name>cat</name></object>", "unknown-geometry", "object[0].bndbox"),
        ("<object><name>cat</name><bndbox><xmin>1</xmin></bndbox></object>", "malformed-row", "object[0].bndbox.ymin"),
    ],
)
def test_a_broken_object_is_reported_where_it_is_and_the_rest_kept(obj, code, field):
    result, problems = read_files({"ann/a.xml": annotation(obj + box())})
    assert [(p.code, p.row, p.field) for p in problems.items] == [(code, "ann/a.xml", field)]
    assert [s.where.field for s in result.images[0].shapes] == ["object[1]"]


@pytest.mark.parametrize(
    ("head", "field"),
    [("", "filename"), ("<filename>a.jpg</filename><size><width>ten</width></size>", "size.width")],
)
def test_a_broken_file_level_field_drops_that_row_only(head, field):
    broken = f"<annotation>{head}{box()}</annotation>".encode()
    result, problems = read_files({"a.xml": broken, "b.xml": annotation(box(), "<filename>b.jpg</filename>")})
    assert [row.ids.file_name for row in result.images] == ["b.jpg"]
    assert [(p.code, p.row, p.field) for p in problems.items] == [("malformed-row", "a.xml", field)]


def test_truncated_xml_is_still_recognised_and_its_error_names_the_file_and_position():
    truncated = GOLDEN[:-40]
    assert voc.sniff(ExportSource("x", [ExportFile("Annotations/a.xml", truncated)]))  # the root tag is read
    with pytest.raises(InvalidInput, match=r"Annotations/a\.xml is not well-formed XML: .*line 20, column"):
        read_files({"Annotations/a.xml": truncated})


BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<annotation><filename>&lol3;</filename></annotation>"""
EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<annotation><filename>&secret;</filename></annotation>"""


@pytest.mark.parametrize("hostile", [BOMB, EXTERNAL], ids=["billion-laughs", "external-entity"])
def test_entity_declarations_are_refused_with_a_clear_error(hostile):
    with pytest.raises(InvalidInput, match=r"a\.xml: XML entity declarations are refused"):
        read_files({"a.xml": hostile})
    assert not voc.sniff(ExportSource("x", [ExportFile("a.xml", hostile)]))


def test_a_file_that_is_not_voc_is_refused():
    with pytest.raises(InvalidInput, match=r"b\.xml: root element is <annotations>, not Pascal VOC's <annotation>"):
        read_files({"a.xml": annotation(box()), "b.xml": b"<annotations><image/></annotations>"})
    with pytest.raises(InvalidInput, match=r"holds no \.xml files"):
        read_files({"labels/a.txt": b"0 0.5 0.5 0.1 0.1\n"})


@pytest.mark.parametrize(
    "files",
    [
        {"a.xml": annotation(box()), "b.xml": b"<annotations/>"},
        {"a.xml": b"not xml at all"},
        {"a.json": b"{}"},
    ],
    ids=["one-file-not-voc", "not-xml", "no-xml"],
)
def test_sniff_is_false_without_raising(files):
    assert voc.sniff(ExportSource("x", [ExportFile(n, d) for n, d in files.items()])) is False


def test_sniff_ignores_images_and_image_lists_beside_the_xml():
    files = {"Annotations/a.xml": annotation(box()), "ImageSets/Main/train.txt": b"a\n", "JPEGImages/a.jpg": b"\xff"}
    assert voc.sniff(ExportSource("x", [ExportFile(n, d) for n, d in files.items()])) is True
