"""Masks referenced by an export: fetched over HTTP(S) through the platform's guarded fetcher (the Labelbox API key
goes to Labelbox's own hosts only), decoded from RLE, or drawn from run lengths; always returned as a full-image
boolean array. Every declared size is checked against the image before anything is decoded or drawn, so a small
export cannot claim its way to gigabytes."""

from __future__ import annotations

import io
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING

from transferline_converter.dataset import MAX_MASK_PIXELS, MaskRef
from transferline_converter.geometry import ShapeError
from transferline_converter.settings import ConverterSettings

if TYPE_CHECKING:  # numpy, Pillow, pycocotools and the fetcher (requests) load when a mask is met, not before
    import numpy as np

    from transferline.fetch import Fetcher, ScopedHeader

MAX_MASK_BYTES = 64 * 1024 * 1024
CACHE_BYTES = 128 * 1024 * 1024  # a few large composites; a row's objects come together, so the last one is what counts
MAX_FAILURES = 4096  # failed URLs remembered, so a dead composite is not fetched again for each of its objects


class MaskSource:
    """Masks for one conversion. A fetched picture is kept while it is among the most recently used (up to
    `cache_bytes`): a composite mask serves every object of its row, and a row's objects come together."""

    def __init__(self, fetcher: Fetcher | None = None, cache_bytes: int = CACHE_BYTES) -> None:
        self._fetcher = fetcher  # else made when the first URL is fetched (most exports have none)
        self._make_fetcher: Callable[[], Fetcher] = _default_fetcher
        self._pictures = PictureCache(cache_bytes)
        self._failures: OrderedDict[str, str] = OrderedDict()

    @classmethod
    def from_settings(cls, settings: ConverterSettings) -> MaskSource:
        def fetcher() -> Fetcher:
            from transferline.fetch import Fetcher

            return Fetcher(
                max_bytes=MAX_MASK_BYTES,
                deadline=settings.mask_fetch_seconds,
                allow_networks=settings.allow_networks,
                headers=labelbox_key(settings),
            )

        source = cls()
        source._make_fetcher = fetcher
        return source

    def bitmap(self, ref: MaskRef, width: int, height: int) -> np.ndarray:
        if width * height > MAX_MASK_PIXELS:
            raise ShapeError("mask-unavailable", f"image {width}x{height} is over {MAX_MASK_PIXELS} pixels for a mask")
        if ref.rle is not None:
            return _from_rle(ref.rle, width, height)
        if ref.runs is not None:
            return _placed(ref, width, height)
        if ref.url is None:
            raise ShapeError("mask-unavailable", "mask has no URL, RLE or runs")
        picture = self._picture(ref.url, width, height)
        if ref.color is not None:
            return _of_colour(picture, ref.color)
        grey = picture if picture.ndim == 2 else picture.max(axis=2)
        return grey >= 128  # white-on-black masks; anti-aliased edges split at half

    def _picture(self, url: str, width: int, height: int) -> np.ndarray:
        picture = self._pictures.get(url)
        if picture is None:
            picture = self._pictures.put(url, self._load(url, width, height))
        if picture.shape[:2] != (height, width):  # one URL used for two images of different sizes
            raise ShapeError("mask-unavailable", _size_message(picture.shape[1], picture.shape[0], width, height))
        return picture

    def _load(self, url: str, width: int, height: int) -> np.ndarray:
        """Fetched and decoded, or the reason it could not be (remembered: each object of a composite asks)."""
        if url in self._failures:
            raise ShapeError("mask-unavailable", self._failures[url])
        try:
            return _decode(self._fetch(url), width, height)
        except ShapeError as exc:
            self._failures[url] = str(exc)
            if len(self._failures) > MAX_FAILURES:
                self._failures.popitem(last=False)
            raise

    def _fetch(self, url: str) -> bytes:
        from transferline.fetch import FetchError

        if self._fetcher is None:
            self._fetcher = self._make_fetcher()
        try:
            return self._fetcher.get(url).content
        except FetchError as exc:
            raise ShapeError("mask-unavailable", f"{exc} ({exc.reason})") from None


def labelbox_key(settings: ConverterSettings) -> tuple[ScopedHeader, ...]:
    """The API key as a header for Labelbox's own hosts (the allow-list setting), over https only; mask URLs that
    point elsewhere are fetched without it."""
    from transferline.fetch import ScopedHeader

    key = settings.labelbox_api_key.get_secret_value()
    return (ScopedHeader("Authorization", f"Bearer {key}", settings.key_hosts),) if key else ()


