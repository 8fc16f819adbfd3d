"""Label conversion throughput, beside the tools users would otherwise pick, on the same export in the same run.

1. An Export v2 NDJSON of real shape (a 112-row, 839-box project repeated to 11,200 rows and 83,900 boxes, unique
   ids and URLs): `transferline convert` (splits, checks and report on) beside lightly-ai's `labelformat` 0.1.17
   (`convert --task object-detection --input-format labelbox --output-format coco`, installed in the bench's own
   environment under var/) and beside the floor any converter pays, `json.loads` of each line. Each is a command in
   its own process, run several times taking turns; shown: the fastest run's wall time, the median wall and CPU
   (user + system) time, the peak memory, each as a multiple of the floor's and of labelformat's, and whether
   ours meets its goals (no slower than labelformat, within 2x of the parse floor).
2. A 10,000-row legacy JSON export: the approach of Labelbox's old labelbox2coco script, which fetched every image
   over HTTP just to learn its size (re-implemented here against a loopback image server, with shapely for the
   geometry as it did), beside the convert stage reading sizes from the downloader's manifest.
Usage: python -m bench.converter [--copies 100] [--runs 3] [--rows 10000] [--only ndjson|legacy]
"""

from __future__ import annotations

import argparse
import compileall
import hashlib
import json
import logging
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests
from PIL import Image
from shapely.geometry import Polygon

from bench import labelbox_v2, peers
from tests.support.exports import labelbox_json
from tests.support.labels import GtDataset, make_dataset
from transferline import keys
from transferline.contracts import ImageRecord, rows_jsonl
from transferline.settings import Settings
from transferline.stage import StageContext
from transferline.store import Store, open_store
from transferline_converter.images import StoredImage, perceptual_hashes
from transferline_converter.request import ConvertRequested
from transferline_converter.stage import ConvertStage

JOB = "bench-convert"
REPO = Path(__file__).resolve().parents[1]


def serve_images(pictures: dict[str, bytes]) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            body = pictures[self.path.rsplit("/", 1)[-1]]
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Content-Type", "image/jpeg")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def legacy_convert(rows: list[dict[str, Any]], base_url: str) -> dict[str, Any]:
    """labelbox2coco's approach: one GET per row for the size, shapely bounds per object, ids by order."""
    coco: dict[str, Any] = {"images": [], "annotations": [], "categories": []}
    categories: dict[str, int] = {}
    for row in rows:
        url = base_url + "/" + row["Labeled Data"].rsplit("/", 1)[-1]
        with requests.get(url, stream=True, timeout=30) as response:
            width, height = Image.open(response.raw).size
        image_id = len(coco["images"]) + 1
        coco["images"].append({"id": image_id, "file_name": row["External ID"], "width": width, "height": height})
        for obj in row["Label"].get("objects", []):
            name = obj["title"]
            category = categories.setdefault(name, len(categories) + 1)
            if "bbox" in obj:
                b = obj["bbox"]
                points = [(b["left"], b["top"]), (b["left"] + b["width"], b["top"] + b["height"])]
                polygon = Polygon([points[0], (points[1][0], points[0][1]), points[1], (points[0][0], points[1][1])])
            else:
                polygon = Polygon([(p["x"], p["y"]) for p in obj["polygon"]])
            x0, y0, x1, y1 = polygon.bounds
            coco["annotations"].append(
                {
                    "id": len(coco["annotations"]) + 1,
                    "image_id": image_id,
                    "category_id": category,
                    "bbox": [x0, y0, x1 - x0, y1 - y0],
                    "area": polygon.area,
                    "segmentation": [[c for xy in polygon.exterior.coords for c in xy]],
                    "iscrowd": 0,
                }
            )
    coco["categories"] = [{"id": i, "name": n} for n, i in categories.items()]
    return coco


