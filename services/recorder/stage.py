"""The records stage: the job's COCO splits (labels/coco_<split>.json) + stored images -> TFRecord shards,
label map, stats and sample pictures under records/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

from services.recorder.encode import EncodeOptions
from services.recorder.records import RecordOptions, Records, build_records
from services.recorder.source import ImageSource
from transferline import keys
from transferline.errors import InvalidInput
from transferline.payloads import RecordsRequested
from transferline.stage import Stage, StageContext, StageResult
from transferline.store import Store


class RecordsStage(Stage[RecordsRequested]):
    name: ClassVar[str] = "records"
    Request: ClassVar[type[RecordsRequested]] = RecordsRequested

    def handle(self, request: RecordsRequested, ctx: StageContext) -> StageResult:
        store, job = ctx.store, ctx.job_id
        splits = read_splits(store, job)
        source = ImageSource(settings=ctx.settings, prefix=keys.images(job))

        def publish(path: Path, split: str, index: int, count: int) -> str:
            key = keys.records_shard(job, split, index, count)
            with path.open("rb") as stream:
                store.put_stream(key, stream, "application/octet-stream")
            ctx.progress(index + 1, count, f"{split} shard {index + 1} of {count} written")
            return key

        records = build_records(splits, source, options(request), publish)
        return StageResult(_write(store, job, records), counters(records))


def options(request: RecordsRequested) -> RecordOptions:
    encode = EncodeOptions(request.include_masks, request.max_side, request.verify_pixels)
    return RecordOptions(encode, request.num_shards, request.shard_mb, request.max_bad_fraction)


def read_splits(store: Store, job: str) -> dict[str, dict[str, Any]]:
    """Every split the converter wrote that holds images."""
    splits = {}
    for split in keys.SPLITS:
        try:
            coco = json.loads(store.get_bytes(keys.coco(job, split)))
        except KeyError:
            continue
        if coco.get("images"):
            splits[split] = coco
    if not splits:
        raise InvalidInput(
            f"no COCO split with images under {keys.job_prefix(job)}labels/: run the convert stage first"
        )
    return splits


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
    stats_doc = {split: stats.as_dict() for split, stats in records.stats.items()}
    store.put_bytes(outputs["stats"], json.dumps(stats_doc, indent=1).encode(), "application/json")
    return outputs
