"""A loopback host with many small distinct pictures, and the checks every fan-out test makes."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import contextmanager

from PIL import Image

from tests.support import hostile
from tests.support.harness import Pipeline
from transferline import events, keys
from transferline.contracts import UrlRow, rows_jsonl


def pictures(count: int) -> dict[str, bytes]:
    found = {}
    for n in range(count):
        out = io.BytesIO()
        Image.new("RGB", (24, 24), (n % 256, (n // 256) % 256, 99)).save(out, "PNG")
        found[f"/p/{n}.png"] = out.getvalue()
    return found


@contextmanager
def many_pictures(pipeline: Pipeline, job: str, count: int) -> Iterator[hostile.Host]:
    """Serve `count` pictures (one in ten a duplicate of another, one in fifty missing) and store the job's list."""
    served = pictures(count)
    routes = {path: (lambda h, data=data: hostile.reply(h, data)) for path, data in served.items() if not _gone(path)}
    with hostile.serve(routes) as host:
        rows = [UrlRow(url=host.url + path, source="test") for path in served]
        pipeline.store.put_bytes(keys.urls(job), rows_jsonl(rows))
        yield host


def _gone(path: str) -> bool:
    return int(path.split("/")[-1].split(".")[0]) % 50 == 49


def check_merged(pipeline: Pipeline, job: str, count: int) -> list[dict]:
    """One outcome per URL in input order, every stored image listed once; returns the outcomes."""
    outcomes = [json.loads(line) for line in pipeline.store.get_bytes(keys.download_outcomes(job)).splitlines()]
    assert len(outcomes) == count == len({o["url"] for o in outcomes})
    assert [o["url"].rsplit("/", 1)[-1] for o in outcomes] == [f"{n}.png" for n in range(count)]
    failed = [o for o in outcomes if o["status"] == "failed"]
    assert {o["reason"] for o in failed} <= {"http-status"} and len(failed) == count // 50
    manifest = [json.loads(line) for line in pipeline.store.get_bytes(keys.image_manifest(job)).splitlines()]
    stored = [info.key for info in pipeline.store.list(keys.images(job)) if info.key.endswith(".png")]
    assert sorted(stored) == sorted(record["key"] for record in manifest)
    assert {o["sha256"] for o in outcomes if o["status"] == "ok"} == {r["sha256"] for r in manifest}
    return outcomes


def completions(messages: list[dict], job: str) -> list[dict]:
    return [m for m in messages if m["subject"] == job and m["type"].endswith(".completed")]


def read_completions(pipeline: Pipeline, job: str, settle: float = 3.0) -> list[dict]:
    """Completed events of the job: waits for the first, then `settle` seconds more for any second one."""
    first = pipeline.read(events.EVENTS_TOPIC, lambda seen: bool(completions(seen, job)), timeout=120)
    assert completions(first, job), "no completed event"
    later = pipeline.read(events.EVENTS_TOPIC, lambda seen: False, timeout=settle)
    return completions(later, job)
