"""The convert stage's work over a store: read a job's exports and images, convert, write COCO, splits and the
health report under labels/."""

from __future__ import annotations

from typing import Any

from transferline import keys
from transferline.errors import InvalidInput, WorkFailed
from transferline.manifest import read_manifest
from transferline.stage import StageContext, StageResult
from transferline.store import Store
from transferline_converter.coco_json import CocoText, encode
from transferline_converter.convert import Conversion, ConvertOptions, collector_paused, convert
from transferline_converter.images import index_store
from transferline_converter.masks import MaskSource
from transferline_converter.readers.common import load_json
from transferline_converter.request import ConvertRequested
from transferline_converter.settings import ConverterSettings
from transferline_converter.sources import ExportSource
from transferline_converter.splits import read_split_list

JSON = "application/json"


def convert_job(request: ConvertRequested, ctx: StageContext, settings: ConverterSettings) -> StageResult:
    with collector_paused():  # through the writing too: the COCO dicts are then at their most
        return _convert_job(request, ctx, settings)


def _convert_job(request: ConvertRequested, ctx: StageContext, settings: ConverterSettings) -> StageResult:
    store, job = ctx.store, ctx.job_id
    assigned = read_split_list(_load_json(store, job, request.split_list)) if request.split_list else None
    options = ConvertOptions.from_request(request, assigned)
    names = export_names(store, job, request)
    index = index_store(store, keys.images(job), list(read_manifest(store, job)))
    sources = (read_export(store, job, name) for name in names)  # fetched one at a time, each let go once read
    steps: list[str] = []

    def progress(message: str) -> None:
        steps.append(message)
        ctx.progress(len(steps), 3, message)

    masks = MaskSource.from_settings(settings)
    conversion = convert(sources, index, masks, options, progress)
    outputs = _write(store, job, conversion)
    if conversion.failure:
        raise WorkFailed(f"{conversion.failure} ({outputs['report_text']})")
    return StageResult(outputs, conversion.counters)


def export_names(store: Store, job: str, request: ConvertRequested) -> list[str]:
    """The request's exports, else every export under labels/raw/ (an object, or a folder of them)."""
    if request.exports:
        return request.exports
    prefix = keys.raw_labels_prefix(job)
    names = dict.fromkeys(info.key.removeprefix(prefix).split("/", 1)[0] for info in store.list(prefix))
    names.pop(request.split_list or "", None)
    if not names:
        raise InvalidInput(f"no label export under {prefix}: upload the labelling tool's export there first")
    return list(names)


def read_export(store: Store, job: str, name: str) -> ExportSource:
    key = keys.raw_labels(job, name)
    try:
        return ExportSource.from_stored_file(name, store, key)
    except KeyError:
        pass
    found = list(store.list(key + "/"))
    if not found:
        raise InvalidInput(f"export {name!r} is not under {keys.raw_labels_prefix(job)}")
    return ExportSource.from_store(name, store, found, key + "/")  # judged from the listing; images read lazily


def _load_json(store: Store, job: str, name: str) -> Any:
    return load_json(read_export(store, job, name).files[0])


def _write(store: Store, job: str, conversion: Conversion) -> dict[str, str]:
    """COCO and its splits first, the report last (it describes them)."""
    outputs = {"coco": keys.coco(job)}
    text = CocoText(conversion.coco, conversion.split_ids)
    store.put_stream(outputs["coco"], text.stream(), JSON)
    for split in conversion.split_ids:
        outputs[f"coco_{split}"] = keys.coco(job, split)
        store.put_stream(outputs[f"coco_{split}"], text.stream(split), JSON)
    outputs["report"] = keys.label_report(job)
    store.put_bytes(outputs["report"], encode(conversion.report), JSON)
    outputs["report_text"] = keys.label_report_text(job)
    store.put_bytes(outputs["report_text"], conversion.report_text.encode(), "text/markdown; charset=utf-8")
    return outputs
