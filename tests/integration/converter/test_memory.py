"""Small inputs that used to take `transferline convert` to gigabytes (issue 11 item 7), run as the installed
command in a fresh process whose peak RSS is measured: a zip bomb, a 1 KB CVAT file declaring eight
16384x16384 masks, and a small PNG mask of 12000x12000 for a 640x480 image (from a loopback host)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[3]
# A convert of a one-row export peaks near 65 MB; before the fixes these inputs took 1.6 to 2.1 GB.
PEAK_LIMIT_MB = 300
MEASURED = (
    "import resource, subprocess, sys\n"
    "found = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
    "sys.stderr.write(found.stderr)\n"
    "print(found.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
)

pytestmark = pytest.mark.slow


def convert_peak(export: Path, out: Path, *extra: str) -> tuple[int, float, str]:
    """(exit code, peak RSS in MB, stderr) of `transferline convert` in a process of its own."""
    env = {**os.environ, "TRANSFERLINE_DATA_DIR": str(out / "data"), "TRANSFERLINE_MASK_ALLOW_NETWORKS": "127.0.0.0/8"}
    command = [sys.executable, "-m", "transferline.cli", "convert", str(export), "--out", str(out), *extra]
    found = subprocess.run(
        [sys.executable, "-c", MEASURED, *command], capture_output=True, text=True, env=env, cwd=REPO, check=True
    )
    code, kilobytes = found.stdout.split()
    return int(code), int(kilobytes) / 1024, found.stderr


@pytest.fixture
def mask_host() -> Iterator[tuple[str, dict[str, bytes]]]:
    """(its URL, the pictures it serves by path)."""
    pictures: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pictures.get(self.path, b"")
            self.send_response(200 if body else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", pictures
    server.shutdown()
    server.server_close()


def test_a_zip_bomb_is_refused_without_inflating(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.zip"
    with (
        zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive,
        archive.open("export.ndjson", "w", force_zip64=True) as member,
    ):
        for _ in range(600):  # 600 MiB of spaces, a few MiB zipped
            member.write(b" " * 2**20)
    code, peak, err = convert_peak(bomb, tmp_path / "out", "--format", "labelbox-ndjson")
    assert bomb.stat().st_size < 4 * 2**20
    assert code == 2 and "the zip unpacks to 600 MiB, over the 512 MiB cap" in err
    assert peak < PEAK_LIMIT_MB, peak


def test_a_small_cvat_file_declaring_huge_masks_stays_small(tmp_path: Path) -> None:
    masks = "".join(
        f'<mask label="blob" rle="0,{16384**2}" left="0" top="0" width="16384" height="16384"/>' for _ in range(8)
    )
    export = tmp_path / "annotations.xml"
    export.write_text(
        f'<annotations><version>1.1</version><image id="0" name="a.jpg" width="640" height="480">{masks}'
        "</image></annotations>"
    )
    code, peak, err = convert_peak(export, tmp_path / "out")
    assert export.stat().st_size < 1100
    assert code == 1 and "mask box 16384x16384 is larger than the 640x480 image" in err
    assert peak < PEAK_LIMIT_MB, peak


def test_a_small_png_mask_of_a_huge_picture_is_refused_before_decoding(tmp_path: Path, mask_host) -> None:
    base, pictures = mask_host
    picture = np.zeros((12000, 12000), dtype=np.uint8)
    picture[100:200, 100:200] = 255
    out = io.BytesIO()
    Image.fromarray(picture).save(out, "PNG")
    pictures["/big.png"] = out.getvalue()
    mask = {"name": "blob", "mask": {"url": f"{base}/big.png"}}
    row = {
        "data_row": {"id": "dr1", "external_id": "a.jpg"},
        "media_attributes": {"width": 640, "height": 480},
        "projects": {"p": {"labels": [{"annotations": {"objects": [mask]}}]}},
    }
    export = tmp_path / "export.ndjson"
    export.write_text(json.dumps(row) + "\n")
    code, peak, err = convert_peak(export, tmp_path / "out")
    assert len(pictures["/big.png"]) < 2**20
    assert code == 1 and "mask is 12000x12000, image 640x480" in err
    assert peak < PEAK_LIMIT_MB, peak
