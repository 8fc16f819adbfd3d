"""Masks referenced by an export: fetched over HTTP(S) (Labelbox mask URLs need its API key), decoded from RLE,
or placed from a bitmap; always returned as a full-image boolean array."""

from __future__ import annotations

import io
from urllib.parse import urlparse

import numpy as np
import requests
from PIL import Image, UnidentifiedImageError
from pycocotools import mask as rle_tools

from transferline_converter.dataset import MaskRef
from transferline_converter.geometry import ShapeError

MAX_MASK_BYTES = 64 * 1024 * 1024


class MaskSource:
    """Fetches each mask URL once per conversion (composite masks are shared by every object of a row)."""

    def __init__(self, api_key: str = "", timeout: float = 30.0) -> None:
        self._session = requests.Session()
        if api_key:
            self._session.headers["Authorization"] = f"Bearer {api_key}"
        self._timeout = timeout
        self._pictures: dict[str, np.ndarray] = {}

    def bitmap(self, ref: MaskRef, width: int, height: int) -> np.ndarray:
        if ref.rle is not None:
            return _from_rle(ref.rle, width, height)
        if ref.bitmap is not None:
            return _placed(ref.bitmap, ref.left, ref.top, width, height)
        if ref.url is None:
            raise ShapeError("mask-unavailable", "mask has no URL, RLE or bitmap")
        picture = self._picture(ref.url)
        if picture.shape[:2] != (height, width):
            raise ShapeError(
                "mask-unavailable", f"mask is {picture.shape[1]}x{picture.shape[0]}, image {width}x{height}"
            )
        if ref.color is not None:
            return np.all(picture[:, :, :3] == np.array(ref.color, dtype=np.uint8), axis=2)
        return picture.max(axis=2) >= 128  # white-on-black masks; anti-aliased edges split at half

    def _picture(self, url: str) -> np.ndarray:
        if url not in self._pictures:
            self._pictures[url] = _decode(self._fetch(url), url)
        return self._pictures[url]

    def _fetch(self, url: str) -> bytes:
        if urlparse(url).scheme not in ("http", "https"):
            raise ShapeError("mask-unavailable", f"mask URL {url!r} is not http(s)")
        try:
            with self._session.get(url, timeout=self._timeout, stream=True) as response:
                if response.status_code != 200:
                    raise ShapeError("mask-unavailable", f"GET {url} answered HTTP {response.status_code}")
                data = response.raw.read(MAX_MASK_BYTES + 1, decode_content=True)
        except requests.RequestException as exc:
            raise ShapeError("mask-unavailable", f"GET {url} failed: {type(exc).__name__}") from None
        if len(data) > MAX_MASK_BYTES:
            raise ShapeError("mask-unavailable", f"mask at {url} is larger than {MAX_MASK_BYTES // 2**20} MiB")
        return data


def _decode(data: bytes, url: str) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data)) as picture:
            return np.asarray(picture.convert("RGBA" if picture.mode in ("RGBA", "LA", "P") else "RGB"))
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise ShapeError("mask-unavailable", f"mask at {url} is not a readable image") from None


def _from_rle(rle: dict, width: int, height: int) -> np.ndarray:
    try:
        size = [int(s) for s in rle["size"]]
        encoded = rle_tools.frPyObjects(rle, size[0], size[1]) if isinstance(rle["counts"], list) else rle
        if isinstance(encoded["counts"], str):
            encoded = {"size": size, "counts": encoded["counts"].encode()}
        decoded = rle_tools.decode(encoded)
    except (KeyError, TypeError, ValueError) as exc:
        raise ShapeError("mask-unavailable", f"RLE mask does not decode: {exc}") from None
    if decoded.shape != (height, width):
        raise ShapeError("mask-unavailable", f"RLE size {size} is not the image's [height, width] [{height}, {width}]")
    return decoded.astype(bool)


def _placed(bitmap: np.ndarray, left: int, top: int, width: int, height: int) -> np.ndarray:
    """A bitmap drawn at (left, top) on an empty image, cut at the image's edges."""
    canvas = np.zeros((height, width), dtype=bool)
    rows, cols = bitmap.shape
    y0, x0, y1, x1 = max(top, 0), max(left, 0), min(top + rows, height), min(left + cols, width)
    if y1 > y0 and x1 > x0:
        canvas[y0:y1, x0:x1] = bitmap[y0 - top : y1 - top, x0 - left : x1 - left]
    return canvas
