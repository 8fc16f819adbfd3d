"""What every reader produces: labelled images with shapes in a declared coordinate frame, and the problems met.

Readers only parse. Coordinates stay in the frame the export uses (pixels from the top-left, pixels from the
bottom-left, or normalised to [0, 1]); `build` turns them into COCO pixels once each image's size is known.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Literal, Protocol

import msgspec

if TYPE_CHECKING:  # a mask's runs are numpy arrays; rows without masks need no numpy
    import numpy as np

Frame = Literal["top-left", "bottom-left", "normalized"]
ShapeKind = Literal["box", "polygon", "mask", "point", "line"]
Severity = Literal["error", "warning", "info"]
Point = tuple[float, float]


class Where:
    """Where a value came from, for messages a person can act on: `row 3 (ID l1)`, `Label.objects[2].bbox`.

    Readers make one for every field they read, and almost none is ever shown, so `at` only links the child to
    its parent and the dotted path is joined when someone reads `field` (in profiles of large exports, building
    the text eagerly cost as much as parsing the JSON).
    """

    __slots__ = ("_child", "_parent", "row")
    row: str
    _parent: Where | None
    _child: str

    def __init__(self, row: str, field: str = "") -> None:
        self.row, self._parent, self._child = row, None, field

    @property
    def field(self) -> str:
        if self._parent is None:
            return self._child
        parent = self._parent.field
        if self._child.startswith("[") or not parent:
            return parent + self._child
        return f"{parent}.{self._child}"

    def at(self, child: str) -> Where:
        """The same row, one field deeper (`objects[2]` then `.bbox`)."""
        deeper = Where.__new__(Where)
        deeper.row, deeper._parent, deeper._child = self.row, self, child
        return deeper

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Where) and (self.row, self.field) == (other.row, other.field)

    def __hash__(self) -> int:
        return hash((self.row, self.field))

    def __repr__(self) -> str:
        return f"Where({self.row!r}, {self.field!r})"

    def __str__(self) -> str:
        return f"{self.row}, field {self.field}" if self.field else self.row


# The most pixels a mask is drawn on (a full-image boolean canvas is this many bytes); a small export must not
# declare its way to gigabytes.
MAX_MASK_PIXELS = 1 << 28


@dataclass(frozen=True)
class MaskRef:
    """A mask as the export gives it: a URL to fetch (optionally one colour of a composite), a COCO RLE, or
    run lengths over a `box` (width, height) placed at (left, top) in the image, row by row, background first
    (CVAT's form). Runs stay compact until the build step draws them, one mask at a time."""

    url: str | None = None
    color: tuple[int, int, int] | None = None
    rle: dict[str, Any] | None = None
    runs: np.ndarray | None = None
    box: tuple[int, int] = (0, 0)
    left: int = 0
    top: int = 0


@dataclass(slots=True)  # one per object of a large export: no __dict__ each
class Shape:
    """One labelled object. `box` is (x, y, width, height) with (x, y) the corner nearest the frame's origin."""

    category: str
    kind: ShapeKind
    where: Where
    frame: Frame = "top-left"
    box: tuple[float, float, float, float] | None = None
    polygons: list[list[Point]] = field(default_factory=list)
    mask: MaskRef | None = None
    iscrowd: bool = False
    attributes: dict[str, Any] = field(default_factory=dict)


class ImageIds(msgspec.Struct, frozen=True, gc=False):
    """Every way an export may name its image; matched to stored images in this order of trust.

    A msgspec Struct, made in C: as a frozen dataclass, whose __init__ sets each field through object.__setattr__,
    the two made per row of a large export (read, then named) were a tenth of reading it. gc=False: strings only."""

    global_key: str | None = None
    digest: str | None = None
    url: str | None = None
    external_id: str | None = None
    file_name: str | None = None


class Pixels(Protocol):
    """A box as Labelbox writes one: pixels from the top-left."""

    @property
    def left(self) -> float: ...
    @property
    def top(self) -> float: ...
    @property
    def width(self) -> float: ...
    @property
    def height(self) -> float: ...


class PlainBox(Protocol):
    """A plain box object as its reader decoded it: a class (`name`) and a `bounding_box`."""

    @property
    def name(self) -> str: ...
    @property
    def bounding_box(self) -> Pixels: ...


_NAME, _CATEGORY = attrgetter("name"), attrgetter("category")


class PlainBoxes(msgspec.Struct, frozen=True):
    """A row's objects when every one is a plain box: pixels from the top-left, a class, no answers, not crowd.
    Kept as their reader decoded them, with one function for their places (a large export has tens of thousands,
    and a Shape and a Where each cost more than reading one; a tuple of (class, (x, y, w, h)) each was a tenth of
    reading the export): the build reads them as they are, and `shape(i)` is the Shape the checked reading makes of
    box i, for a box with something to say and for whoever reads the shapes."""

    objects: Sequence[PlainBox]
    where_of: Callable[[int], Where]  # box i's Where, made only when asked for

    def shape(self, index: int) -> Shape:
        obj = self.objects[index]
        box = obj.bounding_box
        return Shape(obj.name, "box", self.where_of(index), box=(box.left, box.top, box.width, box.height))


class LabeledImage:
    """One data row: an image, the size the export declares (if any), its shapes and row-level answers.

    A reader may give a row of plain boxes as `boxes` rather than `shapes`; reading `shapes` makes them Shapes
    (once), so only the build, which reads `boxes` first, takes them compact. One per row of a large export:
    slots, no __dict__ each."""

    __slots__ = ("_shapes", "attributes", "boxes", "height", "ids", "skipped", "where", "width")

    def __init__(  # the fields, as a dataclass takes them
        self,
        where: Where,
        ids: ImageIds,
        width: int | None = None,
        height: int | None = None,
        shapes: list[Shape] | None = None,
        skipped: bool = False,
        attributes: dict[str, Any] | None = None,
        boxes: PlainBoxes | None = None,
    ) -> None:
        self.where, self.ids, self.width, self.height = where, ids, width, height
        self._shapes = [] if shapes is None else shapes
        self.skipped, self.boxes = skipped, boxes
        self.attributes = {} if attributes is None else attributes

    @property
    def shapes(self) -> list[Shape]:
        if self.boxes is not None:
            boxes, self.boxes = self.boxes, None
            self._shapes[:0] = [boxes.shape(index) for index in range(len(boxes.objects))]
        return self._shapes

    def categories(self) -> Iterator[str]:
        """Each shape's class, in order, without making plain boxes Shapes: taken in C, as the reader gathers the
        export's classes from every row (a list made per row was 7 % of reading a large export)."""
        shapes = map(_CATEGORY, self._shapes)
        if self.boxes is None:
            return shapes
        boxes = map(_NAME, self.boxes.objects)
        return chain(boxes, shapes) if self._shapes else boxes

    def _fields(self) -> tuple[Any, ...]:
        return (self.where, self.ids, self.width, self.height, self.shapes, self.skipped, self.attributes)

    def __eq__(self, other: object) -> bool:
        return type(other) is LabeledImage and self._fields() == other._fields()

    def __repr__(self) -> str:
        names = ("where", "ids", "width", "height", "shapes", "skipped", "attributes")
        return f"LabeledImage({', '.join(f'{n}={v!r}' for n, v in zip(names, self._fields(), strict=True))})"


@dataclass(frozen=True)
class Problem:
    severity: Severity
    code: str
    message: str
    row: str = ""
    field: str = ""

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in self.__dict__.items() if v}