def _default_fetcher() -> Fetcher:
    from transferline.fetch import Fetcher

    return Fetcher(max_bytes=MAX_MASK_BYTES)


class PictureCache:
    """Decoded pictures by URL, least recently used dropped first once they hold more than `budget` bytes; the
    newest is always kept, however large (its row's objects are about to use it)."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.bytes = 0
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, url: str) -> np.ndarray | None:
        if url in self._items:
            self._items.move_to_end(url)
        return self._items.get(url)

    def put(self, url: str, picture: np.ndarray) -> np.ndarray:
        self._items[url] = picture
        self.bytes += picture.nbytes
        while self.bytes > self.budget and len(self._items) > 1:
            _, dropped = self._items.popitem(last=False)
            self.bytes -= dropped.nbytes
        return picture


def _decode(data: bytes, width: int, height: int) -> np.ndarray:
    """The picture's pixels, once its header says it is the image's size (a mask of another size is refused before
    a pixel is decoded: a small PNG can hold a huge, empty picture)."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as picture:
            if picture.size != (width, height):
                raise ShapeError("mask-unavailable", _size_message(*picture.size, width, height))
            return np.asarray(picture.convert(_mode(picture.mode)))
    except ShapeError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise ShapeError("mask-unavailable", "mask is not a readable image") from None


def _mode(mode: str) -> str:
    """Grey masks stay one byte a pixel; colour and transparency keep their channels."""
    if mode in ("1", "L", "I", "I;16", "F"):
        return "L"
    return "RGBA" if mode in ("RGBA", "LA", "P", "PA") else "RGB"


def _of_colour(picture: np.ndarray, color: tuple[int, int, int]) -> np.ndarray:
    import numpy as np

    if picture.ndim == 2:  # a grey picture holds only the colours whose channels are equal
        return picture == color[0] if color[0] == color[1] == color[2] else np.zeros(picture.shape, dtype=bool)
    return np.all(picture[:, :, :3] == np.array(color, dtype=np.uint8), axis=2)


def _size_message(mask_width: int, mask_height: int, width: int, height: int) -> str:
    return f"mask is {mask_width}x{mask_height}, image {width}x{height}"


def _from_rle(rle: dict, width: int, height: int) -> np.ndarray:
    from pycocotools import mask as rle_tools

    try:
        size = [int(s) for s in rle["size"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise ShapeError("mask-unavailable", f"RLE mask has no [height, width] size: {exc}") from None
    if size != [height, width]:  # checked before decoding: the size says how large the decoded mask is
        raise ShapeError("mask-unavailable", f"RLE size {size} is not the image's [height, width] [{height}, {width}]")
    try:
        encoded = rle_tools.frPyObjects(rle, size[0], size[1]) if isinstance(rle["counts"], list) else rle
        if isinstance(encoded["counts"], str):
            encoded = {"size": size, "counts": encoded["counts"].encode()}
        return rle_tools.decode(encoded).astype(bool)
    except (KeyError, TypeError, ValueError) as exc:
        raise ShapeError("mask-unavailable", f"RLE mask does not decode: {exc}") from None


def box_bitmap(ref: MaskRef) -> np.ndarray:
    """The mask's own box drawn from its runs (background first, row by row)."""
    import numpy as np

    assert ref.runs is not None
    width, height = ref.box
    return np.repeat(np.arange(len(ref.runs)) % 2 == 1, ref.runs).reshape(height, width)


def _placed(ref: MaskRef, width: int, height: int) -> np.ndarray:
    """The runs' box drawn at (left, top) on an empty image, cut at the image's edges. The canvas is column-major,
    the order pycocotools encodes, so encoding it needs no second full-image copy."""
    rows, cols = ref.box[1], ref.box[0]
    if cols > width or rows > height:
        raise ShapeError("mask-unavailable", f"mask box {cols}x{rows} is larger than the {width}x{height} image")
    import numpy as np

    canvas = np.zeros((height, width), dtype=bool, order="F")
    left, top = ref.left, ref.top
    y0, x0, y1, x1 = max(top, 0), max(left, 0), min(top + rows, height), min(left + cols, width)
    if y1 > y0 and x1 > x0:
        canvas[y0:y1, x0:x1] = box_bitmap(ref)[y0 - top : y1 - top, x0 - left : x1 - left]
    return canvas
