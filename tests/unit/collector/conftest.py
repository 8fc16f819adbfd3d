"""Collector test helpers: settings pointing every provider at a loopback server, and a recorded sleep (the
client's waits are asserted as numbers, never timed)."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.support.providers import collector_settings
from transferline_collector.collect import Collection, collect
from transferline_collector.providers import Page
from transferline_collector.request import CollectRequested
from transferline_collector.settings import CollectorSettings

settings_for = collector_settings  # every provider on loopback and unpaced unless a test serves it


@dataclass
class Run:
    collection: Collection
    waits: list[float] = field(default_factory=list)
    pages: list[tuple[str, str, int]] = field(default_factory=list)

    def urls(self) -> list[str]:
        return [row.url for row in self.collection.rows]


def run(settings: CollectorSettings, lists: Mapping[str, bytes] | None = None, **request: Any) -> Run:
    waits: list[float] = []
    pages: list[tuple[str, str, int]] = []

    def progress(provider: str, query: str, page: Page) -> None:
        pages.append((provider, query, page.number))

    found = collect(
        CollectRequested.model_validate(request), lists or {}, settings, threading.Event(), progress, waits.append
    )
    return Run(found, waits, pages)
