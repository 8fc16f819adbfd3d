"""Download throughput on a loopback image server: `transferline download` (SSRF guard, magic bytes, full
decode, pHash, manifest and outcomes on) beside img2dataset 1.47.0 (installed into the bench's own environment
under var/, never the project's), same URL list, same thread count, `resize_mode no`, one process each.

Images are JPEGs of mixed sizes (5 KB - 2 MB, log-uniform), each made unique by a comment segment, served by
`python -m http.server` in a process of its own. Each tool runs as a command in its own process; its peak memory is
the largest resident size its whole process tree reached (sampled from /proc, so img2dataset's worker counts).
Lists of 2,000 and 20,000 URLs (the larger repeats the pictures under distinct URLs) show whether memory stays
flat as the list grows.

Usage: python -m bench.downloader [--images 2000] [--lists 2000,20000] [--threads 16]
"""

from __future__ import annotations

import argparse
import io
import math
import os
import random
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from bench import peers

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / "var" / "bench" / "downloader"
IMG2DATASET = "img2dataset==1.47.0"
BASES = 40  # distinct pictures; every served file is one of them with a comment of its own


@dataclass(frozen=True)
class Run:
    seconds: float
    peak_mb: float
    images: int

    @property
    def rate(self) -> float:
        return self.images / self.seconds


def make_images(count: int) -> Path:
    folder = WORK / f"images-{count}"
    if folder.is_dir() and len(list(folder.iterdir())) == count:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    rng = random.Random(13)
    bases = [_picture(rng, 5_000 * (400 ** (i / (BASES - 1)))) for i in range(BASES)]
    for n in range(count):
        base = bases[rng.randrange(BASES)]
        comment = f"bench image {n}".encode()
        unique = base[:2] + b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment + base[2:]
        (folder / f"{n}.jpg").write_bytes(unique)
    return folder


def _picture(rng: random.Random, target: float) -> bytes:
    """A JPEG of about `target` bytes: noise blended into a gradient, sized to the target."""
    side = max(32, int(math.sqrt(target / 0.57)))  # about 0.57 bytes a pixel at this blend and quality
    noise = Image.frombytes("RGB", (side, side), rng.randbytes(side * side * 3))
    gradient = Image.linear_gradient("L").resize((side, side)).convert("RGB")
    out = io.BytesIO()
    Image.blend(gradient, noise, 0.35).save(out, "JPEG", quality=90)
    return out.getvalue()


def url_list(folder: Path, count: int, images: int, port: int) -> Path:
    path = WORK / f"urls-{count}.txt"
    path.write_text("".join(f"http://127.0.0.1:{port}/{n % images}.jpg?copy={n // images}\n" for n in range(count)))
    return path


def serve(folder: Path) -> tuple[subprocess.Popen, int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(folder)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return server, port
        time.sleep(0.05)
    raise RuntimeError("the image server did not start")


def img2dataset_command() -> Path:
    return peers.peer_command(IMG2DATASET, "img2dataset")


def measure(command: list[str], count_images: Callable[[], int]) -> Run:
    """Wall seconds from start to exit and the peak RSS of the whole process tree."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = [0]
    watcher = threading.Thread(target=_watch, args=(process, peak), daemon=True)
    watcher.start()
    _, errors = process.communicate()
    seconds = time.perf_counter() - started
    watcher.join()
    if process.returncode != 0:
        raise RuntimeError(f"{command[0]} exited {process.returncode}:\n{errors.decode(errors='replace')[-2000:]}")
    return Run(seconds, peak[0] / 2**20, count_images())


def _watch(process: subprocess.Popen, peak: list[int]) -> None:
    while process.poll() is None:
        peak[0] = max(peak[0], _tree_rss(process.pid))
        time.sleep(0.05)


def _tree_rss(root: int) -> int:
    """Bytes resident in `root` and all its descendants now."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry)
        children.setdefault(int(stat[1]), []).append(pid)
        rss[pid] = int(stat[21]) * os.sysconf("SC_PAGE_SIZE")
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total


def run_ours(urls: Path, threads: int) -> Run:
    out = WORK / "out-transferline"
    shutil.rmtree(out, ignore_errors=True)
    command = [str(REPO / ".venv" / "bin" / "transferline"), "download", str(urls), "--out", str(out)]
    command += ["--workers", str(threads), "--per-host", str(threads), "--allow-network", "127.0.0.1/32"]
    return measure(command, lambda: _ok_lines(out / "outcomes.jsonl"))


def run_img2dataset(urls: Path, threads: int) -> Run:
    out = WORK / "out-img2dataset"
    shutil.rmtree(out, ignore_errors=True)
    command = [
        str(img2dataset_command()),
        "--url_list",
        str(urls),
        "--input_format",
        "txt",
        "--output_folder",
        str(out),
    ]
    command += ["--output_format", "files", "--thread_count", str(threads), "--processes_count", "1"]
    command += ["--resize_mode", "no", "--timeout", "30", "--retries", "0", "--enable_wandb", "False"]
    command += ["--number_sample_per_shard", "100000", "--distributor", "multiprocessing"]
    return measure(command, lambda: len(list(out.rglob("*.jpg"))))


def _ok_lines(path: Path) -> int:
    return sum(1 for line in path.read_text().splitlines() if '"status":"ok"' in line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--lists", default="2000,20000", help="URL list lengths, comma-separated")
    parser.add_argument("--threads", type=int, default=16)
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    folder = make_images(args.images)
    sizes = [p.stat().st_size for p in folder.iterdir()]
    print(f"{len(sizes)} images, {min(sizes) / 1e3:.0f} KB - {max(sizes) / 1e6:.2f} MB, {sum(sizes) / 1e6:.0f} MB")
    img2dataset_command()
    server, port = serve(folder)
    try:
        rows = []
        for count in (int(n) for n in args.lists.split(",")):
            urls = url_list(folder, count, args.images, port)
            ours, theirs = run_ours(urls, args.threads), run_img2dataset(urls, args.threads)
            rows.append((count, ours, theirs))
    finally:
        server.terminate()
        server.wait()
    print(f"\n{'URLs':>6}  {'tool':<24} {'images':>7} {'seconds':>8} {'images/s':>9} {'peak RSS MB':>12}")
    for count, ours, theirs in rows:
        for name, run in (("transferline download", ours), ("img2dataset 1.47.0", theirs)):
            print(f"{count:>6}  {name:<24} {run.images:>7} {run.seconds:>8.1f} {run.rate:>9.1f} {run.peak_mb:>12.0f}")
        print(f"{'':>6}  ratio (ours / img2dataset images/s): {ours.rate / theirs.rate:.2f}x")
    if len(rows) > 1:
        (small, a, b), (large, c, d) = rows[0], rows[-1]
        print(
            f"memory {small} -> {large} URLs: transferline {a.peak_mb:.0f} -> {c.peak_mb:.0f} MB, "
            f"img2dataset {b.peak_mb:.0f} -> {d.peak_mb:.0f} MB"
        )


if __name__ == "__main__":
    main()
