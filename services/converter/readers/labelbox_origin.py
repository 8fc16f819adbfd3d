"""Which way y points in a legacy Labelbox row drawn in the 2018 class -> geometry form.

Labelbox measured y up from the bottom of the image until mid-October 2018: their SDK's exporters dropped the
flip on 2018-10-15 (labelbox-python 6a87e016, "Don't flip up down anymore"), and their 2019 exporter reads the
same form with y unchanged. So with `legacy_y_origin=auto` a row's `Created At` decides: before that day y is
from the bottom, on or after it from the top. A row without a readable date keeps the 2018 reading (from the
bottom: the 2018 SDK's own fixtures carry no date) and is warned about.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from transferline_converter.dataset import Frame, Problems, Where

CUTOFF = date(2018, 10, 15)
DATE_FIELD = "Created At"
MAX_SPANS = 20  # runs of row numbers a note lists before it says how many more
_WHY = {
    "before": f"created before {CUTOFF}, when Labelbox measured y from the bottom: y read from the bottom",
    "after": f"created on or after {CUTOFF}, when Labelbox measured y from the top: y read from the top",
    "undated": f"with no readable {DATE_FIELD}: y read from the bottom, as 2018 exports measured it",
}


@dataclass
class Origins:
    """Decides each 2018-form row's frame and remembers which rows went which way, for the report's note."""

    option: str
    problems: Problems
    rows: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))  # reason -> row numbers

    def frame(self, row: dict[str, Any], number: int, where: Where) -> Frame:
        if self.option != "auto":
            self.rows[self.option].append(number)
            return "top-left" if self.option == "top-left" else "bottom-left"
        day = self._day(row, where)
        reason = "undated" if day is None else "before" if day < CUTOFF else "after"
        self.rows[reason].append(number)
        return "top-left" if reason == "after" else "bottom-left"

    def note(self, total: int) -> str | None:
        """One line saying which rows were read which way and why; None when no row has the 2018 form."""
        count = sum(len(numbers) for numbers in self.rows.values())
        if not count:
            return None
        head = f"{count} of {total} rows use Labelbox's 2018 class -> geometry label"
        if self.option != "auto":
            side = "top" if self.option == "top-left" else "bottom"
            return f"{head}; their y is read as measured from the {side} of the image (legacy_y_origin={self.option})"
        parts = [
            f"{len(self.rows[reason])} ({row_ranges(self.rows[reason])}) {why}"
            for reason, why in _WHY.items()
            if self.rows[reason]
        ]
        return f"{head}, read by their {DATE_FIELD} (legacy_y_origin=auto): " + "; ".join(parts)

    def _day(self, row: dict[str, Any], where: Where) -> date | None:
        value = row.get(DATE_FIELD)
        day = parse_day(value)
        if day is None:
            said = "is missing" if value is None else f"{str(value)[:40]!r} is not an ISO 8601 date"
            message = f"{DATE_FIELD} {said}; y read from the bottom (Labelbox's frame before {CUTOFF})"
            self.problems.warning("undated-row", message, where.at(DATE_FIELD))
        return day


def parse_day(value: Any) -> date | None:
    """The UTC day of an ISO 8601 timestamp or date (`2019-06-11T14:57:50.000Z`, `2018-10-15`); None otherwise."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return (moment.astimezone(UTC) if moment.tzinfo else moment).date()


def row_ranges(numbers: list[int]) -> str:
    """[1, 2, 3, 7] -> 'rows 1-3, 7'; [4] -> 'row 4'."""
    spans: list[list[int]] = []
    for n in sorted(numbers):
        if spans and n == spans[-1][1] + 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    text = ", ".join(f"{a}-{b}" if a != b else f"{a}" for a, b in spans[:MAX_SPANS])
    text += f" and {len(spans) - MAX_SPANS} more runs" if len(spans) > MAX_SPANS else ""
    return ("rows " if len(numbers) > 1 else "row ") + text
