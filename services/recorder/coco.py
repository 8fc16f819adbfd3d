"""What the recorder needs of a COCO split, checked once before any shard is written.

Bad input must be one line naming the file, the row and the field, never a traceback from a worker process, and
never a crash in pycocotools' C code, which trusts its input: a polygon far outside the image overflows its
rasteriser, and RLE runs that overrun the image write past its buffer.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Annotated, Any, NotRequired

from pydantic import BeforeValidator, Field, TypeAdapter, ValidationError
from pydantic_core import ErrorDetails
from typing_extensions import TypedDict  # pydantic reads typing's only from Python 3.12

from transferline.errors import InvalidInput
from transferline.rle import string_runs

REACH = 1  # image sizes a coordinate may lie past the image's edge: annotators overshoot, 1e12 is an error
MAX_RUN = 2**32 - 1  # pycocotools keeps RLE runs as uint32
ROWS = {"images": "image", "annotations": "annotation", "categories": "category"}  # table -> what a row is


def _whole(value: Any) -> Any:
    """640.0 reads as 640, as the converter reads it; anything else is left for the strict check."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _no_nul(value: Any) -> Any:
    if isinstance(value, str) and "\0" in value:
        raise ValueError("must not contain a NUL character")
    return value


def _crowd(value: Any) -> Any:
    if value not in (0, 1) or not isinstance(value, int):  # True and False pass, 1.0 does not
        raise ValueError("must be 0 or 1")
    return value


Id = Annotated[int, Field(strict=True, gt=0, lt=2**63)]  # fits int64, as pycocotools and TF ids must
Pixels = Annotated[int, BeforeValidator(_whole), Field(strict=True, gt=0)]
Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]


# Typed dicts rather than models: a split can hold 100,000 rows, and these validate about ten times faster.
class CocoImage(TypedDict):
    id: Id
    file_name: Annotated[str, BeforeValidator(_no_nul), Field(strict=True, min_length=1)]
    width: Pixels
    height: Pixels


class CocoCategory(TypedDict):
    id: Id
    name: Annotated[str, Field(strict=True)]


class CocoAnnotation(TypedDict):
    image_id: Id
    category_id: Id
    bbox: tuple[Number, Number, Number, Number]
    iscrowd: NotRequired[Annotated[int, BeforeValidator(_crowd)]]
    area: NotRequired[Number]  # absent is fine (the box's area is used), null is not
    segmentation: NotRequired[Any]  # checked against its image's size by `_segmentation_problem`


class CocoSplit(TypedDict):
    images: NotRequired[list[CocoImage]]
    annotations: NotRequired[list[CocoAnnotation]]
    categories: NotRequired[list[CocoCategory]]


SPLIT = TypeAdapter(CocoSplit)


def check_split(name: str, coco: Any) -> dict[str, Any]:
    """`coco` (as parsed from the file `name`) with images, annotations and categories present and image sizes as
    ints (640.0 is 640); InvalidInput naming the first problem."""
    if not isinstance(coco, dict):
        raise InvalidInput(
            f"{name}: must be a JSON object with images, annotations and categories, not a {_kind(coco)}"
        )
    try:
        split = SPLIT.validate_python(coco)
    except ValidationError as exc:
        raise InvalidInput(_describe(name, coco, exc.errors()[0])) from None
    problem = next(_cross_problems(split, coco), None)
    if problem is not None:
        where, message = problem
        raise InvalidInput(f"{name} {where}: {message}")
    found = {**coco, **{table: coco.get(table, []) for table in ROWS}}
    found["images"] = [
        {**raw, "width": image["width"], "height": image["height"]}
        for raw, image in zip(found["images"], split.get("images", []), strict=True)
    ]
    return found


def check_same_categories(splits: dict[str, dict[str, Any]]) -> None:
    """One label map serves every split, so they must list the same categories (as the converter writes them)."""
    named = {name: sorted((c["id"], c["name"]) for c in coco["categories"]) for name, coco in splits.items()}
    first = next(iter(named), None)
    for name, categories in named.items():
        if first is not None and categories != named[first]:
            raise InvalidInput(f"{name} categories differ from {first}'s: every split must list the same categories")


