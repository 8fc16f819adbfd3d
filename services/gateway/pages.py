"""What the job page shows, gathered from the store: the job view (the same one GET /v1/jobs/{job} returns) and
the artifacts the stages wrote, each as a link through the gateway's artifact route. Every key comes from keys.py."""

from __future__ import annotations

import contextlib
import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from flask import url_for

from transferline import jobs, jobview, keys
from transferline.contracts import ImageRecord, read_records_stats, read_rows
from transferline.errors import ConfigurationError, InvalidInput
from transferline.store import Store
from transferline_gateway import pages_summaries

GALLERY = 24  # downloaded images shown; the rest are a link to the artifact listing away
MANIFEST_HEAD = 256 * 1024  # bytes of the manifest read for the gallery: far more than GALLERY rows need
SAMPLES = 12  # the recorder writes a few per split; more than this is never looked at


@dataclass(frozen=True)
class Link:
    name: str
    href: str


@dataclass(frozen=True)
class Run:
    """One training run's artifacts (those present so far)."""

    name: str
    metrics: dict[str, Any] | None
    curves: pages_summaries.Curves  # the training summaries' scalars (losses, learning rate), by tag
    pr_curves: Link | None
    predictions: list[Link]
    downloads: list[Link]


@dataclass(frozen=True)
class JobPage:
    view: jobview.JobView
    gallery: list[Link] = field(default_factory=list)
    samples: list[Link] = field(default_factory=list)
    label_report: str | None = None
    labelbox_import: Link | None = None
    records: list[Link] = field(default_factory=list)
    runs: list[Run] = field(default_factory=list)


def job_page(store: Store, view: jobview.JobView) -> JobPage:
    job = view.job_id
    return JobPage(
        view=view,
        gallery=gallery(store, job),
        samples=samples(store, job),
        label_report=text(store, keys.label_report_text(job)),
        labelbox_import=present(store, job, keys.labelbox_import(job)),
        records=records(store, job),
        runs=[run(store, job, name) for name in runs(view)],
    )


def link(job: str, key: str) -> Link:
    """A link to one artifact through the gateway (works for both stores; S3 links would expire in a page)."""
    path = key.removeprefix(keys.job_prefix(job))
    return Link(path, url_for("artifacts.download_artifact", job=job, path=path))


def present(store: Store, job: str, key: str) -> Link | None:
    return link(job, key) if store.exists(key) else None


def text(store: Store, key: str) -> str | None:
    try:
        return store.get_bytes(key).decode("utf-8", "replace")
    except KeyError:
        return None


def gallery(store: Store, job: str) -> list[Link]:
    """The manifest's first images; only the head of the manifest is read (a large job's runs to megabytes)."""
    key = keys.image_manifest(job)
    try:
        with contextlib.closing(store.open(key)) as stream:
            head = stream.read(MANIFEST_HEAD)
    except KeyError:
        return []
    if len(head) == MANIFEST_HEAD:
        head = head[: head.rfind(b"\n") + 1]  # whole lines only
    return [link(job, record.key) for record in itertools.islice(read_rows(head, ImageRecord, key), GALLERY)]


def samples(store: Store, job: str) -> list[Link]:
    """The recorder's pictures with boxes drawn, numbered from 0 in each split."""
    found = []
    for split in keys.SPLITS:
        for index in range(SAMPLES):
            key = keys.records_sample(job, split, index)
            if not store.exists(key):
                break
            found.append(link(job, key))
    return found[:SAMPLES]


def records(store: Store, job: str) -> list[Link]:
    """The TFRecord shards stats.json names, and the label map."""
    try:
        stats = read_records_stats(store.get_bytes(keys.records_stats(job)), keys.records_stats(job))
    except KeyError:
        return []
    shards = [keys.records_file(job, name) for split in stats.splits.values() for name in split.shards]
    return [link(job, key) for key in [*shards, keys.label_map(job), keys.records_stats(job)] if store.exists(key)]


def runs(view: jobview.JobView) -> list[str]:
    """Run names of the plan's steps whose request has a `run` (the trainer's), defaulted as the request would."""
    if view.plan is None:
        return []
    found = []
    for step in [view.plan.first, *view.plan.steps]:
        try:
            _, model = jobs.known_stage(step.stage)
        except (ConfigurationError, InvalidInput):
            continue  # a stage this gateway cannot load: its page shows the stage, not its files
        if "run" in model.model_fields:
            found.append(str(step.options.get("run", model.model_fields["run"].default)))
    return list(dict.fromkeys(found))


def run(store: Store, job: str, name: str) -> Run:
    raw = text(store, keys.model_metrics(job, name))
    predictions = store.list(keys.model_predictions(job, name))
    saved_model = store.list(keys.model_saved_model(job, name))
    tflite = present(store, job, keys.model_tflite(job, name))
    return Run(
        name=name,
        metrics=json.loads(raw) if raw else None,
        curves=curves(store, keys.model_summaries(job, name)),
        pr_curves=present(store, job, keys.model_pr_curves(job, name)),
        predictions=[link(job, info.key) for info in predictions],
        downloads=[link(job, info.key) for info in saved_model] + ([tflite] if tflite else []),
    )


def curves(store: Store, prefix: str) -> pages_summaries.Curves:
    """Scalars of every TensorBoard event file under `prefix`, in key order (a restarted run adds a file)."""
    found: pages_summaries.Curves = {}
    for info in store.list(prefix):
        if "tfevents" in info.key.rsplit("/", 1)[-1]:
            found = pages_summaries.scalars(store.get_bytes(info.key), found)
    return found


def percent(stage: jobview.StageView) -> float:
    """How full a stage's bar is: done of total from its last progress; a stage that ended well is full."""
    if stage.state == "succeeded":
        return 100.0
    progress = stage.progress
    if progress is None or not progress.total:
        return 0.0
    return round(min(progress.done / progress.total, 1.0) * 100, 1)


def stage_meta(stage: jobview.StageView) -> str:
    parts = [f"attempt {stage.attempts}" if stage.attempts else ""]
    if stage.progress is not None and stage.progress.total:
        parts.append(f"{stage.progress.done} of {stage.progress.total}")
    if stage.seconds is not None:
        parts.append(f"{stage.seconds:.1f} s")
    return " · ".join(part for part in parts if part)
