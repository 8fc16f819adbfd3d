"""Masks over HTTP through the platform's guarded fetcher: the Labelbox key goes to Labelbox's hosts only, a mask
that cannot be fetched is a problem in the report (never a failed conversion), declared sizes are checked before
anything is decoded, and fetched pictures are cached within a byte budget. Servers are on loopback only."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from PIL import Image

from transferline.errors import ConfigurationError
from transferline.fetch import Fetcher
from transferline_converter.build import BuildOptions, Built, build
from transferline_converter.dataset import (
    MAX_MASK_PIXELS,
    ImageIds,
    LabeledImage,
    MaskRef,
    Problems,
    Shape,
    Where,
)
from transferline_converter.geometry import ShapeError
from transferline_converter.images import ImageIndex, StoredImage
from transferline_converter.masks import MaskSource, PictureCache, labelbox_key
from transferline_converter.settings import ConverterSettings

LOOPBACK = ["127.0.0.0/8"]
Route = Callable[[BaseHTTPRequestHandler], None]


@dataclass
class Host:
    url: str
    seen: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Authorization) per request

    def paths(self) -> list[str]:
        return [path for path, _ in self.seen]


@contextmanager
def host(files: dict[str, bytes], routes: dict[str, Route] | None = None) -> Iterator[Host]:
    """A loopback server playing an image host: `files` by path, or a `routes` handler; anything else is 404."""
    found: list[Host] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            found[0].seen.append((self.path, self.headers.get("Authorization")))
            if self.path in (routes or {}):
                (routes or {})[self.path](self)
                return
            body = files.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    found.append(Host(f"http://127.0.0.1:{server.server_port}"))
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield found[0]
    finally:
        server.shutdown()
        server.server_close()


def png(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).save(out, "PNG")
    return out.getvalue()


def square(width: int = 30, height: int = 20) -> bytes:
    """White-on-black: a 6x4 square at (3, 2)."""
    picture = np.zeros((height, width), dtype=np.uint8)
    picture[2:6, 3:9] = 255
    return png(picture)


def mask_shape(name: str, url: str, color: tuple[int, int, int] | None = None) -> Shape:
    return Shape(name, "mask", Where("row a.jpg", name), mask=MaskRef(url=url, color=color))


def convert_row(masks: MaskSource, *shapes: Shape, size: tuple[int, int] = (30, 20)) -> tuple[Built, Problems]:
    rows = [LabeledImage(Where("row a.jpg"), ImageIds(external_id="a.jpg"), shapes=list(shapes))]
    images = ImageIndex([StoredImage("a.jpg", size[0], size[1], read=bytes)])
    problems = Problems()
    return build(rows, [], images, masks, BuildOptions(), problems), problems


def boxes(built: Built) -> dict[str, list[float]]:
    names = {c["id"]: c["name"] for c in built.coco["categories"]}
    return {names[a["category_id"]]: a["bbox"] for a in built.coco["annotations"]}


# ---- the API key: Labelbox's hosts only ----


def test_the_api_key_is_not_sent_to_a_host_an_export_names() -> None:
    """Issue 11 item 5: with the key set, a mask URL naming any other host got `Authorization: Bearer <key>`."""
    settings = ConverterSettings(labelbox_api_key="s3cret", mask_allow_networks="127.0.0.0/8")
    with host({"/m.png": square()}) as server:
        built, problems = convert_row(MaskSource.from_settings(settings), mask_shape("sky", f"{server.url}/m.png"))
    assert boxes(built) == {"sky": [3, 2, 6, 4]} and problems.items == []
    assert server.seen == [("/m.png", None)]


def test_by_default_a_mask_url_on_an_internal_address_is_refused_unfetched() -> None:
    settings = ConverterSettings(labelbox_api_key="s3cret")
    with host({"/m.png": square()}) as server:
        built, problems = convert_row(MaskSource.from_settings(settings), mask_shape("sky", f"{server.url}/m.png"))
    assert built.coco["annotations"] == [] and server.seen == []
    [problem] = problems.items
    assert (problem.code, problem.row, problem.field) == ("mask-unavailable", "row a.jpg", "sky")
    assert "127.0.0.1 (loopback)" in problem.message and "(blocked-address)" in problem.message


def test_the_key_is_scoped_to_labelbox_hosts_over_https() -> None:
    [key] = labelbox_key(ConverterSettings(labelbox_api_key="s3cret"))
    assert key.value == "Bearer s3cret"
    for url in (
        "https://api.labelbox.com/api/v1/masks/1",
        "https://storage.labelbox.com/m",
        "https://eu.labelbox.com/",
    ):
        assert key.applies_to(url), url
    for url in ("http://api.labelbox.com/m", "https://127.0.0.1/m", "https://labelbox.com.evil.test/m", "https://x/m"):
        assert not key.applies_to(url), url
    [custom] = labelbox_key(ConverterSettings(labelbox_api_key="k", labelbox_key_hosts="masks.example.org"))
    assert custom.applies_to("https://masks.example.org/1") and not custom.applies_to("https://api.labelbox.com/1")
    assert labelbox_key(ConverterSettings()) == ()


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("TRANSFERLINE_MASK_ALLOW_NETWORKS", "10.0.0.0/33"),
        ("TRANSFERLINE_MASK_ALLOW_NETWORKS", "intranet"),
        ("TRANSFERLINE_LABELBOX_KEY_HOSTS", "https://api.labelbox.com/"),
        ("TRANSFERLINE_LABELBOX_KEY_HOSTS", "."),
        ("TRANSFERLINE_MASK_FETCH_SECONDS", "0"),
    ],
)
def test_bad_fetch_settings_stop_the_service_naming_their_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=variable):
        ConverterSettings.from_env({variable: value})


# ---- a mask that cannot be fetched is one unusable mask ----


def test_a_mask_body_shorter_than_its_length_is_a_problem_and_the_rest_converts() -> None:
    def short(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", "5000")
        handler.end_headers()
        handler.wfile.write(square()[:100])

    masks = MaskSource(Fetcher(allow_networks=LOOPBACK))
    with host({"/good.png": square()}, {"/short.png": short}) as server:
        shapes = [mask_shape("cut", f"{server.url}/short.png"), mask_shape("sky", f"{server.url}/good.png")]
        built, problems = convert_row(masks, *shapes)
    assert boxes(built) == {"sky": [3, 2, 6, 4]}
    [problem] = problems.items
    assert (problem.code, problem.field) == ("mask-unavailable", "cut")
    assert problem.message.endswith("(connection)") and "IncompleteRead" in problem.message


def test_a_dripping_mask_host_costs_one_deadline_for_all_objects_of_its_url() -> None:
    def drip(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", "1000")
        handler.end_headers()
        try:
            for _ in range(1000):
                handler.wfile.write(b"x")
                handler.wfile.flush()
                time.sleep(0.2)
        except OSError:
            pass

    masks = MaskSource(Fetcher(allow_networks=LOOPBACK, deadline=1.0))
    with host({}, {"/composite.png": drip}) as server:
        url = f"{server.url}/composite.png"
        started = time.monotonic()
        built, problems = convert_row(masks, *(mask_shape(n, url, (255, 0, 0)) for n in ("a", "b", "c")))
        took = time.monotonic() - started
    assert built.coco["annotations"] == [] and [p.field for p in problems.items] == ["a", "b", "c"]
    assert all(p.message.endswith("(timeout)") for p in problems.items)
    assert server.paths() == ["/composite.png"] and took < 2.5  # fetched once, not once per object


# ---- sizes checked before decoding ----


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # PIL says so on opening; we refuse
def test_a_mask_picture_larger_than_its_image_is_refused_before_it_is_decoded(monkeypatch) -> None:
    """Issue 11 item 7: a 12000x12000 PNG (a few hundred KiB) was decoded (1.6 GB) before its size was compared."""
    huge = png(np.zeros((12000, 12000), dtype=np.uint8))
    loads: list[tuple[int, int]] = []
    original = Image.Image.load

    def spy(picture: Image.Image) -> object:
        loads.append(picture.size)
        return original(picture)

    monkeypatch.setattr(Image.Image, "load", spy)
    masks = MaskSource(Fetcher(allow_networks=LOOPBACK))
    with host({"/huge.png": huge, "/fits.png": square()}) as server:
        shapes = [mask_shape("huge", f"{server.url}/huge.png"), mask_shape("sky", f"{server.url}/fits.png")]
        built, problems = convert_row(masks, *shapes)
    assert len(huge) < 1 << 20 and boxes(built) == {"sky": [3, 2, 6, 4]}
    assert [(p.field, p.message) for p in problems.items] == [("huge", "mask is 12000x12000, image 30x20")]
    assert (12000, 12000) not in loads and (30, 20) in loads


def test_an_rle_mask_whose_size_is_not_the_image_is_refused_before_decoding() -> None:
    rle = {"size": [100_000, 100_000], "counts": [0, 10**10]}  # would decode to 10 GB
    with pytest.raises(ShapeError, match=r"RLE size \[100000, 100000\] is not the image's"):
        MaskSource().bitmap(MaskRef(rle=rle), 30, 20)


def test_no_mask_is_drawn_on_an_image_larger_than_the_mask_pixel_limit() -> None:
    side = int(MAX_MASK_PIXELS**0.5) + 1
    with pytest.raises(ShapeError, match="is over"):
        MaskSource().bitmap(MaskRef(rle={"size": [side, side], "counts": [side * side]}), side, side)


def test_run_length_masks_stay_compact_until_drawn_and_must_fit_their_image() -> None:
    runs = MaskRef(runs=np.array([1, 2, 3]), box=(3, 2), left=5, top=7)
    drawn = MaskSource().bitmap(runs, 10, 10)
    assert drawn.shape == (10, 10) and drawn.flags.f_contiguous  # the order pycocotools encodes
    assert np.argwhere(drawn).tolist() == [[7, 6], [7, 7]]
    wide = MaskRef(runs=np.array([0, 400]), box=(40, 10))
    with pytest.raises(ShapeError, match="mask box 40x10 is larger than the 30x20 image"):
        MaskSource().bitmap(wide, 30, 20)


# ---- the picture cache ----


def test_the_picture_cache_keeps_the_most_recent_within_its_budget() -> None:
    cache = PictureCache(budget=2_500_000)
    one_mb = [np.zeros(1_000_000, dtype=np.uint8) for _ in range(3)]
    for name, picture in zip("abc", one_mb, strict=True):
        cache.put(name, picture)
    assert cache.get("a") is None and len(cache) == 2 and cache.bytes == 2_000_000
    assert cache.get("b") is not None  # b is now the most recent, so c goes next
    cache.put("d", np.zeros(1_000_000, dtype=np.uint8))
    assert cache.get("c") is None and cache.get("b") is not None
    cache.put("huge", np.zeros(5_000_000, dtype=np.uint8))  # over the budget alone: kept, as the only one
    assert len(cache) == 1 and cache.get("huge") is not None


def test_a_composite_is_fetched_once_while_cached_and_again_once_dropped() -> None:
    composite = np.zeros((20, 30, 3), dtype=np.uint8)
    composite[10:20, 0:5] = (255, 0, 0)
    with host({"/a.png": png(composite), "/b.png": png(composite)}) as server:
        a, b = f"{server.url}/a.png", f"{server.url}/b.png"
        shapes = [mask_shape(f"o{i}", url, (255, 0, 0)) for i, url in enumerate([a, a, b, b, a])]
        convert_row(MaskSource(Fetcher(allow_networks=LOOPBACK)), *shapes)
        roomy = server.paths()
        server.seen.clear()
        convert_row(MaskSource(Fetcher(allow_networks=LOOPBACK), cache_bytes=composite.nbytes), *shapes)
    assert roomy == ["/a.png", "/b.png"]
    assert server.paths() == ["/a.png", "/b.png", "/a.png"]  # room for one picture: a was dropped for b
