"""Artifact keys: the one place that spells them. User-supplied parts are checked or cleaned here."""

from __future__ import annotations

import re
import unicodedata

from transferline.errors import InvalidInput

# Checked with fullmatch, never match + `$`: `$` also matches before a trailing newline, and "x\n" would pass.
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_SEGMENT = re.compile(r"[^\x00-\x1f\x7f\\]{1,255}")
_INDEX_SPAN = 10**13  # milliseconds since 1970: past the year 2286
SPLITS = ("train", "val", "test")


def check_id(value: str, what: str = "id") -> str:
    """Job and run ids are chosen by users: accept only a plain, bounded token."""
    if not isinstance(value, str) or not _ID.fullmatch(value) or ".." in value:
        raise InvalidInput(
            f"{what} {value!r} is not allowed: use 1-128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return value


def clean_name(value: str, what: str = "file name") -> str:
    """Reduce a user-supplied file name to a safe single path segment (never a path)."""
    base = unicodedata.normalize("NFKC", str(value)).replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = _UNSAFE.sub("_", base).strip("._")[:200]
    if not cleaned:
        raise InvalidInput(f"{what} {value!r} has no usable characters")
    return cleaned


def job_prefix(job_id: str) -> str:
    return f"jobs/{check_id(job_id, 'job id')}/"


def job_plan(job_id: str) -> str:
    """The job's plan (transferline.plans.JobPlan), written when the job is created."""
    return job_prefix(job_id) + "job.json"


def job_cancelled(job_id: str) -> str:
    """Present once the job is cancelled: the runner checks it before work, at progress points and before chaining."""
    return job_prefix(job_id) + "cancelled"


def job_resumed(job_id: str) -> str:
    """Created by whoever continues a job that waited for labels, so exactly one upload resumes it."""
    return job_prefix(job_id) + "resumed"


def stage_progress(job_id: str, stage: str) -> str:
    """The last progress a stage reported (done, total, message), written by the runner."""
    return job_prefix(job_id) + f"progress/{check_id(stage, 'stage name')}.json"


def job_file(job_id: str, path: str) -> str:
    """Any artifact of a job by its path under the job (from a listing or a download link); refuses '..' and the
    like, so a path from a URL cannot leave the job."""
    segments = str(path).split("/")
    if not path or any(s in ("", ".", "..") or not _SEGMENT.fullmatch(s) for s in segments):
        raise InvalidInput(f"artifact path {path!r} is not a path under the job")
    return job_prefix(job_id) + "/".join(segments)


def jobs_index() -> str:
    """One empty marker per job, named so that a listing (in key order) gives the newest job first. It lives
    outside jobs/ because listing jobs/ would list every image of every job."""
    return "index/jobs/"


def jobs_index_entry(created_ms: int, job_id: str) -> str:
    if not 0 <= int(created_ms) < _INDEX_SPAN:
        raise InvalidInput(f"job creation time {created_ms} ms is out of range")
    return jobs_index() + f"{_INDEX_SPAN - 1 - int(created_ms):013d}_{check_id(job_id, 'job id')}"


def job_of_index_entry(key: str) -> str:
    """The job id an index entry names."""
    return check_id(key.removeprefix(jobs_index()).partition("_")[2], "job id")


def urls_prefix(job_id: str) -> str:
    """The collector's outputs (and, under lists/, its uploaded URL lists)."""
    return job_prefix(job_id) + "urls/"


def urls(job_id: str) -> str:
    return job_prefix(job_id) + "urls/urls.jsonl"


def urls_report(job_id: str) -> str:
    return job_prefix(job_id) + "urls/report.json"


def urls_attribution(job_id: str) -> str:
    return job_prefix(job_id) + "urls/ATTRIBUTION.md"


def url_lists_prefix(job_id: str) -> str:
    return job_prefix(job_id) + "urls/lists/"


def url_list(job_id: str, name: str) -> str:
    """A URL list uploaded for the collector (plain text, CSV, JSON lines or a JSON array)."""
    return url_lists_prefix(job_id) + clean_name(name)


def image(job_id: str, sha256: str, ext: str) -> str:
    if not _SHA256.fullmatch(sha256):
        raise InvalidInput(f"image digest {sha256!r} is not a lowercase sha256 hex digest")
    return job_prefix(job_id) + f"images/{sha256[:2]}/{sha256}.{clean_name(ext, 'extension').lower()}"


def images(job_id: str) -> str:
    """The prefix every stored image of a job lives under (COCO file names are relative to it)."""
    return job_prefix(job_id) + "images/"


def image_manifest(job_id: str) -> str:
    return job_prefix(job_id) + "images/manifest.jsonl"


def download_outcomes(job_id: str) -> str:
    """The downloader's one line per input URL (status, reason, digest)."""
    return job_prefix(job_id) + "images/outcomes.jsonl"


def download_summary(job_id: str) -> str:
    return job_prefix(job_id) + "images/summary.json"


def labelbox_import(job_id: str) -> str:
    """Data rows for Labelbox (row_data URL, global_key = sha256), so a downloaded set goes there as it is."""
    return job_prefix(job_id) + "images/labelbox_import.json"


def labels(job_id: str) -> str:
    """The converter's outputs (and, under raw/, its inputs)."""
    return job_prefix(job_id) + "labels/"


def raw_labels(job_id: str, name: str) -> str:
    """An uploaded export: one object, or a folder of them (a VOC or YOLO export) under this key + '/'."""
    return job_prefix(job_id) + f"labels/raw/{clean_name(name)}"


def coco(job_id: str, split: str | None = None) -> str:
    if split is None:
        return job_prefix(job_id) + "labels/coco.json"
    return job_prefix(job_id) + f"labels/coco_{_split(split)}.json"


def label_report(job_id: str) -> str:
    return job_prefix(job_id) + "labels/report.json"


def label_report_text(job_id: str) -> str:
    return job_prefix(job_id) + "labels/report.md"


def raw_labels_prefix(job_id: str) -> str:
    return job_prefix(job_id) + "labels/raw/"


def records(job_id: str) -> str:
    """The recorder's outputs; stats.json names its shards relative to this prefix."""
    return job_prefix(job_id) + "records/"


def shard_name(split: str, index: int, count: int) -> str:
    if not 0 <= index < count:
        raise InvalidInput(f"shard index {index} is outside 0..{count - 1}")
    return f"{_split(split)}-{index:05d}-of-{count:05d}.tfrecord"


def records_shard(job_id: str, split: str, index: int, count: int) -> str:
    return records(job_id) + shard_name(split, index, count)


def records_file(job_id: str, name: str) -> str:
    """A file under records/ named by stats.json (which another version may have written)."""
    return records(job_id) + clean_name(name)


def label_map(job_id: str) -> str:
    return job_prefix(job_id) + "records/label_map.pbtxt"


def records_stats(job_id: str) -> str:
    return job_prefix(job_id) + "records/stats.json"


def records_sample(job_id: str, split: str, index: int) -> str:
    """A picture of one example with its boxes drawn, for people to check the records at a glance."""
    return job_prefix(job_id) + f"records/samples/{_split(split)}-{int(index):02d}.jpg"


def model(job_id: str, run: str, *parts: str) -> str:
    tail = "/".join(clean_name(part) for part in parts)
    return job_prefix(job_id) + f"models/{check_id(run, 'run id')}/" + tail


# The trainer's layout under models/<run>/, read by the gateway's pages and the demo too.
def model_metrics(job_id: str, run: str) -> str:
    return model(job_id, run, "eval", "metrics.json")


def model_pr_curves(job_id: str, run: str) -> str:
    return model(job_id, run, "eval", "pr_curves.png")


def model_saved_model(job_id: str, run: str) -> str:
    """Prefix of the exported SavedModel (`saved_model.pb`, `variables/`, ...)."""
    return model(job_id, run, "saved_model") + "/"


def model_tflite(job_id: str, run: str) -> str:
    return model(job_id, run, "model.tflite")


def model_predictions(job_id: str, run: str) -> str:
    """Prefix of the prediction pictures (`<index:02d>.jpg`)."""
    return model(job_id, run, "predictions") + "/"


def model_summaries(job_id: str, run: str) -> str:
    """Prefix of the TensorBoard summaries (`train/events.out.tfevents.*`)."""
    return model(job_id, run, "summaries") + "/"


def checkpoint_cache_prefix() -> str:
    return "cache/checkpoints/"


def checkpoint_cache(source_sha256: str, name: str) -> str:
    """A downloaded base checkpoint, kept once for every job (outside jobs/: it belongs to none of them)."""
    if not _SHA256.fullmatch(source_sha256):
        raise InvalidInput(f"checkpoint source digest {source_sha256!r} is not a lowercase sha256 hex digest")
    return checkpoint_cache_prefix() + f"{source_sha256}/{clean_name(name)}"


def custom(job_id: str, stage: str, name: str) -> str:
    """Artifacts of stages outside the built-in pipeline (plugins), kept apart from the fixed layout."""
    return job_prefix(job_id) + f"custom/{check_id(stage, 'stage name')}/{clean_name(name)}"


def chunks(job_id: str, stage: str, group: str) -> str:
    """A fanned-out request's chunks: `group` is the parent request's input digest (a new request, new group)."""
    if not _SHA256.fullmatch(group):
        raise InvalidInput(f"chunk group {group!r} is not a lowercase sha256 hex digest")
    return job_prefix(job_id) + f"chunks/{check_id(stage, 'stage name')}/{group}/"


def chunk_file(job_id: str, stage: str, group: str, index: int, name: str) -> str:
    """An output a chunk writes for the fan-in to merge."""
    return chunks(job_id, stage, group) + f"{_index(index)}/{clean_name(name)}"


def chunk_done(job_id: str, stage: str, group: str, index: int) -> str:
    """A chunk's marker (its result), created once, whoever finishes it and however often it is delivered."""
    return chunks(job_id, stage, group) + f"done/{_index(index)}.json"


def chunks_done(job_id: str, stage: str, group: str) -> str:
    return chunks(job_id, stage, group) + "done/"


def chunks_merged(job_id: str, stage: str, group: str) -> str:
    """Created by the one replica that merges the chunks and completes the request."""
    return chunks(job_id, stage, group) + "merged.json"


def _index(index: int) -> str:
    if not 0 <= int(index) < 100_000:
        raise InvalidInput(f"chunk index {index} is outside 0..99999")
    return f"{int(index):05d}"


def stage_status(job_id: str, stage: str) -> str:
    return job_prefix(job_id) + f"stages/{check_id(stage, 'stage name')}.json"


def stage_statuses(job_id: str) -> str:
    return job_prefix(job_id) + "stages/"


def _split(split: str) -> str:
    if split not in SPLITS:
        raise InvalidInput(f"split {split!r} must be one of {', '.join(SPLITS)}")
    return split
