"""CVAT for images 1.1 reader: every shape element, mask RLE, rotated boxes, tags and attributes, and broken or
hostile XML."""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.exports import cvat as cvat_export
from tests.support.labels import make_dataset
from transferline.errors import InvalidInput
from transferline_converter.dataset import Problems, Where
from transferline_converter.masks import box_bitmap
from transferline_converter.readers import ReadOptions, cvat
from transferline_converter.sources import ExportFile, ExportSource

META = """<version>1.1</version><meta><task><name>t</name><labels>
<label><name>car</name><type>rectangle</type></label>
<label><name>road</name><type>polygon</type></label>
<label><name>night</name><type>tag</type></label>
</labels></task></meta>"""

GOLDEN = f"""<?xml version="1.0" encoding="utf-8"?>
<annotations>{META}
  <image id="0" name="frames/000001.jpg" subset="default" task_id="3" width="640" height="480">
    <box label="car" source="manual" occluded="1" xtl="10.50" ytl="20.00" xbr="110.25" ybr="70.00" z_order="0">
      <attribute name="color">red</attribute>
    </box>
    <polygon label="road" source="manual" occluded="0" points="0.00,400.00;640.00,400.00;320.00,300.50" z_order="0">
    </polygon>
    <polyline label="lane" occluded="0" points="1,2;3,4"></polyline>
    <points label="eye" occluded="0" points="5,6;7,8"></points>
    <mask label="car" source="manual" occluded="0" rle="1, 2, 3" left="5" top="7" width="3" height="2" z_order="0">
    </mask>
    <tag label="night" source="manual"><attribute name="moon">full</attribute></tag>
  </image>
  <image id="1" name="frames/000002.jpg" width="640" height="480"></image>
</annotations>
""".encode()


def read_xml(data: bytes, name: str = "annotations.xml"):
    problems = Problems()
    return cvat.read(ExportSource(name, [ExportFile(name, data)]), ReadOptions(), problems), problems


def one_image(shapes: str) -> bytes:
    return (
        f'<annotations>{META}<image id="4" name="a.jpg" width="64" height="48">{shapes}</image></annotations>'.encode()
    )


def test_golden_file_reads_every_documented_element():
    result, problems = read_xml(GOLDEN)
    assert problems.items == []
    assert result.categories == ["car", "road"]  # tag-only labels name no objects
    first, second = result.images
    # a project's image carries its subset, which is part of its name (CVAT stores it as images/<subset>/<name>)
    assert (first.ids.file_name, first.width, first.height) == ("default/frames/000001.jpg", 640, 480)
    assert first.attributes == {"subset": "default", "tags": ["night"], "night.moon": "full"}
    box, road, lane, eye, mask = first.shapes
    assert (box.category, box.kind, box.frame, box.box) == ("car", "box", "top-left", (10.5, 20.0, 99.75, 50.0))
    assert box.attributes == {"occluded": True, "color": "red"}
    assert box.where == Where("image frames/000001.jpg in task 3 (default)", "box[0]")
    assert (road.kind, road.polygons) == ("polygon", [[(0.0, 400.0), (640.0, 400.0), (320.0, 300.5)]])
    assert (lane.kind, lane.polygons) == ("line", [[(1.0, 2.0), (3.0, 4.0)]])
    assert (eye.kind, eye.polygons) == ("point", [[(5.0, 6.0), (7.0, 8.0)]])
    assert mask.kind == "mask" and mask.mask is not None
    assert (mask.mask.left, mask.mask.top) == (5, 7)
    assert mask.mask.runs is not None and mask.mask.box == (3, 2)
    assert box_bitmap(mask.mask).tolist() == [[False, True, True], [False, False, False]]  # 1 off, 2 on, 3 off
    assert (second.ids.file_name, second.shapes) == ("frames/000002.jpg", [])


def test_mask_rle_runs_go_row_by_row_and_may_end_on():
    result, _ = read_xml(one_image('<mask label="m" rle="0,4,2,6" left="0" top="0" width="4" height="3"/>'))
    bitmap = box_bitmap(result.images[0].shapes[0].mask)
    assert bitmap.dtype == np.bool_
    assert bitmap.astype(int).tolist() == [[1, 1, 1, 1], [0, 0, 1, 1], [1, 1, 1, 1]]


def test_rotated_box_turns_clockwise_about_its_centre():
    result, _ = read_xml(one_image('<box label="car" xtl="10" ytl="10" xbr="30" ybr="20" rotation="90"/>'))
    (shape,) = result.images[0].shapes
    assert shape.kind == "polygon"
    flat = [c for point in shape.polygons[0] for c in point]
    assert flat == pytest.approx([25, 5, 25, 25, 15, 25, 15, 5])  # centre (20, 15); the top edge now points down