def stage_images(store: Store, dataset: GtDataset, pictures: dict[str, bytes], with_phash: bool) -> None:
    """What the downloader leaves: the images and a manifest with their sizes (and pHash when it computed it)."""
    stored = [
        StoredImage(i.file_name, i.width, i.height, read=lambda d=pictures[i.file_name]: d) for i in dataset.images
    ]
    hashes = perceptual_hashes(stored) if with_phash else {}
    records = []
    for image in dataset.images:
        data = pictures[image.file_name]
        digest = hashlib.sha256(data).hexdigest()
        phash = hashes.get(image.file_name)
        record = ImageRecord(
            sha256=digest,
            key=keys.image(JOB, digest, "jpg"),
            width=image.width,
            height=image.height,
            format="jpeg",
            bytes=len(data),
            url=labelbox_json.url(image),
            phash=f"{phash:016x}" if phash is not None else None,
        )
        store.put_bytes(record.key, data)
        records.append(record)
    store.put_bytes(keys.image_manifest(JOB), rows_jsonl(records))


def run_stage(folder: Path, dataset: GtDataset, pictures: dict[str, bytes], export: bytes, with_phash: bool) -> float:
    settings = Settings(data_dir=folder)
    store = open_store(settings)
    store.ensure_bucket()
    stage_images(store, dataset, pictures, with_phash)
    store.put_bytes(keys.raw_labels(JOB, "export.json"), export)
    ctx = StageContext(JOB, "bench", settings, store, logging.getLogger("bench"), lambda *args: None)
    started = time.perf_counter()
    result = ConvertStage().handle(ConvertRequested(), ctx)
    seconds = time.perf_counter() - started
    assert result.counters["errors"] == 0, result.counters
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=100, help="copies of the 112-row NDJSON project")
    parser.add_argument("--runs", type=int, default=3, help="runs of each NDJSON command (fastest and median shown)")
    parser.add_argument("--rows", type=int, default=10_000, help="rows of the legacy JSON export")
    parser.add_argument("--only", choices=["ndjson", "legacy"])
    args = parser.parse_args()
    if args.only != "legacy":
        with tempfile.TemporaryDirectory() as folder:
            ndjson_peers(Path(folder), args.copies, args.runs)
    if args.only != "ndjson":
        legacy_section(args.rows)


def compile_sources() -> None:
    """Our modules' bytecode written once, as installing a wheel does (pip did it for labelformat's): in an editable
    install where PYTHONDONTWRITEBYTECODE is set (as on our CI machine), every run would compile each module changed
    since its last .pyc again, 10-40 ms no user's installed copy pays."""
    for folder in ("shared", "services"):
        compileall.compile_dir(REPO / folder, quiet=1)


def ndjson_peers(folder: Path, copies: int, runs: int) -> None:
    compile_sources()
    export = labelbox_v2.export(copies)
    path = folder / "export-result.ndjson"
    path.write_bytes(export.data)
    ours = Path(sys.executable).with_name("transferline")
    commands = {
        "json.loads per line (the parse floor)": [sys.executable, "-c", peers.PARSE_FLOOR, str(path)],
        f"labelformat {peers.LABELFORMAT.split('==')[1]} (labelbox -> coco)": [
            *(str(peers.labelformat_command()), "convert", "--task", "object-detection"),
            *("--input-format", "labelbox", "--input-file", str(path), "--category-names", ",".join(export.classes)),
            *("--output-format", "coco", "--output-file", str(folder / "labelformat.json")),
        ],
        "transferline convert (splits, checks, report)": [
            str(ours),
            "convert",
            str(path),
            "--out",
            str(folder / "ours"),
        ],
    }
    found = peers.measure_all(commands, runs)
    same = same_boxes(folder / "labelformat.json", folder / "ours" / "coco.json", export.boxes)
    size = len(export.data) / 2**20
    print(f"Export v2 NDJSON: {export.rows} rows, {export.boxes} boxes, {size:.1f} MiB; {runs} runs each, taking turns")
    print(report_table(found))
    print(f"same {export.rows} images and {export.boxes} boxes out of both converters: {same}")


