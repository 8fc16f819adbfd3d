"""The usual Export v2 row, read in one step. Most rows of a large export are alike: a data row of strings, media
attributes with whole pixel sizes, one label of one project, and objects that are plain boxes. Read field by field
(`labelbox_ndjson._row`), each field's check and the path naming it cost more than parsing the line. Here such a
row is checked with a type test per field and read as the checked reading would read it: the same image, shapes,
paths and problems. Any other row is left to the checked reading, with nothing recorded, so that it says what is
off."""

from __future__ import annotations

from collections.abc import Callable
from math import isfinite
from typing import Any

from transferline_converter.dataset import ImageIds, LabeledImage, Problems, Shape, Where
from transferline_converter.readers.common import RowError

ReadObject = Callable[[Any, Where, Problems], Shape]
EXACT = 1 << 53  # sizes below this are the same number as floats, which the checked reading reads them as


def plain_box(obj: Any) -> tuple[str, tuple[float, float, float, float]] | None:
    """(name, (left, top, width, height)) of an ImageBoundingBox with a name, four plain finite numbers and no
    classifications; None for any other object, for the checked reading."""
    if type(obj) is not dict or obj.get("annotation_kind") != "ImageBoundingBox":
        return None
    name, value, answers = obj.get("name"), obj.get("bounding_box"), obj.get("classifications")
    if type(name) is not str or not name or type(value) is not dict or not (answers is None or answers == []):
        return None
    x: Any
    y: Any
    w: Any
    h: Any
    x, y, w, h = value.get("left"), value.get("top"), value.get("width"), value.get("height")
    # type(), not isinstance: bool and HugeNumber are not plain; a float sum that is not finite (NaN, Infinity,
    # overflow) is left to the checked reading.
    if not (type(x) in _PLAIN and type(y) in _PLAIN and type(w) in _PLAIN and type(h) in _PLAIN):
        return None
    try:
        box = (float(x), float(y), float(w), float(h))
    except OverflowError:  # an integer past a float's range
        return None
    return (name, box) if isfinite(box[0] + box[1] + box[2] + box[3]) else None


_PLAIN = {float, int}


class _Unusual(Exception):
    """The row is not of the usual shape: the checked reading reads it."""


def plain_row(value: Any, where: Where, problems: Problems, read_object: ReadObject) -> LabeledImage | None:
    """The row as `labelbox_ndjson._row` reads it when it has the usual shape; None (nothing recorded) if not.
    Objects other than plain boxes are read by `read_object`, as the checked reading reads each."""
    try:
        return _row(value, where, problems, read_object)
    except _Unusual:
        return None


def _row(value: Any, where: Where, problems: Problems, read_object: ReadObject) -> LabeledImage:
    if type(value) is not dict:
        raise _Unusual
    data_row, media = value.get("data_row"), value.get("media_attributes")
    if type(data_row) is not dict or not (media is None or type(media) is dict):
        raise _Unusual
    texts = data_row.get("id"), data_row.get("global_key"), data_row.get("row_data"), data_row.get("external_id")
    if any(text is not None and type(text) is not str for text in texts):
        raise _Unusual
    row_id, global_key, url, external_id = texts
    if not (global_key or url or external_id):
        raise _Unusual
    width, height = _size(media or {})
    label = _only_label(value.get("projects"))
    where = Where(f"{where.row} (data row {row_id})") if row_id else where
    image = LabeledImage(where, ImageIds(global_key=global_key, url=url, external_id=external_id), width, height)
    if label is None:
        return image
    project_id, found = label
    objects = _objects(found)
    if objects is None:
        image.skipped = True
    else:
        at = where.at("projects").at(project_id).at("labels[0]").at("annotations")
        _add_objects(objects, at, image, problems, read_object)
    return image


def _size(media: dict[str, Any]) -> tuple[int | None, int | None]:
    mime, width, height = media.get("mime_type"), media.get("width"), media.get("height")
    if mime is not None and (type(mime) is not str or mime.startswith("video/")):
        raise _Unusual
    if not (width is None or (type(width) is int and 0 < width < EXACT)):
        raise _Unusual
    if not (height is None or (type(height) is int and 0 < height < EXACT)):
        raise _Unusual
    return width, height


def _only_label(projects: Any) -> tuple[str, dict[str, Any]] | None:
    """(project id, label) of the one label of the row's projects; None when there is none (several are a
    warning to record: the checked reading's)."""
    if projects is None:
        return None
    if type(projects) is not dict:
        raise _Unusual
    found: tuple[str, dict[str, Any]] | None = None
    for project_id, project in projects.items():
        if type(project) is not dict:
            raise _Unusual
        labels = project.get("labels")
        if labels is None or labels == []:
            continue
        if type(labels) is not list or len(labels) > 1 or found is not None or type(labels[0]) is not dict:
            raise _Unusual
        found = (project_id, labels[0])
    return found


def _objects(label: dict[str, Any]) -> list[Any] | None:
    """The label's objects ([] when it has none); None for a skipped label. Label-level classifications and video
    frames are the checked reading's."""
    details = label.get("performance_details")
    if not (details is None or type(details) is dict):
        raise _Unusual
    if details and details.get("skipped") is True:
        return None
    annotations = label.get("annotations")
    if type(annotations) is not dict or "frames" in annotations:
        raise _Unusual
    objects, answers = annotations.get("objects"), annotations.get("classifications")
    if not (objects is None or type(objects) is list) or not (answers is None or answers == []):
        raise _Unusual
    return objects or []


def _add_objects(objects: list[Any], at: Where, image: LabeledImage, problems: Problems, read: ReadObject) -> None:
    shapes = image.shapes
    for index, obj in enumerate(objects):
        found = plain_box(obj)
        if found is not None:  # one path node, not two: the same field text, joined when someone reads it
            shapes.append(Shape(found[0], "box", at.at(f"objects[{index}].bounding_box"), box=found[1]))
            continue
        try:
            shapes.append(read(obj, at.at(f"objects[{index}]"), problems))
        except RowError as err:
            err.record(problems)
