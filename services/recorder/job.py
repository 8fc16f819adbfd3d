"""The records stage's work over a store: read a job's COCO splits and images, write shards, the label map,
stats and sample pictures under records/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from transferline import keys
from transferline.contracts import RecordsStats, records_stats_json
from transferline.errors import InvalidInput
from transferline.stage import StageContext, StageResult
from transferline.store import Store
from transferline_recorder.coco import check_same_categories, check_split
from transferline_recorder.encode import EncodeOptions
from transferline_recorder.records import RecordOptions, Records, build_records
from transferline_recorder.request import RecordsRequested
from transferline_recorder.source import ImageSource


def records_job(request: RecordsRequested, ctx: StageContext) -> StageResult:
    store, job = ctx.store, ctx.job_id
    splits = read_splits(store, job)

    def publish(path: Path, split: str, index: int, count: int) -> None:
        store.put_file(keys.records_shard(job, split, index, count), path)
        ctx.progress(index + 1, count, f"{split} shard {index + 1} of {count} written")

    records = build_records(splits, ImageSource(store, keys.images(job)), options(request), publish)
    return StageResult(_write(store, job, records), counters(records))


def options(request: RecordsRequested) -> RecordOptions:
    encode = EncodeOptions(request.include_masks, request.max_side, request.verify_pixels)
    return RecordOptions(
        encode, request.num_shards, request.shard_mb, request.max_bad_fraction, workers=request.workers
    )


def read_splits(store: Store, job: str) -> dict[str, dict[str, Any]]:
    """Every split the converter wrote that holds images, each checked (`coco.check_split`) before any work."""
    splits = {}
    for split in keys.SPLITS:
        key = keys.coco(job, split)
        try:
            data = store.get_bytes(key)
        except KeyError:
            continue
        coco = check_split(key, parse_json(key, data))
        if coco["images"]:
            splits[split] = coco
    if not splits:
        raise InvalidInput(f"no COCO split with images under {keys.labels(job)}: run the convert stage first")
    check_same_categories({keys.coco(job, split): coco for split, coco in splits.items()})
    return splits


def parse_json(key: str, data: bytes) -> Any:
    try:
        return json.loads(data)
    except UnicodeDecodeError as exc:  # before ValueError: it is one
        raise InvalidInput(f"{key} is not UTF-8 text (byte {exc.start}): it must be JSON") from None
    except RecursionError:
        raise InvalidInput(f"{key} nests deeper than a COCO file can: not read") from None
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{key} is not JSON: {exc}") from None
    except ValueError:  # Python reads no integer past 4300 digits
        raise InvalidInput(f"{key} holds a number too long to read (over 4300 digits)") from None


def counters(records: Records) -> dict[str, float]:
    found: dict[str, float] = {}
    for split, stats in records.stats.items():
        found.update(
            {
                f"{split}_images": stats.images,
                f"{split}_objects": stats.objects,
                f"{split}_skipped": len(stats.skipped),
                f"{split}_bytes": stats.bytes,
                f"{split}_reencoded": stats.reencoded,
                f"{split}_shards": len(stats.shards),
            }
        )
    return found


def _write(store: Store, job: str, records: Records) -> dict[str, str]:
    # The shards are many; stats.json lists them per split.
    outputs = {"label_map": keys.label_map(job), "stats": keys.records_stats(job)}
    store.put_bytes(outputs["label_map"], records.label_map.encode(), "text/plain; charset=utf-8")
    for split, pictures in records.samples.items():
        for index, picture in enumerate(pictures):
            store.put_bytes(keys.records_sample(job, split, index), picture, "image/jpeg")
    stats = RecordsStats(splits={split: found.contract() for split, found in records.stats.items()})
    store.put_bytes(outputs["stats"], records_stats_json(stats), "application/json")
    return outputs
