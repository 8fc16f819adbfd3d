"""A `transferline download` process SIGKILLed mid-run continues with --resume: what its saved outcomes record is
not fetched again, and the list ends with exactly one outcome per URL. Its decoder processes leave with it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.platform.test_service import wait_for
from tests.support import hostile
from tests.support.hostile import picture

pytestmark = pytest.mark.slow
COUNT = 80


def slow_picture(n: int):
    data = picture("PNG", size=(20, 20), colour=(n, 40, 90))

    def route(handler) -> None:
        time.sleep(0.1)  # slow enough that the kill lands mid-run
        hostile.reply(handler, data)

    return route


def children(parent: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == parent:
                found.append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
    return found


def recorded(out: Path) -> set[str]:
    path = out / "outcomes.jsonl"
    lines = path.read_text().splitlines() if path.is_file() else []
    return {json.loads(line)["url"] for line in lines if line.endswith("}")}


def test_a_killed_run_resumes_without_fetching_recorded_urls_again(tmp_path: Path) -> None:
    routes = {f"/{n}.png": slow_picture(n) for n in range(COUNT)}
    with hostile.serve(routes) as host:
        listing = tmp_path / "urls.txt"
        listing.write_text("".join(f"{host.url}/{n}.png\n" for n in range(COUNT)))
        out = tmp_path / "out"
        command = [sys.executable, "-m", "transferline.cli", "download", str(listing), "--out", str(out)]
        command += ["--workers", "2", "--allow-network", "127.0.0.1/32"]
        first = subprocess.Popen([*command, "--resume"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_for(lambda: len(recorded(out)) >= 5 or first.poll() is not None, 120, "saved outcomes")
            decoders = children(first.pid)
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(30)
        saved = recorded(out)
        assert 5 <= len(saved) < COUNT, "the run ended before it could be killed mid-run"
        assert decoders, "the images were judged in decoder processes"
        wait_for(lambda: not any(Path(f"/proc/{pid}").exists() for pid in decoders), 60, "the decoders to leave")
        host.seen.clear()
        assert subprocess.run([*command, "--resume"], capture_output=True, timeout=300).returncode == 0
        again = {host.url + path for path, _ in host.seen}
    assert not again & saved
    outcomes = [json.loads(line) for line in (out / "outcomes.jsonl").read_text().splitlines()]
    assert [o["url"] for o in outcomes] == [f"{host.url}/{n}.png" for n in range(COUNT)]
    assert all(o["status"] == "ok" for o in outcomes)
