"""Pascal VOC XML: one `<annotation>` per image (a folder or zip of .xml files, or a single .xml).

Corners are read as pixel edges: (xmin, ymin) is the box's top-left corner and (xmax, ymax) its bottom-right,
so width = xmax - xmin. CVAT, Label Studio, labelImg and Roboflow write VOC this way, so their exports round-trip
exactly. The original VOC devkit numbered pixels from 1, inclusive; its boxes read here 1 px narrower and
shorter, the top-left corner 1 px in (see NOTE, which goes into the report).
"""

from __future__ import annotations

from xml.etree.ElementTree import Element

from transferline.errors import InvalidInput
from transferline_converter.dataset import ImageIds, LabeledImage, Problems, ReadResult, Shape, Where
from transferline_converter.readers import ReadOptions
from transferline_converter.readers.common import RowError, load_xml, text_number, xml_root_tag
from transferline_converter.sources import ExportFile, ExportSource

FORMAT = "voc"
NOTE = (
    "Pascal VOC boxes read as pixel edges (width = xmax - xmin), as CVAT, Label Studio and labelImg write them; "
    "boxes from the original 1-based VOC devkit come out 1 px narrower and shorter"
)
_FLAGS = ("difficult", "truncated", "occluded")


def sniff(source: ExportSource) -> bool:
    files = list(source.with_suffix(".xml"))
    return bool(files) and all(xml_root_tag(f) == "annotation" for f in files)


def read(source: ExportSource, options: ReadOptions, problems: Problems) -> ReadResult:
    files = list(source.with_suffix(".xml"))
    if not files:
        raise InvalidInput(f"export {source.name} holds no .xml files (Pascal VOC has one per image)")
    images = []
    for file in files:
        try:
            images.append(_image(file, problems))
        except RowError as exc:
            exc.record(problems)
    return ReadResult(FORMAT, images, notes=[NOTE])


def _image(file: ExportFile, problems: Problems) -> LabeledImage:
    root = load_xml(file)
    if root.tag != "annotation":
        raise InvalidInput(f"{file.name}: root element is <{root.tag}>, not Pascal VOC's <annotation>")
    where = Where(file.name)
    name = _text(root, "filename", where)
    width, height = _size(root, where)
    image = LabeledImage(where, ImageIds(file_name=name), width, height)
    for index, element in enumerate(root.findall("object")):
        try:
            image.shapes.append(_shape(element, where.at(f"object[{index}]")))
        except RowError as exc:
            exc.record(problems)
    return image


def _size(root: Element, where: Where) -> tuple[int | None, int | None]:
    """The declared size; 0 means unknown (labelImg writes 0 when it could not read the image)."""
    size = root.find("size")
    if size is None:
        return None, None
    found = []
    for key in ("width", "height"):
        text = size.findtext(key)
        value = None if text is None else text_number(text, where.at(f"size.{key}"))
        if value is not None and (value < 0 or value != int(value)):
            raise RowError(where.at(f"size.{key}"), f"expected a whole number of pixels, got {text!r}")
        found.append(int(value) if value else None)
    return found[0], found[1]


def _shape(element: Element, where: Where) -> Shape:
    name = (element.findtext("name") or "").strip()
    if not name:
        raise RowError(where.at("name"), "object has no <name>", code="empty-class")
    bndbox = element.find("bndbox")
    if bndbox is None:
        raise RowError(where.at("bndbox"), "object has no <bndbox>", code="unknown-geometry")
    corner = {k: text_number(_text(bndbox, k, where.at("bndbox")), where.at(f"bndbox.{k}")) for k in _CORNERS}
    box = (corner["xmin"], corner["ymin"], corner["xmax"] - corner["xmin"], corner["ymax"] - corner["ymin"])
    return Shape(name, "box", where, "top-left", box=box, attributes=_attributes(element))


_CORNERS = ("xmin", "ymin", "xmax", "ymax")


def _attributes(element: Element) -> dict[str, object]:
    """VOC's flags as booleans, `pose` when given, and CVAT's `<attributes>` extension as text."""
    found: dict[str, object] = {}
    for flag in _FLAGS:
        text = element.findtext(flag)
        if text is not None:
            found[flag] = text.strip().lower() in ("1", "true", "yes")
    pose = (element.findtext("pose") or "").strip()
    if pose and pose != "Unspecified":
        found["pose"] = pose
    for attribute in element.findall("attributes/attribute"):
        key = (attribute.findtext("name") or "").strip()
        if key:
            found[key] = (attribute.findtext("value") or "").strip()
    return found


def _text(parent: Element, key: str, where: Where) -> str:
    text = parent.findtext(key)
    if text is None or not text.strip():
        raise RowError(where.at(key), f"missing <{key}>")
    return text.strip()
