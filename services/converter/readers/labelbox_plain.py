"""The usual Export v2 row, decoded in one step. Most rows of a large export are alike: a data row of strings, media
attributes with whole pixel sizes, one label of one project, and objects that are plain boxes. Read field by field
(`labelbox_ndjson._row`), each field's check and the path naming it cost more than parsing the line. Here msgspec
decodes such a line straight into the Structs below, checking every type in C and skipping the fields nothing
reads; the rest of "usual" is checked after. The row is what the checked reading makes of it (the same image,
boxes, paths and problems: none), its boxes kept compact (PlainBoxes). Any other line is left to the checked
reading, with nothing recorded, so that it says what is off."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from transferline_converter.dataset import ImageIds, LabeledImage, PlainBoxes, Where

EXACT = 1 << 53  # sizes below this are the same number as floats, which the checked reading reads them as

# Each type is what the checked reading reads without a word: msgspec refuses a bool where a number goes, a float
# where an int goes (720.0), null where a value is required, and a number past a float's range; it takes an int
# for a float, as float() does.
Size = Annotated[int, Meta(gt=0, lt=EXACT)]
Name = Annotated[str, Meta(min_length=1)]
NoAnswers = tuple[()]  # answers are the checked reading's; [] decodes to the one empty tuple, not a list per box


# A box and its object are kept (PlainBoxes) until the build, two per box: gc=False, as nothing in them can hold
# a cycle, leaves them out of the collector's lists and its header (the read 4 % faster).
class _Box(Struct, gc=False):
    top: float
    left: float
    height: float
    width: float


class _Object(Struct, gc=False):
    name: Name
    annotation_kind: Literal["ImageBoundingBox"]
    bounding_box: _Box
    classifications: NoAnswers | None = None


class _Annotations(Struct):
    objects: list[_Object] | None = None
    classifications: NoAnswers | None = None
    frames: UnsetType = UNSET  # present at all (null too): a video row


class _Details(Struct):
    skipped: bool | None = None


class _Label(Struct):
    performance_details: _Details | None = None
    annotations: _Annotations | None = None  # a skipped label may carry none


# One project, of at most one label: several labels are a warning the checked reading records. (A row of several
# projects, of one label in all, is left to it too: counting labels across projects took a tenth of `_image`.)
AtMostOne = Meta(max_length=1)


class _Project(Struct):
    labels: Annotated[list[_Label], AtMostOne] | None = None


class _Media(Struct):
    width: Size | None = None
    height: Size | None = None
    mime_type: str | None = None


class _DataRow(Struct):
    id: str | None = None
    global_key: str | None = None
    row_data: str | None = None
    external_id: str | None = None


class _Row(Struct):
    data_row: _DataRow
    media_attributes: _Media | None = None
    projects: Annotated[dict[str, _Project], AtMostOne] | None = None


_DECODER = msgspec.json.Decoder(_Row)
_NO_MEDIA = _Media()


def plain_row(line: bytes, row: str) -> LabeledImage | None:
    """The line's row (`row`: `line N`, as the Where names it) as `labelbox_ndjson._row` reads it when it has the
    usual shape; None if not."""
    if not (line.isascii() or _utf8(line)):
        return None
    try:
        decoded = _DECODER.decode(line)
    except (msgspec.DecodeError, RecursionError):  # a ValidationError is a DecodeError
        return None
    return _image(decoded, row)


def _utf8(line: bytes) -> bool:
    """Whether the line is UTF-8 throughout: msgspec does not check the strings it skips, and the checked reading
    refuses a line that is not."""
    try:
        line.decode()
    except UnicodeDecodeError:
        return False
    return True


def _image(decoded: _Row, row: str) -> LabeledImage | None:
    """The decoded row as the checked reading reads it; None where what the types cannot say makes it unusual."""
    data_row, media = decoded.data_row, decoded.media_attributes or _NO_MEDIA
    ids = ImageIds(global_key=data_row.global_key, url=data_row.row_data, external_id=data_row.external_id)
    if not (ids.global_key or ids.url or ids.external_id) or (media.mime_type or "").startswith("video/"):
        return None
    where = Where(f"{row} (data row {data_row.id})" if data_row.id else row)
    image = LabeledImage(where, ids, media.width, media.height)
    if not decoded.projects:
        return image
    [(project_id, project)] = decoded.projects.items()
    if not project.labels:
        return image
    label = project.labels[0]
    if label.performance_details is not None and label.performance_details.skipped:
        image.skipped = True
        return image
    if label.annotations is None:  # required of a label not skipped
        return None
    objects = label.annotations.objects
    if objects:
        image.boxes = PlainBoxes(objects, partial(_box_where, where, project_id))
    return image


def _box_where(where: Where, project_id: str, index: int) -> Where:
    """Where the checked reading reads box `index` of the row's one label."""
    annotations = where.at("projects").at(project_id).at("labels[0]").at("annotations")
    return annotations.at(f"objects[{index}]").at("bounding_box")