def _cross_problems(split: CocoSplit, raw: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """What needs more than one row to see: repeated ids, references, geometry against its image's size."""
    sizes: dict[int, tuple[int, int]] = {}
    for index, image in enumerate(split.get("images", [])):
        if image["id"] in sizes:
            yield f"images[{index}].id", f"image id {image['id']} is used by an earlier image too"
        sizes[image["id"]] = (image["width"], image["height"])
    known: set[int] = set()
    for index, category in enumerate(split.get("categories", [])):
        if category["id"] in known:
            yield f"categories[{index}].id", f"category id {category['id']} is used by an earlier category too"
        known.add(category["id"])
    for index, annotation in enumerate(split.get("annotations", [])):
        if found := _annotation_problem(annotation, sizes, known):
            field, message = found
            yield f"annotations[{index}].{field}", message + _row_name("annotation", raw["annotations"][index])


def _annotation_problem(
    annotation: CocoAnnotation, sizes: dict[int, tuple[int, int]], categories: set[int]
) -> tuple[str, str] | None:
    size = sizes.get(annotation["image_id"])
    if size is None:
        return "image_id", f"{annotation['image_id']} names no image in this file"
    if annotation["category_id"] not in categories:
        return "category_id", f"{annotation['category_id']} names no category"
    return _bbox_problem(annotation["bbox"], *size) or _segmentation_problem(annotation.get("segmentation"), *size)


def _bbox_problem(bbox: tuple[float, float, float, float], width: int, height: int) -> tuple[str, str] | None:
    x, y, w, h = bbox
    if w < 0 or h < 0:
        return "bbox", f"width and height must be >= 0, got {list(bbox)}"
    if not (_near(x, width) and _near(x + w, width) and _near(y, height) and _near(y + h, height)):
        return "bbox", f"{list(bbox)} lies more than one image size outside the {width}x{height} image"
    return None


def _segmentation_problem(value: Any, width: int, height: int) -> tuple[str, str] | None:
    """Polygons ([[x1, y1, x2, y2, ...], ...]) or an RLE ({size, counts}) that pycocotools can rasterise safely."""
    if value is None:
        return None
    if isinstance(value, dict):
        return _rle_problem(value, width, height)
    if not isinstance(value, list):
        return "segmentation", f"must be a list of polygons or an RLE object, not a {_kind(value)}"
    for index, ring in enumerate(value):
        if message := _ring_problem(ring, width, height):
            return f"segmentation[{index}]", message
    return None


def _ring_problem(ring: Any, width: int, height: int) -> str | None:
    # type() rather than isinstance(): True is an int, and not a coordinate
    if not isinstance(ring, list) or not all(type(v) is int or type(v) is float for v in ring):
        return "a polygon must be a flat list of numbers [x1, y1, x2, y2, ...]"
    if len(ring) % 2 or len(ring) < 6:
        return f"a polygon needs an even count of numbers, at least 6 (3 points), got {len(ring)}"
    if _inside(ring, width, height):
        return None
    position, value = next((i, v) for i, v in enumerate(ring) if not _near(v, height if i % 2 else width))
    axis = "y" if position % 2 else "x"
    return f"{axis} {_short(value)} at [{position}] lies more than one image size outside the {width}x{height} image"


def _rle_problem(rle: dict[str, Any], width: int, height: int) -> tuple[str, str] | None:
    if rle.get("size") != [height, width]:
        return "segmentation.size", f"must be the image's [height, width] [{height}, {width}], got {rle.get('size')!r}"
    counts = rle.get("counts")
    if isinstance(counts, str):
        runs = string_runs(counts)
        if runs is None:
            return "segmentation.counts", "is not a valid compressed RLE string"
    elif isinstance(counts, list) and all(type(c) is int for c in counts):
        runs = counts
    else:
        return "segmentation.counts", "must be a compressed RLE string or a list of run lengths"
    if any(run < 0 or run > MAX_RUN for run in runs) or sum(runs) != height * width:
        return "segmentation.counts", f"runs must be >= 0 and add up to height x width = {height * width}"
    return None


def _inside(ring: list[float], width: int, height: int) -> bool:
    """Every coordinate finite and near the image: the usual case, at C speed (a bad polygon is then searched for
    its bad value)."""
    try:
        finite = all(map(math.isfinite, ring))
    except OverflowError:  # an int past a float's range
        return False
    xs, ys = ring[0::2], ring[1::2]
    return (
        finite and _near(min(xs), width) and _near(max(xs), width) and _near(min(ys), height) and _near(max(ys), height)
    )


def _near(value: float, size: int) -> bool:
    """Within REACH image sizes of the image (False for NaN, which fails every comparison)."""
    return -REACH * size <= value <= (1 + REACH) * size


def _describe(name: str, coco: dict[str, Any], error: ErrorDetails) -> str:
    """`coco_train.json images[3].width: must be greater than 0 (image id 4)`, from pydantic's first error."""
    where = ""
    for part in error["loc"]:
        where += f"[{part}]" if isinstance(part, int) else f".{part}" if where else str(part)
    message = str(error["ctx"]["error"]) if error["type"] == "value_error" else error["msg"]
    row = ""
    table, index = (*error["loc"], None, None)[:2]
    if table in ROWS and isinstance(index, int):
        row = _row_name(ROWS[str(table)], coco[table][index])
    return f"{name} {where}: {message[:1].lower()}{message[1:]}{row}"


def _row_name(kind: str, row: Any) -> str:
    """` (annotation id 12, image id 3)`: the row's own ids, those that can be shown on a line."""
    if not isinstance(row, dict):
        return ""
    names = [f"{kind} id {text}"] if (text := _short_id(row.get("id"))) else []
    if kind == "annotation" and (text := _short_id(row.get("image_id"))):
        names.append(f"image id {text}")
    return f" ({', '.join(names)})" if names else ""


def _short_id(value: Any) -> str | None:
    if isinstance(value, int | str) and not isinstance(value, bool) and len(text := repr(value)) < 40:
        return text
    return None


def _short(value: float) -> str:
    text = str(value)
    return text if len(text) <= 24 else f"{text[:20]}... ({len(text)} digits)"


def _kind(value: Any) -> str:
    return {list: "list", str: "string", dict: "object", bool: "boolean", type(None): "null"}.get(type(value), "number")
