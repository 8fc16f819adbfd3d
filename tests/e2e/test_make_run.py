"""`make run` itself, as a newcomer types it after the install: the whole pipeline on the bundled sample, embedded,
offline (collect from the Openverse stand-in and a URL list, download from the loopback image host, the bundled
Labelbox export uploaded, convert, records, a fine-tune from the base detector, evaluation, export; the gateway
serving the job page throughout). It runs the full demo, not a shortened one: the claim under test is the mAP a
newcomer sees, and a shorter run would not reach it. A fresh data folder stands for a fresh machine; nothing
leaves loopback (the demo sets every service's URLs)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from transferline import keys, status
from transferline.settings import Settings
from transferline.store import open_store

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
STAGES = {"collect", "download", "convert", "records", "train"}


@pytest.mark.timeout(1800)  # 9.5 minutes measured on 2 cores shared with other jobs (load 12-19)
def test_make_run_fine_tunes_a_detector_that_finds_the_sample_objects(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {**os.environ, "TRANSFERLINE_DATA_DIR": str(data)}
    done = subprocess.run(["make", "run"], cwd=REPO, env=env, capture_output=True, text=True, timeout=1700)
    assert done.returncode == 0, f"{done.stdout[-2000:]}\n{done.stderr[-4000:]}"

    found = re.search(r"^mAP@0\.5 = (\d\.\d\d)$", done.stdout, re.MULTILINE)
    assert found, done.stdout[-2000:]
    assert float(found.group(1)) >= 0.5

    job = re.search(r"^job (job-[0-9a-f-]+): collect", done.stdout, re.MULTILINE)
    assert job, done.stdout[:2000]
    store = open_store(Settings(bus="embedded", store="filesystem", data_dir=data))
    states = {each.stage: each.state for each in status.job_statuses(store, job.group(1))}
    assert states == dict.fromkeys(STAGES, "succeeded")
    metrics = json.loads(store.get_bytes(keys.model(job.group(1), "run1", "eval", "metrics.json")))
    assert f"{metrics['ap50']:.2f}" == found.group(1)  # the printed number is the trainer's pycocotools result
    transfer = metrics["training"]["transfer"]
    assert transfer["restored"] > 100 and transfer["reinitialised"] == 2  # fine-tuned from the base, not scratch
    downloaded = status.read_status(store, job.group(1), "download")
    assert downloaded is not None and downloaded.counters["ok"] == 80  # 20 found by the search + 60 listed
    assert str(data) in done.stdout  # it says where the reports are
    assert re.search(
        rf"^the gateway served the job page: http://127\.0\.0\.1:\d+/jobs/{job.group(1)} \(HTTP 200", done.stdout, re.M
    )
