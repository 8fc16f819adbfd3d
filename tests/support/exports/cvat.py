"""A `GtDataset` as CVAT for images 1.1: one annotations.xml with the task's labels in <meta>, an <image> per
picture, boxes as <box xtl ytl xbr ybr> and polygons as <polygon points="x,y;...">."""

from __future__ import annotations

from xml.etree.ElementTree import Element, SubElement, tostring

from tests.support.labels import GtDataset, GtObject

FILE_NAME = "annotations.xml"


def write(dataset: GtDataset) -> dict[str, bytes]:
    root = Element("annotations")
    SubElement(root, "version").text = "1.1"
    task = SubElement(SubElement(root, "meta"), "task")
    SubElement(task, "name").text = "transferline tests"
    labels = SubElement(task, "labels")
    for name in dataset.categories:
        label = SubElement(labels, "label")
        SubElement(label, "name").text = name
        SubElement(label, "type").text = "any"
    for index, image in enumerate(dataset.images):
        attributes = {"id": str(index), "name": image.file_name, "width": str(image.width), "height": str(image.height)}
        element = SubElement(root, "image", attributes)
        for obj in image.objects:
            _shape(element, obj)
    return {FILE_NAME: tostring(root, encoding="utf-8", xml_declaration=True)}


def _shape(parent: Element, obj: GtObject) -> None:
    common = {"label": obj.category, "source": "manual", "occluded": "0", "z_order": "0"}
    if obj.polygon:
        points = ";".join(f"{x!r},{y!r}" for x, y in obj.polygon)
        SubElement(parent, "polygon", {**common, "points": points})
        return
    x, y, w, h = obj.box
    SubElement(parent, "box", {**common, "xtl": str(x), "ytl": str(y), "xbr": str(x + w), "ybr": str(y + h)})
