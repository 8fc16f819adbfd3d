"""Collecting: URL lists and provider results -> one deduplicated list of rows, in first-seen order, with every
dropped input and its reason. Lists come first (the user's own picks), then each provider's queries."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from transferline.contracts import UrlRow
from transferline.url_lists import read_list
from transferline_collector import licences
from transferline_collector.client import ApiClient, Policy, ProviderError, Unusable
from transferline_collector.normalise import normalise
from transferline_collector.providers import PROVIDERS, Hit, Page, Provider
from transferline_collector.report import Dropped, SourceReport
from transferline_collector.request import CollectRequested
from transferline_collector.settings import CollectorSettings

DUPLICATE, LICENCE_FILTERED, NOT_AN_IMAGE = "duplicate", "licence-filtered", "not-an-image"
Progress = Callable[[str, str, Page], None]
log = logging.getLogger("transferline.collector")


@dataclass
class Collection:
    allowed: frozenset[str]
    rows: list[UrlRow] = field(default_factory=list)
    sources: list[SourceReport] = field(default_factory=list)
    dropped: list[Dropped] = field(default_factory=list)
    first: dict[str, str] = field(default_factory=dict)  # normalised URL -> where it was first seen

    def add_list(self, name: str, data: bytes) -> None:
        read = read_list(data)
        report = SourceReport(f"list:{name}", format=read.format, header=read.header)
        self.sources.append(report)
        for item in read.items:
            where = f"{report.source} line {item.line}"
            report.seen += 1
            if item.problem:
                self._drop(report, Dropped(report.source, item.problem, item.text, item.detail, line=item.line))
                continue
            self._offer(report, item.text, where, {}, Dropped(report.source, "", item.text, line=item.line))

    def add_page(self, report: SourceReport, page: Page) -> None:
        report.pages += 1
        for found in page.hits:
            report.seen += 1
            where = f"{report.source} {report.query!r} rank {found.rank}"
            template = Dropped(report.source, "", found.url, query=report.query, rank=found.rank)
            if self._filtered(report, found, template):
                continue
            row = {"query": report.query, "rank": found.rank, **found.fields}
            self._offer(report, found.url, where, row, template)

    def _filtered(self, report: SourceReport, found: Hit, template: Dropped) -> bool:
        mime = found.fields.get("mime")
        if mime and not mime.startswith("image/"):
            self._drop(report, template.because(NOT_AN_IMAGE, mime))
            return True
        licence = found.fields.get("licence")
        if self.allowed and licence not in self.allowed:
            self._drop(report, template.because(LICENCE_FILTERED, licence or "the provider gives no licence"))
            return True
        return False

    def _offer(self, report: SourceReport, text: str, where: str, fields: dict, template: Dropped) -> None:
        found = normalise(text)
        if found.url is None:
            self._drop(report, template.because(found.reason or "not-a-url", found.detail))
        elif found.url in self.first:
            self._drop(report, template.because(DUPLICATE, f"first seen at {self.first[found.url]}", found.url))
        else:
            self.first[found.url] = where
            self.rows.append(UrlRow(url=found.url, source=report.source, **fields))
            report.kept += 1

    def _drop(self, report: SourceReport, dropped: Dropped) -> None:
        report.dropped += 1
        self.dropped.append(dropped)

    def counters(self) -> dict[str, float]:
        counters: dict[str, float] = {
            "kept": len(self.rows),
            "seen": sum(s.seen for s in self.sources),
            "dropped": len(self.dropped),
            "pages": sum(s.pages for s in self.sources),
            "failed_searches": sum(1 for s in self.sources if s.error),
        }
        for dropped in self.dropped:
            counters[f"dropped_{dropped.reason}"] = counters.get(f"dropped_{dropped.reason}", 0) + 1
        return counters


def providers_for(request: CollectRequested, settings: CollectorSettings) -> list[type[Provider]]:
    """The request's providers, each checked against the settings first (a missing key fails before any call)."""
    chosen = [PROVIDERS[name] for name in request.providers] if request.queries else []
    for provider in chosen:
        provider.check_settings(settings)
    return chosen


def collect(
    request: CollectRequested,
    lists: Mapping[str, bytes],
    settings: CollectorSettings,
    stopping: threading.Event,
    progress: Progress,
    sleep: Callable[[float], None] | None = None,
) -> Collection:
    collection = Collection(licences.expand(request.licenses))
    for name, data in lists.items():
        collection.add_list(name, data)
    for provider_class in providers_for(request, settings):
        client = ApiClient(provider_class.name, policy(provider_class.name, settings), stopping, sleep)
        try:
            _search(collection, provider_class(settings, client), request, progress)
        finally:
            client.close()
    return collection


def _search(collection: Collection, provider: Provider, request: CollectRequested, progress: Progress) -> None:
    """Every query on one provider; a failed query is reported and the next one tried, a refused key ends it."""
    refused: str | None = None
    for query in request.queries:
        report = SourceReport(provider.name, query=query, error=refused and f"not searched: {refused}")
        collection.sources.append(report)
        if refused:
            continue
        try:
            for page in provider.pages(query, request.max_per_query, collection.allowed):
                collection.add_page(report, page)
                progress(provider.name, query, page)
        except ProviderError as exc:
            report.error = str(exc)
            log.warning("search failed", extra={"provider": provider.name, "error": str(exc)})
            refused = str(exc) if isinstance(exc, Unusable) else None


def policy(name: str, settings: CollectorSettings) -> Policy:
    return Policy(
        interval=getattr(settings, f"{name}_interval_seconds"),
        attempts=settings.collector_attempts,
        max_wait=settings.collector_max_wait_seconds,
        timeout=settings.collector_timeout_seconds,
        user_agent=settings.user_agent,
    )
