"""The convert stage: the job's raw label exports (labels/raw/) + its stored images -> COCO, splits, report."""

from __future__ import annotations

import json
from typing import Any, ClassVar

from services.converter.convert import Conversion, ConvertOptions, convert
from services.converter.images import index_store
from services.converter.masks import MaskSource
from services.converter.sources import ExportSource
from services.converter.splits import read_split_list
from transferline import keys
from transferline.errors import InvalidInput
from transferline.manifest import read_manifest
from transferline.payloads import ConvertRequested
from transferline.stage import Stage, StageContext, StageResult
from transferline.store import Store


class ConvertStage(Stage[ConvertRequested]):
    name: ClassVar[str] = "convert"
    Request: ClassVar[type[ConvertRequested]] = ConvertRequested

    def handle(self, request: ConvertRequested, ctx: StageContext) -> StageResult:
        store, job = ctx.store, ctx.job_id
        assigned = read_split_list(_load_json(store, job, request.split_list)) if request.split_list else None
        options = ConvertOptions.from_request(request, assigned)
        sources = [_export(store, job, name) for name in _export_names(store, job, request)]
        index = index_store(store, keys.images(job), list(read_manifest(store, job)))
        steps: list[str] = []

        def progress(message: str) -> None:
            steps.append(message)
            ctx.progress(len(steps), 3, message)

        conversion = convert(sources, index, MaskSource(ctx.settings.labelbox_api_key), options, progress)
        outputs = _write(store, job, conversion)
        if conversion.failure:
            raise InvalidInput(f"{conversion.failure} ({outputs['report_text']})")
        return StageResult(outputs, conversion.counters)


def _export_names(store: Store, job: str, request: ConvertRequested) -> list[str]:
    if request.exports:
        return request.exports
    prefix = keys.raw_labels_prefix(job)
    names = [info.key.removeprefix(prefix) for info in store.list(prefix)]
    names = [name for name in names if name != request.split_list]
    if not names:
        raise InvalidInput(f"no label export under {prefix}: upload the labelling tool's export there first")
    return names


def _export(store: Store, job: str, name: str) -> ExportSource:
    try:
        return ExportSource.from_bytes(name, store.get_bytes(keys.raw_labels(job, name)))
    except KeyError:
        raise InvalidInput(f"export {name!r} is not under {keys.raw_labels_prefix(job)}") from None


def _load_json(store: Store, job: str, name: str) -> Any:
    source = _export(store, job, name)
    try:
        return json.loads(source.files[0].text())
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"split list {name} is not JSON: {exc}") from None


def _write(store: Store, job: str, conversion: Conversion) -> dict[str, str]:
    """COCO and its splits first, the report last (it describes them)."""
    outputs = {"coco": keys.coco(job)}
    _put_json(store, outputs["coco"], conversion.coco)
    for split, coco in conversion.splits.items():
        outputs[f"coco_{split}"] = keys.coco(job, split)
        _put_json(store, outputs[f"coco_{split}"], coco)
    outputs["report"] = keys.label_report(job)
    _put_json(store, outputs["report"], conversion.report)
    outputs["report_text"] = keys.label_report_text(job)
    store.put_bytes(outputs["report_text"], conversion.report_text.encode(), "text/markdown; charset=utf-8")
    return outputs


def _put_json(store: Store, key: str, value: dict[str, Any]) -> None:
    store.put_bytes(key, json.dumps(value, separators=(",", ":")).encode(), "application/json")
