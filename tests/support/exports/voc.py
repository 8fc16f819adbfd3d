"""A `GtDataset` as Pascal VOC: one XML per image under Annotations/, corners as pixel edges the way CVAT,
Label Studio and labelImg write them (xmax = x + width). VOC has no polygons: a polygon is written as its box."""

from __future__ import annotations

from xml.etree.ElementTree import Element, SubElement, tostring

from tests.support.labels import GtDataset, GtImage


def write(dataset: GtDataset) -> dict[str, bytes]:
    return {f"Annotations/{_stem(image.file_name)}.xml": _xml(image) for image in dataset.images}


def _xml(image: GtImage) -> bytes:
    root = Element("annotation")
    _text(root, "folder", "JPEGImages")
    _text(root, "filename", image.file_name)
    size = SubElement(root, "size")
    for key, value in (("width", image.width), ("height", image.height), ("depth", 3)):
        _text(size, key, str(value))
    _text(root, "segmented", "0")
    for obj in image.objects:
        element = SubElement(root, "object")
        _text(element, "name", obj.category)
        _text(element, "pose", "Unspecified")
        _text(element, "truncated", "0")
        _text(element, "difficult", "0")
        bndbox = SubElement(element, "bndbox")
        x, y, w, h = obj.box
        for key, value in (("xmin", x), ("ymin", y), ("xmax", x + w), ("ymax", y + h)):
            _text(bndbox, key, str(value))
    return tostring(root, encoding="utf-8", xml_declaration=True)


def _text(parent: Element, tag: str, text: str) -> None:
    SubElement(parent, tag).text = text


def _stem(file_name: str) -> str:
    return file_name.rsplit(".", 1)[0]
