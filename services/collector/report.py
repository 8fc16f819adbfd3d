"""What the collector tells people: report.json (per source: seen, kept, dropped, errors; every dropped input
with its reason), a summary for the terminal, and ATTRIBUTION.md crediting everything kept."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from typing import Any

from transferline.contracts import UrlRow
from transferline.text import safe

VERSION = 1
_SHOWN = 300  # characters of a dropped input kept in the report (a runaway line is not copied whole)


@dataclass
class SourceReport:
    source: str  # provider name or list:<file>
    query: str | None = None
    seen: int = 0
    kept: int = 0
    dropped: int = 0
    pages: int = 0
    error: str | None = None
    format: str | None = None  # a list's: text, csv, jsonl, json
    header: str | None = None


@dataclass(frozen=True)
class Dropped:
    source: str
    reason: str
    input: str
    detail: str = ""
    line: int | None = None  # lists
    query: str | None = None  # searches
    rank: int | None = None
    url: str | None = None  # the normalised form, for duplicates

    def because(self, reason: str, detail: str, url: str | None = None) -> Dropped:
        return replace(self, reason=reason, detail=detail, url=url)


def report_json(sources: list[SourceReport], dropped: list[Dropped], kept: int) -> bytes:
    reasons = Counter(d.reason for d in dropped)
    body: dict[str, Any] = {
        "version": VERSION,
        "kept": kept,
        "seen": sum(s.seen for s in sources),
        "dropped": len(dropped),
        "dropped_by_reason": dict(sorted(reasons.items())),
        "sources": [_plain(asdict(s)) for s in sources],
        "dropped_inputs": [_plain({**asdict(d), "input": d.input[:_SHOWN]}) for d in dropped],
    }
    return json.dumps(body, indent=1, ensure_ascii=False).encode()


def summary(report: dict[str, Any]) -> str:
    """The terminal's view of report.json."""
    lines = []
    for source in report["sources"]:
        what = source["source"] + (f" {source['query']!r}" if source.get("query") else "")
        line = f"{what}: seen {source['seen']}, kept {source['kept']}, dropped {source['dropped']}"
        lines.append(line + (f"; error: {source['error']}" if source.get("error") else ""))
    reasons = ", ".join(f"{reason} {count}" for reason, count in report["dropped_by_reason"].items())
    lines.append(f"kept {report['kept']} of {report['seen']}" + (f" (dropped: {reasons})" if reasons else ""))
    return "\n".join(lines) + "\n"


def attribution_md(rows: Iterable[UrlRow]) -> bytes:
    """Creator, licence and landing page of every kept URL: a dataset built from the web needs its credits."""
    lines = [
        "# Attribution",
        "",
        "Images collected by transferline, with what each source said about them. Rows from URL lists carry only",
        "what the list gave; check their licences yourself.",
        "",
        "| # | Title | Creator | Licence | Source | Landing page |",
        "|---|---|---|---|---|---|",
    ]
    for number, row in enumerate(rows, start=1):
        licence = f"[{row.licence or '?'}]({row.licence_url})" if row.licence_url else row.licence or "unknown"
        page = row.landing_page or row.url
        cells = [str(number), row.title or "", row.creator or "", licence, row.source, f"<{page}>"]
        lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return ("\n".join(lines) + "\n").encode()


def _cell(text: str) -> str:
    return safe(text).replace("|", "\\|").replace("\n", " ")


def _plain(value: dict[str, Any]) -> dict[str, Any]:
    """Without empty fields, and with text that can be written as UTF-8."""
    return {k: safe(v) if isinstance(v, str) else v for k, v in value.items() if v is not None and v != ""}