class Problems:
    """Every problem found, counted by code; only the first `keep` of each code are kept in full."""

    def __init__(self, keep: int = 200) -> None:
        self.keep = keep
        self.counts: Counter[str] = Counter()
        self.severities: dict[str, Severity] = {}
        self.items: list[Problem] = []

    def add(self, severity: Severity, code: str, message: str, where: Where | None = None) -> None:
        self.counts[code] += 1
        self.severities[code] = severity
        if self.counts[code] <= self.keep:
            row, field_ = (where.row, where.field) if where else ("", "")
            self.items.append(Problem(severity, code, message, row, field_))

    def error(self, code: str, message: str, where: Where | None = None) -> None:
        self.add("error", code, message, where)

    def warning(self, code: str, message: str, where: Where | None = None) -> None:
        self.add("warning", code, message, where)

    def info(self, code: str, message: str, where: Where | None = None) -> None:
        self.add("info", code, message, where)

    def count(self, severity: Severity) -> int:
        return sum(n for code, n in self.counts.items() if self.severities[code] == severity)

    def extend(self, other: Problems) -> None:
        for problem in other.items:
            self.items.append(problem)
        self.counts.update(other.counts)
        self.severities.update(other.severities)


@dataclass
class ReadResult:
    """A reader's output: the rows, the categories the export declares (in its order), and which form it was."""

    format: str
    images: list[LabeledImage]
    categories: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# Every problem code, with what it means; the report explains each code it uses with these words.
CODES = {
    "malformed-row": "a row or field is missing or has the wrong type; the row (or object) was dropped",
    "nan-coordinate": "a coordinate is NaN or infinite; the object was dropped",
    "unknown-geometry": "an object has no geometry this converter reads; the object was dropped",
    "invalid-wkt": "a WKT geometry does not parse; the object was dropped",
    "self-intersecting": "a polygon crosses itself: its valid parts replace it when their area is within 1 % (or 1 px²)"
    " of the drawn one, else the object was dropped",
    "degenerate-shape": "a shape with under 3 distinct points or no area; dropped (of several polygons, that one)",
    "out-of-bounds": "a shape extends outside its image; clipped or dropped as configured",
    "bbox-polygon-mismatch": "a bbox does not match the bounds of its segmentation",
    "bbox-flipped": "a bbox is its segmentation's bounds mirrored vertically (the legacy Labelbox y-axis bug)",
    "unknown-class": "a class that the export's categories (or the allowed classes) do not list",
    "empty-class": "an object with no class name; the object was dropped",
    "duplicate-id": "an id used more than once",
    "bad-reference": "an annotation points at an image or category that does not exist",
    "bad-id": "an id pycocotools or TF cannot use (annotation id 0 scores AP 0; image ids may start at 0)",
    "area-mismatch": "an annotation's area differs from the area of its shape",
    "image-unlabeled": "an image with no objects (kept as a background image)",
    "image-not-in-export": "a stored image that no export row labels",
    "image-missing": "labels for an image that was never downloaded; the row was dropped",
    "image-size-mismatch": "the export's declared image size differs from the stored image",
    "unsupported-shape": "points and lines are not detection objects; dropped",
    "mask-unavailable": "a mask could not be fetched or decoded; the object was dropped",
    "row-skipped": "a row the labeller marked Skip; not used",
    "duplicate-row": "two rows label the same image; the first was kept",
    "near-duplicate": "images that look the same were kept in one split",
    "missing-field": "an optional field is missing; its default was assumed (COCO iscrowd: 0)",
    "undated-row": "a legacy Labelbox row in the 2018 form has no readable Created At; its y was read from the bottom",
}