def report_table(found: dict[str, peers.Runs]) -> str:
    """Wall (fastest run, median) and CPU (median) seconds, peak memory (highest run), and each as a multiple of
    the parse floor's and of labelformat's (the first two commands), then whether ours (the last) meets both goals:
    no slower than labelformat, within 2x of the parse floor."""
    floor, peer, ours = found.values()
    lines = [
        f"{'command':<46} {'wall s':>6} {'median':>6} {'cpu s':>6} {'peak MB':>7} "
        f"{'wall/floor':>10} {'wall/labelformat':>16} {'cpu/floor':>9} {'cpu/labelformat':>15}"
    ]
    for name, result in found.items():
        wall, cpu = result.best.seconds, result.median_cpu_seconds
        lines.append(
            f"{name:<46} {wall:>6.2f} {result.median_seconds:>6.2f} {cpu:>6.2f} {result.peak_mb:>7.0f} "
            f"{wall / floor.best.seconds:>10.2f} {wall / peer.best.seconds:>16.2f} "
            f"{cpu / floor.median_cpu_seconds:>9.2f} {cpu / peer.median_cpu_seconds:>15.2f}"
        )
    for label, value, limit in [
        ("as fast as labelformat (wall, fastest runs)", ours.best.seconds / peer.best.seconds, 1.0),
        ("as fast as labelformat (cpu, median runs)", ours.median_cpu_seconds / peer.median_cpu_seconds, 1.0),
        ("within 2x of the parse floor (wall, fastest runs)", ours.best.seconds / floor.best.seconds, 2.0),
        ("within 2x of the parse floor (cpu, median runs)", ours.median_cpu_seconds / floor.median_cpu_seconds, 2.0),
    ]:
        lines.append(f"goal: {label}: {value:.2f} -> {'met' if value <= limit else 'NOT met'}")
    return "\n".join(lines)


def same_boxes(theirs: Path, ours: Path, boxes: int) -> bool:
    """Both COCO files hold the same boxes for the same file names (ids and class numbering may differ)."""

    def boxes_by_name(path: Path) -> list[tuple[str, tuple[float, ...]]]:
        coco = json.loads(path.read_text())
        names = {image["id"]: image["file_name"] for image in coco["images"]}
        return sorted((names[a["image_id"]], tuple(round(v, 3) for v in a["bbox"])) for a in coco["annotations"])

    found = boxes_by_name(theirs)
    return len(found) == boxes and found == boxes_by_name(ours)


def legacy_section(rows: int) -> None:
    dataset = make_dataset(seed=0, images=rows)
    pictures = {image.file_name: image.jpeg() for image in dataset.images}
    export = labelbox_json.write(dataset, "objects")[labelbox_json.FILE_NAME]
    annotations = sum(len(image.objects) for image in dataset.images)
    server = serve_images(pictures)
    try:
        started = time.perf_counter()
        legacy = legacy_convert(json.loads(export), f"http://127.0.0.1:{server.server_port}")
        legacy_seconds = time.perf_counter() - started
    finally:
        server.shutdown()
    assert len(legacy["annotations"]) == annotations
    with tempfile.TemporaryDirectory() as first, tempfile.TemporaryDirectory() as second:
        ours = run_stage(Path(first), dataset, pictures, export, with_phash=True)
        ours_hashing = run_stage(Path(second), dataset, pictures, export, with_phash=False)
    print(f"Legacy JSON: {rows} rows, {annotations} annotations, same export, same run")
    print(f"{'approach':<58} {'seconds':>8} {'annotations/s':>14}")
    table = [
        ("labelbox2coco approach (GET every image for its size)", legacy_seconds),
        ("transferline convert (sizes + pHash from the manifest)", ours),
        ("transferline convert (manifest sizes, pHash from the store)", ours_hashing),
    ]
    for name, seconds in table:
        print(f"{name:<58} {seconds:>8.2f} {annotations / seconds:>14.0f}")
    print(f"ratio, manifest: {legacy_seconds / ours:.1f}x; hashing every image: {legacy_seconds / ours_hashing:.1f}x")


if __name__ == "__main__":
    main()
