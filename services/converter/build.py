"""Rows read from exports + the stored images -> one COCO dataset with integer ids, ready for pycocotools."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from math import floor
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote, urlparse

from transferline.errors import InvalidInput
from transferline_converter.coco_categories import coco_id
from transferline_converter.dataset import LabeledImage, PlainBoxes, Problems, Severity, Shape
from transferline_converter.geometry import Annotation, ShapeError, from_box, from_mask, from_polygons
from transferline_converter.images import ImageIndex, Match, StoredImage
from transferline_converter.masks import MaskSource

NO_IMAGES = Match(None, "no stored images were given")
_WARNINGS = {"degenerate-shape", "out-of-bounds", "unsupported-shape"}  # dropped by policy, not broken input


@dataclass(frozen=True)
class BuildOptions:
    clip: bool = True
    classes: frozenset[str] | None = None
    rename: dict[str, str] = field(default_factory=dict)
    category_map: dict[str, str] = field(default_factory=dict)
    require_images: bool = True


@dataclass
class Built:
    coco: dict[str, Any]
    stored: dict[int, StoredImage]  # COCO image id -> the stored image behind it
    counters: dict[str, float]


class _Builder:
    def __init__(self, index: ImageIndex, masks: MaskSource, options: BuildOptions, problems: Problems) -> None:
        self.index, self.masks, self.options, self.problems = index, masks, options, problems
        self.images: list[dict[str, Any]] = []
        self.annotations: list[dict[str, Any]] = []
        self.annotation_classes: list[str] = []  # each annotation's class, its category id once all are known
        self.stored: dict[int, StoredImage] = {}
        self.seen: dict[str, str] = {}  # image file name -> the row that labelled it first
        self.names: dict[str, str] = {}  # class as the export spells it -> with its white space tidied
        self.kept: dict[str, str] = {}  # class as the export spells it -> the class kept, for a class kept quietly
        self.counters = {"rows": 0.0, "rows_skipped": 0.0, "rows_dropped": 0.0, "objects_dropped": 0.0}

    def add_row(self, row: LabeledImage) -> None:
        self.counters["rows"] += 1
        if row.skipped:
            self.counters["rows_skipped"] += 1
            self.problems.info("row-skipped", "marked Skip in the labelling tool", row.where)
            return
        image = self._image_entry(row)
        if image is None:
            self.counters["rows_dropped"] += 1
            return
        boxes = row.boxes  # read before row.shapes, which makes them Shapes
        if not (boxes.objects if boxes else row.shapes):
            self.problems.info("image-unlabeled", "no objects: kept as a background image", row.where)
        scale = _scale(row, image)
        if scale is not None:
            for shape in row.shapes:
                self._add_shape(shape, image, scale)
        elif boxes is not None:
            self._add_boxes(boxes, image)
        else:
            self._add_shapes(row.shapes, image)

    def _add_shapes(self, shapes: list[Shape], image: dict[str, Any]) -> None:
        """`_add_shape` of each, with the usual object of a large export, a pixel box wholly inside its image of a
        class kept before, added by `_inside_box`; any other object takes `_add_shape`."""
        width, height, image_id, kept = image["width"], image["height"], image["id"], self.kept
        for shape in shapes:
            box, name = shape.box, kept.get(shape.category)
            entry = None
            if name is not None and box is not None and shape.kind == "box" and shape.frame == "top-left":
                entry = _inside_box(len(self.annotations) + 1, image_id, *box, width, height, int(shape.iscrowd))
            if name is None or entry is None:
                self._add_shape(shape, image, None)  # clipped, dropped or refused there
                continue
            if shape.attributes:
                entry["attributes"] = shape.attributes
            self._keep(entry, name)

    def _add_boxes(self, boxes: PlainBoxes, image: dict[str, Any]) -> None:
        """`_add_shapes` of a row's plain boxes, read as they are kept: a box's Shape is made only for `_add_shape`."""
        width, height, image_id, kept = image["width"], image["height"], image["id"], self.kept
        annotations, classes = self.annotations, self.annotation_classes
        number = len(annotations) + 1  # the next annotation's id
        for index, obj in enumerate(boxes.objects):
            name, box = kept.get(obj.name), obj.bounding_box
            entry = None
            if name is not None:
                entry = _inside_box(number, image_id, box.left, box.top, box.width, box.height, width, height, 0)
            if name is None or entry is None:
                self._add_shape(boxes.shape(index), image, None)
                number = len(annotations) + 1
                continue
            annotations.append(entry)  # _keep, spelled out: a method call per box was 2 % of the build
            classes.append(name)
            number += 1

    def _keep(self, annotation: dict[str, Any], name: str) -> None:
        """Add the annotation, of class `name` (its category id is set once every class is known)."""
        self.annotations.append(annotation)
        self.annotation_classes.append(name)

    def _image_entry(self, row: LabeledImage) -> dict[str, Any] | None:
        # With no stored images and none required, nothing can match: the export's names and sizes stand.
        match = self.index.match(row.ids) if self.index.images or self.options.require_images else NO_IMAGES
        stored = match.image
        if stored is None and (self.options.require_images or not (row.width and row.height)):
            need = "was never downloaded" if self.options.require_images else "has no size in the export"
            self.problems.error("image-missing", f"the image {_describe(row)} {need} ({match.how})", row.where)
            return None
        file_name = stored.file_name if stored else _export_name(row)
        if file_name in self.seen:
            self.problems.warning(
                "duplicate-row", f"{file_name} was labelled already by {self.seen[file_name]}", row.where
            )
            return None
        self.seen[file_name] = row.where.row
        width, height = (stored.width, stored.height) if stored else (row.width, row.height)
        if stored and row.width and row.height and (row.width, row.height) != (width, height):
            message = f"export says {row.width}x{row.height}, stored image is {width}x{height}; coordinates scaled"
            self.problems.warning("image-size-mismatch", message, row.where)
        entry: dict[str, Any] = {"id": len(self.images) + 1, "file_name": file_name, "width": width, "height": height}
        _add_provenance(entry, row, stored)
        self.images.append(entry)
        if stored:
            self.stored[entry["id"]] = stored
        return entry

    def _add_shape(self, shape: Shape, image: dict[str, Any], scale: tuple[float, float] | None) -> None:
        name = self._class_name(shape)
        if name is None:
            self.counters["objects_dropped"] += 1
            return
        try:
            scaled = _scaled(shape, scale) if scale and shape.frame != "normalized" else shape
            annotation = self._geometry(scaled, image["width"], image["height"])
        except ShapeError as exc:
            severity: Severity = "warning" if exc.code in _WARNINGS else "error"
            self.problems.add(severity, exc.code, str(exc), shape.where)
            self.counters["objects_dropped"] += 1
            return
        if annotation.clipped:
            self.problems.warning("out-of-bounds", "shape left the image; clipped to its edges", shape.where)
        for code, message in annotation.notes:
            self.problems.warning(code, message, shape.where)
        self._keep(_annotation(len(self.annotations) + 1, image["id"], annotation, shape), name)

    def _class_name(self, shape: Shape) -> str | None:
        name = self.names.get(shape.category)
        if name is None:
            name = self.names[shape.category] = " ".join(shape.category.split())
        if not name:
            self.problems.error("empty-class", "object has no class name", shape.where)
            return None
        name = self.options.rename.get(name, name)
        allowed = self.options.classes
        if not name:
            return None  # renamed to '' on purpose: the user drops that class
        if allowed is not None and name not in allowed:
            self.problems.warning("unknown-class", f"class {name!r} is not among the allowed classes", shape.where)
            return None
        self.kept[shape.category] = name  # said nothing: the next object of this class takes the short way
        return name

    def _geometry(self, shape: Shape, width: int, height: int) -> Annotation:
        if shape.kind in ("point", "line"):
            raise ShapeError("unsupported-shape", f"a {shape.kind} is not a detection object")
        if shape.kind == "box" and shape.box is not None:
            return from_box(shape, width, height, self.options.clip)
        if shape.kind == "polygon" and shape.polygons:
            return from_polygons(shape, width, height, self.options.clip)
        if shape.kind == "mask" and shape.mask is not None:
            return from_mask(self.masks.bitmap(shape.mask, width, height))
        raise ShapeError("unknown-geometry", f"{shape.kind} object carries no geometry")

    def categories(self, declared: list[str]) -> list[dict[str, Any]]:
        """Declared order first (stable across runs), then the other classes by name; ids 1..N."""
        renamed = [self.options.rename.get(name, name) for name in declared]
        used = set(self.annotation_classes)
        ordered = [n for n in dict.fromkeys(renamed) if n in used] + sorted(used - set(renamed))
        return [_category(i, name, self.options.category_map) for i, name in enumerate(ordered, start=1)]


def build(
    rows: Iterable[LabeledImage],
    declared: list[str],
    index: ImageIndex,
    masks: MaskSource,
    options: BuildOptions,
    problems: Problems,
) -> Built:
    """COCO from `rows`, taken one at a time (a stream may let each go once built); `declared` is the categories
    the exports list, in their order."""
    builder = _Builder(index, masks, options, problems)
    check_category_map(options)
    for row in rows:
        builder.add_row(row)
    categories = builder.categories(declared)
    ids = {category["name"]: category["id"] for category in categories}
    for annotation, name in zip(builder.annotations, builder.annotation_classes, strict=True):
        annotation["category_id"] = ids[name]  # last, as COCO files from this converter have always had it
    coco = {"images": builder.images, "annotations": builder.annotations, "categories": categories}
    counters = {**builder.counters, "images": len(builder.images), "objects": len(builder.annotations)}
    return Built(coco, builder.stored, {**counters, "classes": len(categories)})


def check_category_map(options: BuildOptions) -> None:
    for name, coco_name in options.category_map.items():
        try:
            coco_id(coco_name)
        except InvalidInput as exc:
            raise InvalidInput(f"category_map[{name!r}]: {exc}") from None


def _annotation(number: int, image_id: int, shape: Annotation, source: Shape) -> dict[str, Any]:
    x, y, w, h = shape.bbox
    entry: dict[str, Any] = {
        "id": number,
        "image_id": image_id,
        "bbox": [_tidy(x), _tidy(y), _tidy(w), _tidy(h)],
        "area": _tidy(shape.area),
        "iscrowd": int(source.iscrowd),
    }
    if shape.segmentation is not None:
        entry["segmentation"] = shape.segmentation
    if source.attributes:
        entry["attributes"] = source.attributes
    return entry


def _inside_box(
    number: int, image_id: int, x: float, y: float, w: float, h: float, width: int, height: int, iscrowd: int
) -> dict[str, Any] | None:
    """The annotation of a pixel box (x, y, w, h) wholly inside its image, as from_box and _annotation make it,
    without their intermediate objects and calls (the usual object of a large export); None for any other box,
    which `_add_shape` clips, drops or refuses. The four numbers come one by one: a compact box's are read from
    its object, and a tuple of them made to be unpacked here cost 3 % of the build."""
    right, bottom = x + w, y + h
    w, h = right - x, bottom - y  # as from_box measures the clipped box: not always the drawn w, h to the bit
    # w > 0 after: a drawn w <= 0 stays so, and a w that vanishes beside x (1 + 1e-64 is 1) is refused too
    if not (x >= 0 and y >= 0 and right <= width and bottom <= height and w > 0 and h > 0):
        return None
    area = w * h
    # _tidy of each, spelled out (five calls a box): whole numbers as ints, others rounded to 0.001 px; floor is
    # int here, all five being positive or 0, and a third of int's time
    ix, iy, iw, ih, ia = floor(x), floor(y), floor(w), floor(h), floor(area)
    return {
        "id": number,
        "image_id": image_id,
        "bbox": [
            ix if ix == x else round(x, 3),
            iy if iy == y else round(y, 3),
            iw if iw == w else round(w, 3),
            ih if ih == h else round(h, 3),
        ],
        "area": ia if ia == area else round(area, 3),
        "iscrowd": iscrowd,
    }


def _tidy(value: float) -> float:
    """A whole number as an int, which JSON writes in half the time of a float (most boxes are drawn on whole
    pixels, and floats were half of writing a large COCO file); any other rounded to a thousandth of a pixel."""
    whole = int(value)  # coordinates are finite here: readers refuse NaN and infinities
    return whole if whole == value else round(value, 3)


def _category(number: int, name: str, category_map: dict[str, str]) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": number, "name": name, "supercategory": ""}
    if name in category_map:
        entry["coco_name"] = category_map[name]
        entry["coco_id"] = coco_id(category_map[name])
    return entry


def _scale(row: LabeledImage, image: dict[str, Any]) -> tuple[float, float] | None:
    """How much larger the stored image is than the one the export declares (the tool saw a resized copy); None
    when they agree or the export declares no size."""
    if not (row.width and row.height):
        return None
    sx, sy = image["width"] / row.width, image["height"] / row.height
    return None if (sx, sy) == (1, 1) else (sx, sy)


def _scaled(shape: Shape, scale: tuple[float, float]) -> Shape:
    """Pixel coordinates drawn on the declared size, scaled to the stored image."""
    sx, sy = scale
    box = (shape.box[0] * sx, shape.box[1] * sy, shape.box[2] * sx, shape.box[3] * sy) if shape.box else None
    polygons = [[(x * sx, y * sy) for x, y in ring] for ring in shape.polygons]
    return replace(shape, box=box, polygons=polygons)


def _add_provenance(entry: dict[str, Any], row: LabeledImage, stored: StoredImage | None) -> None:
    """Where the image came from, each in its key where it has a value, in this order: added to the entry in place
    (a dict of them all, then one of those with a value, made the image entries 40 % slower)."""
    ids = row.ids
    sha256, url = (stored.sha256, ids.url or stored.url) if stored else (None, ids.url)
    if sha256:
        entry["sha256"] = sha256
    if url:
        entry["coco_url"] = url
    if ids.external_id:
        entry["external_id"] = ids.external_id
    if ids.global_key:
        entry["global_key"] = ids.global_key
    if row.attributes:
        entry["attributes"] = row.attributes


def _export_name(row: LabeledImage) -> str:
    ids = row.ids
    if ids.file_name:
        return ids.file_name
    from_url = PurePosixPath(unquote(urlparse(ids.url).path)).name if ids.url else ""
    return from_url or ids.external_id or ids.global_key or row.where.row


def _describe(row: LabeledImage) -> str:
    ids = row.ids
    return repr(ids.global_key or ids.url or ids.external_id or ids.file_name or row.where.row)
