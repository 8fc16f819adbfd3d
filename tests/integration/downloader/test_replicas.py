"""Two `transferline serve download` processes share one 3,000-URL job on each backend (real Kafka + MinIO, and
the embedded log + folder); one is SIGKILLed mid-job and restarted. Outcomes end complete (one line per URL, in
order), no image is stored twice, both replicas did chunks, and exactly one completed event is emitted.

"Both did chunks" must not hang on how chunk keys happen to hash: 60 chunks over 6 partitions, so the partitions
a live replica holds (at least 2 of the 6, even while the killed one still counts as a member) are left without
any chunk with odds of (4/6)^60, about 3e-11."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest

from tests.integration.downloader.fanout_support import check_merged, many_pictures, read_completions
from tests.integration.platform.test_service import child_env, cli, wait_for
from tests.support.harness import Pipeline, unique
from transferline import events, keys, status
from transferline.fanout import ChunkResult
from transferline.settings import Settings
from transferline_downloader.request import DownloadRequested

pytestmark = pytest.mark.slow
NAMED = "tests.integration.downloader.named:NamedDownloadStage"
URLS, CHUNK, PARTITIONS = 3000, 50, 6


def test_two_replicas_one_killed_and_restarted_complete_the_job_once(backend_settings: Settings) -> None:
    stage, job = unique("download"), unique("job-")
    events.REGISTRY.register_stage(stage, DownloadRequested)
    settings = backend_settings.model_copy(update={"topic_partitions": PARTITIONS})
    with Pipeline.open(settings) as pipeline, many_pictures(pipeline, job, URLS):
        env = {**child_env(settings, stage), "TRANSFERLINE_DOWNLOAD_ALLOW_NETWORKS": "127.0.0.1/32"}
        replicas = [_start(env), _start(env)]
        try:
            pipeline.bus.ensure_topics([events.request_topic(stage)])
            request = pipeline.request(stage, job, chunk_size=CHUNK, workers=8, per_host=8)
            group = _group(pipeline, job, stage)
            wait_for(lambda: _done_by(pipeline, job, stage, group, replicas[0].pid), 120, "a chunk by replica 1")
            replicas[0].send_signal(signal.SIGKILL)
            replicas[0].wait(30)
            replicas.append(_start(env))
            wait_for(lambda: _state(pipeline, job, stage) in ("succeeded", "failed"), 240, "the job to finish")
            found = status.read_status(pipeline.store, job, stage)
            assert found is not None and found.state == "succeeded", found and found.error
            done = read_completions(pipeline, job, settle=5.0)
        finally:
            for replica in replicas[1:]:
                replica.send_signal(signal.SIGTERM)
            stderr = [replica.communicate(timeout=60)[1] for replica in replicas[1:]]
        assert all(replica.returncode == 0 for replica in replicas[1:]), stderr[-1][-3000:]
        assert len(done) == 1 and done[0]["data"]["request_id"] == request.envelope.id
        check_merged(pipeline, job, URLS)
        workers = {_pid(part.worker) for part in _markers(pipeline, job, stage, group)}
        assert len(_markers(pipeline, job, stage, group)) == URLS // CHUNK
        assert replicas[1].pid in workers and workers & {replicas[0].pid, replicas[2].pid}


def _start(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(cli("serve", NAMED), env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)


def _group(pipeline: Pipeline, job: str, stage: str) -> str:
    """The input digest the job was fanned out under (its status document says it once it is running)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = status.read_status(pipeline.store, job, stage)
        if found is not None:
            return found.input_digest
        time.sleep(0.1)
    raise AssertionError("the job never started")


def _markers(pipeline: Pipeline, job: str, stage: str, group: str) -> list[ChunkResult]:
    prefix = keys.chunks_done(job, stage, group)
    return [ChunkResult.from_json(pipeline.store.get_bytes(info.key)) for info in pipeline.store.list(prefix)]


def _done_by(pipeline: Pipeline, job: str, stage: str, group: str, pid: int) -> bool:
    parts = _markers(pipeline, job, stage, group)
    if len(parts) >= URLS // CHUNK:
        raise AssertionError("the job finished before replica 1 could be killed mid-job: give it more URLs")
    return any(_pid(part.worker) == pid for part in parts)


def _pid(worker: str) -> int:
    return int(worker.rsplit(":", 1)[1])


def _state(pipeline: Pipeline, job: str, stage: str) -> str | None:
    found = status.read_status(pipeline.store, job, stage)
    return found.state if found else None
