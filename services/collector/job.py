"""The collect stage's work over a store: read the job's uploaded URL lists, search, write urls.jsonl, the
report and ATTRIBUTION.md under urls/."""

from __future__ import annotations

import json

from transferline import keys
from transferline.contracts import rows_jsonl
from transferline.errors import InvalidInput, WorkFailed
from transferline.stage import StageContext, StageResult
from transferline.store import Store
from transferline_collector.client import Unusable
from transferline_collector.collect import Collection, collect
from transferline_collector.providers import Page
from transferline_collector.report import attribution_md, report_json, summary
from transferline_collector.request import CollectRequested
from transferline_collector.settings import CollectorSettings


def collect_job(request: CollectRequested, ctx: StageContext, settings: CollectorSettings) -> StageResult:
    lists = read_lists(ctx.store, ctx.job_id, request)
    if not request.queries and not lists:
        raise InvalidInput(
            f"nothing to collect: give queries, or upload a URL list to {keys.url_lists_prefix(ctx.job_id)} "
            f"(transferline upload {ctx.job_id} --urls FILE)"
        )
    pages: list[str] = []

    def progress(provider: str, query: str, page: Page) -> None:
        pages.append(provider)
        ctx.progress(len(pages), None, f"{provider} {query!r} page {page.number}: {len(page.hits)} results")

    try:
        collection = collect(request, lists, settings, ctx.stopping, progress)
    except Unusable as exc:  # a missing key or a closed API, found before any request
        raise InvalidInput(str(exc)) from None
    outputs = write(ctx.store, ctx.job_id, collection)
    if not collection.rows:
        report = json.loads(ctx.store.get_bytes(outputs["report"]))
        raise WorkFailed("nothing usable came back:\n" + summary(report).rstrip())
    return StageResult(outputs, collection.counters())


def read_lists(store: Store, job: str, request: CollectRequested) -> dict[str, bytes]:
    """The request's lists, else every list uploaded under urls/lists/."""
    prefix = keys.url_lists_prefix(job)
    names = request.lists or sorted({info.key.removeprefix(prefix) for info in store.list(prefix)})
    lists = {}
    for name in names:
        try:
            lists[keys.clean_name(name)] = store.get_bytes(keys.url_list(job, name))
        except KeyError:
            raise InvalidInput(f"URL list {name!r} is not under {prefix}: upload it with --urls") from None
    return lists


def write(store: Store, job: str, collection: Collection) -> dict[str, str]:
    """The rows first, then the credits, the report last (it describes them)."""
    outputs = {"urls": keys.urls(job), "attribution": keys.urls_attribution(job), "report": keys.urls_report(job)}
    store.put_bytes(outputs["urls"], rows_jsonl(collection.rows), "application/x-ndjson")
    store.put_bytes(outputs["attribution"], attribution_md(collection.rows), "text/markdown; charset=utf-8")
    report = report_json(collection.sources, collection.dropped, len(collection.rows))
    store.put_bytes(outputs["report"], report, "application/json")
    return outputs
