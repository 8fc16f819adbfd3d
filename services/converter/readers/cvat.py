"""CVAT for images 1.1 XML: `<annotations>` holding one `<image>` per picture with its shapes, in pixels from the
top-left. Boxes, polygons and masks are objects; polylines and points are recorded as lines and points (the build
step drops them); `<tag>`s are answers about the whole image. A box's `rotation` turns it clockwise about its
centre, so such a box becomes a polygon. CVAT for video (`<track>`s) is refused with a clear error.

A project export holds several tasks, each in a subset (Train, Validation, ...), and their image names often
repeat (img0.jpg in every task). Each `<image>` then carries `subset` and `task_id`, and CVAT saves its picture
as `images/<subset>/<name>`, so the image is named `<subset>/<name>`: distinct, and matched under that layout.
"""

from __future__ import annotations

import io
from collections import Counter
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as safe_xml
import numpy as np

from transferline.errors import InvalidInput
from transferline_converter.dataset import (
    MAX_MASK_PIXELS,
    ImageIds,
    LabeledImage,
    MaskRef,
    Point,
    Problems,
    ReadResult,
    Shape,
    ShapeKind,
    Where,
)
from transferline_converter.readers import ReadOptions
from transferline_converter.readers.common import RowError, load_xml, text_number, turned_rectangle
from transferline_converter.sources import ExportFile, ExportSource

FORMAT = "cvat"
_SHAPES = {"box", "polygon", "polyline", "points", "mask"}
_KINDS: dict[str, ShapeKind] = {"polygon": "polygon", "polyline": "line", "points": "point"}


def sniff(source: ExportSource) -> bool:
    return any(_has_images(f) for f in source.with_suffix(".xml"))


def _has_images(file: ExportFile) -> bool:
    """Root `<annotations>` whose first child after `<version>`/`<meta>` is an `<image>` (streamed, so cheap)."""
    depth = 0
    try:
        for event, element in safe_xml.iterparse(io.BytesIO(file.data), events=("start", "end")):
            depth += 1 if event == "start" else -1
            if event == "start" and depth == 1 and element.tag != "annotations":
                return False
            if event == "start" and depth == 2 and element.tag not in ("version", "meta"):
                return bool(element.tag == "image")
    except Exception:  # sniffing never fails: anything odd just is not CVAT
        return False
    return False


def read(source: ExportSource, options: ReadOptions, problems: Problems) -> ReadResult:
    files = list(source.with_suffix(".xml"))
    if not files:
        raise InvalidInput(f"export {source.name} holds no .xml file (CVAT exports annotations.xml)")
    categories: list[str] = []
    images: list[LabeledImage] = []
    for file in files:
        root = _root(file)
        categories += [name for name in _declared_labels(root) if name not in categories]
        subsets = _task_subsets(root)
        for element in root.findall("image"):
            try:
                images.append(_image(element, subsets, problems))
            except RowError as exc:
                exc.record(problems)
    return ReadResult(FORMAT, images, categories, notes=_subset_notes(images))


def _root(file: ExportFile) -> Element:
    root = load_xml(file)
    if root.tag != "annotations":
        raise InvalidInput(f"{file.name}: root element is <{root.tag}>, not CVAT's <annotations>")
    if root.find("track") is not None:
        raise InvalidInput(f"{file.name} holds <track>s (CVAT for video 1.1); export as CVAT for images 1.1")
    return root


def _declared_labels(root: Element) -> list[str]:
    """Label names from the task's (or project's, or job's) meta, in order; tag-only labels name no objects."""
    names = []
    for label in root.iterfind("meta/*/labels/label"):
        name = (label.findtext("name") or "").strip()
        if name and (label.findtext("type") or "").strip() != "tag":
            names.append(name)
    return names


def _task_subsets(root: Element) -> dict[str, str]:
    """Task id -> subset, from a project export's meta (for images that do not carry their subset)."""
    found = {}
    for task in root.iterfind("meta/project/tasks/task"):
        task_id, subset = (task.findtext(key, "").strip() for key in ("id", "subset"))
        if task_id and subset:
            found[task_id] = subset
    return found


def _image(element: Element, subsets: dict[str, str], problems: Problems) -> LabeledImage:
    name, task = element.get("name"), element.get("task_id")
    subset = (element.get("subset") or subsets.get(task or "") or "").strip()
    in_task = f" in task {task}" + (f" ({subset})" if subset else "") if task else ""
    where = Where((f"image {name}" if name else f"image id={element.get('id')}") + in_task)
    if not name:
        raise RowError(where.at("name"), "image has no name")
    width, height = (_whole(element, key, where, minimum=0) if element.get(key) else 0 for key in ("width", "height"))
    ids = ImageIds(external_id=f"{subset}/{name}", file_name=f"{subset}/{name}") if subset else ImageIds(file_name=name)
    image = LabeledImage(where, ids, width or None, height or None)
    if subset:
        image.attributes["subset"] = subset
    seen: Counter[str] = Counter()
    for child in element:
        at = where.at(f"{child.tag}[{seen[child.tag]}]")
        seen[child.tag] += 1
        try:
            if child.tag == "tag":
                _tag(child, at, image)
            else:
                image.shapes.append(_shape(child, at, image))
        except RowError as exc:
            exc.record(problems)
    return image