@pytest.mark.parametrize(
    ("element", "code", "field"),
    [
        ('<box label="car" xtl="abc" ytl="1" xbr="5" ybr="5"/>', "malformed-row", "box[0].xtl"),
        ('<box label="car" xtl="1" ytl="nan" xbr="5" ybr="5"/>', "nan-coordinate", "box[0].ytl"),
        ('<box label="car" xtl="1" ytl="1" xbr="5"/>', "malformed-row", "box[0].ybr"),
        ('<box xtl="1" ytl="1" xbr="5" ybr="5"/>', "empty-class", "box[0].label"),
        ('<polygon label="road" points="1,2;3"/>', "malformed-row", "polygon[0].points"),
        ('<polygon label="road" points="1,2;3,inf;4,4"/>', "nan-coordinate", "polygon[0].points"),
        ('<polygon label="road"/>', "malformed-row", "polygon[0].points"),
        ('<ellipse label="car" cx="1" cy="1" rx="2" ry="2"/>', "unknown-geometry", "ellipse[0]"),
        ('<mask label="m" rle="1,2" left="0" top="0" width="2" height="2"/>', "mask-unavailable", "mask[0].rle"),
        ('<mask label="m" rle="1,x" left="0" top="0" width="2" height="1"/>', "mask-unavailable", "mask[0].rle"),
        ('<mask label="m" rle="3,-1" left="0" top="0" width="2" height="1"/>', "mask-unavailable", "mask[0].rle"),
        ('<mask label="m" rle="0,9" left="0" top="0" width="99999" height="99999"/>', "mask-unavailable", "mask[0]"),
        ('<mask label="m" rle="1,1" left="0.5" top="0" width="2" height="1"/>', "malformed-row", "mask[0].left"),
    ],
)
def test_a_broken_shape_is_reported_where_it_is_and_the_rest_kept(element, code, field):
    result, problems = read_xml(one_image(element + '<box label="car" xtl="1" ytl="1" xbr="5" ybr="5"/>'))
    assert [(p.code, p.row, p.field) for p in problems.items] == [(code, "image a.jpg", field)]
    assert [s.category for s in result.images[0].shapes] == ["car"]


@pytest.mark.parametrize(
    ("image", "where"),
    [
        ('<image id="9" width="5" height="5"/>', ("image id=9", "name")),
        ('<image name="b" width="x"/>', ("image b", "width")),
    ],
)
def test_a_broken_image_element_drops_that_image_only(image, where):
    data = f'<annotations><image id="1" name="a.jpg"/>{image}</annotations>'.encode()
    result, problems = read_xml(data)
    assert [row.ids.file_name for row in result.images] == ["a.jpg"]
    assert [(p.code, p.row, p.field) for p in problems.items] == [("malformed-row", *where)]


def test_truncated_xml_names_the_file_and_position():
    with pytest.raises(InvalidInput, match=r"annotations\.xml is not well-formed XML: .*line \d+, column \d+"):
        read_xml(GOLDEN[:-60])


@pytest.mark.parametrize(
    "hostile",
    [
        b'<!DOCTYPE a [<!ENTITY x "xx"><!ENTITY y "&x;&x;&x;&x;">]><annotations>&y;</annotations>',
        b'<!DOCTYPE a [<!ENTITY x SYSTEM "http://attacker.test/">]><annotations>&x;</annotations>',
    ],
    ids=["entity-expansion", "external-entity"],
)
def test_entity_declarations_are_refused_with_a_clear_error(hostile):
    with pytest.raises(InvalidInput, match=r"annotations\.xml: XML entity declarations are refused"):
        read_xml(hostile)


def test_cvat_for_video_and_other_roots_are_refused_clearly():
    video = b'<annotations><version>1.1</version><track id="0" label="car"><box frame="0"/></track></annotations>'
    with pytest.raises(InvalidInput, match=r"CVAT for video 1\.1.*export as CVAT for images 1\.1"):
        read_xml(video)
    with pytest.raises(InvalidInput, match="root element is <annotation>, not CVAT's <annotations>"):
        read_xml(b"<annotation><filename>a.jpg</filename></annotation>")


@pytest.mark.parametrize(
    "data",
    [
        f"<annotations>{META}</annotations>".encode(),
        b'<annotations><version>1.1</version><track id="0" label="car"/><image/></annotations>',
        b"<annotation><filename>a.jpg</filename></annotation>",
        b"<annotations",
        b"plain text",
    ],
    ids=["no-images", "video", "voc", "truncated-root", "not-xml"],
)
def test_sniff_is_false_without_raising(data):
    assert cvat.sniff(ExportSource("a.xml", [ExportFile("a.xml", data)])) is False


def test_sniff_stops_at_the_first_image_without_reading_the_rest():
    data = f'<annotations>{META}<image id="0" name="a.jpg"/> and then garbage <<<'.encode()
    assert cvat.sniff(ExportSource("a.xml", [ExportFile("annotations.xml", data), ExportFile("x.jpg", b"\xff")]))


def test_a_project_export_tells_repeated_names_apart_by_subset():
    """Three tasks each holding img_0000.jpg and img_0001.jpg: six images, named <subset>/<name>."""
    subsets = {name: make_dataset(seed=seed, images=2) for seed, name in enumerate(("Train", "Validation", "Test"))}
    files = cvat_export.write_project(subsets)
    result, problems = read_xml(files[cvat_export.FILE_NAME])
    assert problems.items == []
    assert [image.ids.file_name for image in result.images] == [
        f"{subset}/img_{i:04d}.jpg" for subset in subsets for i in range(2)
    ]
    assert result.images[2].where == Where("image img_0000.jpg in task 2 (Validation)")
    assert [(image.width, image.height) for image in result.images] == [
        (image.width, image.height) for dataset in subsets.values() for image in dataset.images
    ]
    assert result.notes[0].startswith("CVAT project subsets Train (2), Validation (2), Test (2)")


def test_an_image_without_its_subset_takes_it_from_the_project_tasks():
    data = b"""<annotations><version>1.1</version><meta><project><labels/><tasks>
        <task><id>7</id><name>a</name><subset>Train</subset></task></tasks></project></meta>
        <image id="0" name="a.jpg" task_id="7" width="4" height="4"/>
        <image id="1" name="b.jpg" width="4" height="4"/></annotations>"""
    result, _ = read_xml(data)
    assert [image.ids.file_name for image in result.images] == ["Train/a.jpg", "b.jpg"]
