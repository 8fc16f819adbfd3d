"""One image and its annotations -> everything a tf.train.Example needs, without TensorFlow.

Runs in worker processes: the original JPEG or PNG bytes pass through untouched unless a transform is needed
(EXIF rotation, another format, a resize); boxes are normalised; masks become one 0/1 PNG per instance.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from pycocotools import mask as rle_tools

# What the decoders' decode_image reads as is (MPO: a JPEG with extra frames, as many cameras write).
PASSTHROUGH = {"JPEG": "jpeg", "MPO": "jpeg", "PNG": "png"}


class SkipImage(ValueError):
    """This image cannot become an example (missing, unreadable, wrong size); the rest goes on."""


@dataclass(frozen=True)
class EncodeOptions:
    include_masks: bool = False
    max_side: int | None = None
    verify_pixels: bool = False
    jpeg_quality: int = 95


@dataclass
class Encoded:
    source_id: str
    filename: str
    image: bytes
    format: str
    width: int
    height: int
    sha256: str
    reencoded: bool
    xmin: list[float] = field(default_factory=list)
    xmax: list[float] = field(default_factory=list)
    ymin: list[float] = field(default_factory=list)
    ymax: list[float] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    crowd: list[int] = field(default_factory=list)
    areas: list[float] = field(default_factory=list)
    masks: list[bytes] = field(default_factory=list)


def encode(
    image: dict[str, Any], annotations: list[dict[str, Any]], names: dict[int, str], data: bytes, options: EncodeOptions
) -> Encoded:
    try:
        picture = Image.open(io.BytesIO(data))
        _check_complete(picture, data, options.verify_pixels)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise SkipImage(f"not a readable image ({type(exc).__name__})") from None
    with picture:
        return _encode(picture, image, annotations, names, data, options)


def _check_complete(picture: Image.Image, data: bytes, verify_pixels: bool) -> None:
    """A cut-off file must fail here, not in training's decode_image. By default a JPEG must end with its EOI
    marker and a PNG with its IEND chunk (what a partial download lacks); `verify_pixels` decodes every byte,
    which also catches damage inside the data, at several times the cost."""
    if verify_pixels:
        _decode_all(picture, data)
    elif picture.format in ("JPEG", "MPO") and not data.rstrip(b"\0").endswith(b"\xff\xd9"):
        raise OSError("JPEG data ends before its end-of-image marker")
    elif picture.format == "PNG" and b"IEND" not in data[-16:]:
        raise OSError("PNG data ends before its IEND chunk")


# What `_decode_all` puts before a JPEG's last end-of-image marker. It holds no 0xFF (so no marker) and starts with
# 0, so that a 0xFF the data ends with reads as a stuffed byte rather than the start of one.
_FILLER = bytes([0, *((index * 97 + 13) % 255 for index in range(255))])


def _decode_all(picture: Image.Image, data: bytes) -> None:
    """Every pixel decoded. libjpeg fills a scan cut short with grey and says so only in a warning that Pillow
    drops (so does TensorFlow's decoder: training would read grey), so a JPEG cut in half with its end-of-image
    marker put back decodes "fine". Decoding it again with filler before that marker tells: a complete scan never
    reads the filler, a cut one decodes it as image data and its pixels change."""
    progressive = bool(picture.info.get("progressive"))
    pixels = _pixels(data, progressive)
    end = data.rfind(b"\xff\xd9")
    if picture.format not in ("JPEG", "MPO") or end <= 0:
        return
    if _pixels(data[:end] + _FILLER + data[end:], progressive) != pixels:
        raise OSError("JPEG scan data ends early: its end-of-image marker comes before the image does")


def _pixels(data: bytes, progressive: bool) -> bytes:
    with Image.open(io.BytesIO(data)) as probe:
        if not progressive:  # a baseline scan is decoded whole even at 1/8 scale; a progressive one's AC scans not
            probe.draft("RGB", (max(1, probe.width // 8), max(1, probe.height // 8)))
        probe.load()
        return probe.tobytes()


def _encode(
    picture: Image.Image,
    image: dict[str, Any],
    annotations: list[dict[str, Any]],
    names: dict[int, str],
    data: bytes,
    options: EncodeOptions,
) -> Encoded:
    orientation = picture.getexif().get(0x0112, 1)
    rotated = orientation not in (1, None)
    width, height = (picture.height, picture.width) if orientation in (5, 6, 7, 8) else picture.size
    if (width, height) != (image["width"], image["height"]):
        raise SkipImage(f"image is {width}x{height}, the COCO entry says {image['width']}x{image['height']}")
    scale = _scale(width, height, options.max_side)
    if picture.format in PASSTHROUGH and not rotated and scale == 1:
        body, kind, size = data, PASSTHROUGH[picture.format], (width, height)
    else:
        body, size = _reencode(picture, scale, options.jpeg_quality)
        kind = "jpeg"
    result = Encoded(
        str(image["id"]),
        image["file_name"],
        body,
        kind,
        size[0],
        size[1],
        hashlib.sha256(body).hexdigest(),
        reencoded=body is not data,
    )
    for annotation in annotations:
        _add_object(result, annotation, names, image, options, size)
    return result


def _add_object(
    result: Encoded,
    annotation: dict[str, Any],
    names: dict[int, str],
    image: dict[str, Any],
    options: EncodeOptions,
    size: tuple[int, int],
) -> None:
    x, y, w, h = annotation["bbox"]
    width, height = image["width"], image["height"]
    result.xmin.append(x / width)
    result.xmax.append((x + w) / width)
    result.ymin.append(y / height)
    result.ymax.append((y + h) / height)
    result.labels.append(int(annotation["category_id"]))
    result.texts.append(names[annotation["category_id"]])
    result.crowd.append(int(annotation.get("iscrowd", 0)))
    result.areas.append(float(annotation.get("area", w * h)))
    if options.include_masks:
        result.masks.append(_mask_png(annotation, width, height, size))


def _mask_png(annotation: dict[str, Any], width: int, height: int, size: tuple[int, int]) -> bytes:
    """The instance's mask at the output size as a one-channel 0/1 PNG (the decoder casts, it does not scale).
    The shape has passed `coco.check_split`: pycocotools' C code trusts what it is given."""
    segmentation = annotation.get("segmentation")
    if isinstance(segmentation, dict):
        counts = segmentation["counts"]
        rle = segmentation if isinstance(counts, str | bytes) else rle_tools.frPyObjects(segmentation, height, width)
        if isinstance(rle["counts"], str):
            rle = {"size": rle["size"], "counts": rle["counts"].encode()}
        bitmap = rle_tools.decode(rle)
    elif segmentation:
        bitmap = np.max(rle_tools.decode(rle_tools.frPyObjects(segmentation, height, width)), axis=2)
    else:  # a box without a shape: the box is its mask, clipped (a negative index would count from the far edge)
        x, y, w, h = (round(v) for v in annotation["bbox"])
        bitmap = np.zeros((height, width), dtype=np.uint8)
        bitmap[max(0, y) : max(0, y + h), max(0, x) : max(0, x + w)] = 1
    mask = Image.fromarray(bitmap.astype(np.uint8))
    if mask.size != size:
        mask = mask.resize(size, Image.Resampling.NEAREST)
    out = io.BytesIO()
    mask.save(out, "PNG")
    return out.getvalue()


def _scale(width: int, height: int, max_side: int | None) -> float:
    return 1.0 if max_side is None or max(width, height) <= max_side else max_side / max(width, height)


def _reencode(picture: Image.Image, scale: float, quality: int) -> tuple[bytes, tuple[int, int]]:
    upright = ImageOps.exif_transpose(picture).convert("RGB")
    if scale != 1:
        size = (max(1, round(upright.width * scale)), max(1, round(upright.height * scale)))
        upright = upright.resize(size, Image.Resampling.LANCZOS)
    out = io.BytesIO()
    upright.save(out, "JPEG", quality=quality)
    return out.getvalue(), upright.size