def _subset_notes(images: list[LabeledImage]) -> list[str]:
    """What a project's subsets mean for the names and the splits (the ratio split does not follow them)."""
    counts = Counter(str(image.attributes["subset"]) for image in images if "subset" in image.attributes)
    if not counts:
        return []
    listed = ", ".join(f"{subset} ({n})" for subset, n in counts.items())
    return [
        f"CVAT project subsets {listed}: images are named <subset>/<name>, as CVAT stores them under images/; "
        "to keep the subsets as the splits, give a split list naming them (`--split-list`, keys train/val/test)"
    ]


def _tag(element: Element, at: Where, image: LabeledImage) -> None:
    label = _label(element, at)
    image.attributes.setdefault("tags", []).append(label)
    for key, value in _attributes(element).items():
        image.attributes[f"{label}.{key}"] = value


def _shape(element: Element, at: Where, image: LabeledImage) -> Shape:
    tag = element.tag
    if tag not in _SHAPES:
        raise RowError(at, f"<{tag}> shapes are not read; object dropped", code="unknown-geometry")
    label, attributes = _label(element, at), _attributes(element)
    if tag == "box":
        return _box(element, label, at, attributes)
    if tag == "mask":
        return Shape(label, "mask", at, mask=_mask(element, at, image), attributes=attributes)
    ring = _points(element.get("points"), at.at("points"))
    return Shape(label, _KINDS[tag], at, polygons=[ring], attributes=attributes)


def _box(element: Element, label: str, at: Where, attributes: dict[str, object]) -> Shape:
    xtl, ytl, xbr, ybr = (_number(element, key, at) for key in ("xtl", "ytl", "xbr", "ybr"))
    box = (xtl, ytl, xbr - xtl, ybr - ytl)
    rotation = text_number(element.get("rotation") or "0", at.at("rotation"))
    if rotation % 360 == 0:
        return Shape(label, "box", at, box=box, attributes=attributes)
    ring = turned_rectangle(box, rotation, (xtl + box[2] / 2, ytl + box[3] / 2))
    return Shape(label, "polygon", at, polygons=[ring], attributes=attributes)


def _mask(element: Element, at: Where, image: LabeledImage) -> MaskRef:
    """CVAT's mask RLE: run lengths alternating background/foreground (background first), row by row over the
    mask's own width x height box, which sits at (left, top) in the image. Kept as runs: drawing waits for the
    build step, and a box larger than the image is refused here, before anything is drawn."""
    left, top = (_whole(element, key, at) for key in ("left", "top"))
    width, height = (_whole(element, key, at, minimum=1) for key in ("width", "height"))
    if width * height > MAX_MASK_PIXELS:
        raise RowError(at, f"mask box {width}x{height} is over {MAX_MASK_PIXELS} pixels", code="mask-unavailable")
    if image.width and image.height and (width > image.width or height > image.height):
        message = f"mask box {width}x{height} is larger than the {image.width}x{image.height} image"
        raise RowError(at, message, code="mask-unavailable")
    try:
        counts = [int(run) for run in (element.get("rle") or "").split(",")]
    except ValueError:
        raise RowError(at.at("rle"), "RLE is not a comma-separated list of counts", code="mask-unavailable") from None
    if min(counts) < 0 or sum(counts) != width * height:
        message = f"RLE covers {sum(counts)} pixels, the {width}x{height} mask box has {width * height}"
        raise RowError(at.at("rle"), message, code="mask-unavailable")
    return MaskRef(runs=np.array(counts, dtype=np.int64), box=(width, height), left=left, top=top)


def _points(text: str | None, where: Where) -> list[Point]:
    if not text or not text.strip():
        raise RowError(where, "missing")
    ring = []
    for index, pair in enumerate(text.split(";")):
        xy = pair.split(",")
        if len(xy) != 2:
            raise RowError(where, f"point {index + 1} is {pair.strip()!r:.40}, expected x,y")
        ring.append((text_number(xy[0], where), text_number(xy[1], where)))
    return ring


def _label(element: Element, at: Where) -> str:
    label = (element.get("label") or "").strip()
    if not label:
        raise RowError(at.at("label"), "object has no label", code="empty-class")
    return label


def _attributes(element: Element) -> dict[str, object]:
    found: dict[str, object] = {}
    if element.get("occluded") is not None:
        found["occluded"] = element.get("occluded") == "1"
    for attribute in element.findall("attribute"):
        if attribute.get("name"):
            found[str(attribute.get("name"))] = (attribute.text or "").strip()
    return found


def _number(element: Element, key: str, at: Where) -> float:
    text = element.get(key)
    if text is None:
        raise RowError(at.at(key), "missing")
    return text_number(text, at.at(key))


def _whole(element: Element, key: str, at: Where, minimum: int | None = None) -> int:
    value = _number(element, key, at)
    if value != int(value) or (minimum is not None and value < minimum):
        least = "" if minimum is None else f" of at least {minimum}"
        raise RowError(at.at(key), f"expected a whole number{least}, got {element.get(key)!r:.40}")
    return int(value)
