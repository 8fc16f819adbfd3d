"""A `GtDataset` as CVAT for images 1.1: one annotations.xml with the task's labels in <meta>, an <image> per
picture, boxes as <box xtl ytl xbr ybr> and polygons as <polygon points="x,y;...">. `write_project` writes a
project export instead: one task per subset, each <image> carrying its subset and task_id, and (optionally) the
pictures where CVAT puts them, images/<subset>/<name>."""

from __future__ import annotations

from xml.etree.ElementTree import Element, SubElement, tostring

from tests.support.labels import GtDataset, GtImage, GtObject

FILE_NAME = "annotations.xml"


def write(dataset: GtDataset) -> dict[str, bytes]:
    root, task = _annotations("task", dataset.categories)
    SubElement(task, "name").text = "transferline tests"
    for index, image in enumerate(dataset.images):
        _image(root, image, {"id": str(index), "name": image.file_name})
    return {FILE_NAME: tostring(root, encoding="utf-8", xml_declaration=True)}


def write_project(subsets: dict[str, GtDataset], with_images: bool = False) -> dict[str, bytes]:
    """Task i+1 holds the i-th subset's images; image ids run on across tasks, as CVAT numbers a project's frames."""
    categories = list(dict.fromkeys(name for dataset in subsets.values() for name in dataset.categories))
    root, project = _annotations("project", categories)
    tasks = SubElement(project, "tasks")
    files: dict[str, bytes] = {}
    frame = 0
    for task_id, (subset, dataset) in enumerate(subsets.items(), start=1):
        task = SubElement(tasks, "task")
        for key, value in (("id", str(task_id)), ("name", f"task {subset}"), ("subset", subset)):
            SubElement(task, key).text = value
        for image in dataset.images:
            _image(root, image, {"id": str(frame), "name": image.file_name, "subset": subset, "task_id": str(task_id)})
            frame += 1
            if with_images:
                files[f"images/{subset}/{image.file_name}"] = image.jpeg()
    return {FILE_NAME: tostring(root, encoding="utf-8", xml_declaration=True), **files}


def _annotations(kind: str, categories: list[str]) -> tuple[Element, Element]:
    """The root and its meta/<kind> element (task or project), with the labels declared."""
    root = Element("annotations")
    SubElement(root, "version").text = "1.1"
    owner = SubElement(SubElement(root, "meta"), kind)
    labels = SubElement(owner, "labels")
    for name in categories:
        label = SubElement(labels, "label")
        SubElement(label, "name").text = name
        SubElement(label, "type").text = "any"
    return root, owner


def _image(root: Element, image: GtImage, attributes: dict[str, str]) -> None:
    size = {"width": str(image.width), "height": str(image.height)}
    element = SubElement(root, "image", {**attributes, **size})
    for obj in image.objects:
        _shape(element, obj)


def _shape(parent: Element, obj: GtObject) -> None:
    common = {"label": obj.category, "source": "manual", "occluded": "0", "z_order": "0"}
    if obj.polygon:
        points = ";".join(f"{x!r},{y!r}" for x, y in obj.polygon)
        SubElement(parent, "polygon", {**common, "points": points})
        return
    x, y, w, h = obj.box
    SubElement(parent, "box", {**common, "xtl": str(x), "ytl": str(y), "xbr": str(x + w), "ybr": str(y + h)})
