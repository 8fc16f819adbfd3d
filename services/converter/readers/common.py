"""Helpers every reader uses: parse JSON with a clear error, and read typed fields that name their path."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any, TypeVar

from services.converter.dataset import Problems, Where
from services.converter.sources import ExportFile
from transferline.errors import InvalidInput

T = TypeVar("T")
MAX_LINE_BYTES = 16 * 1024 * 1024


class RowError(ValueError):
    """One row or shape cannot be read; the reader records it and goes on with the rest."""

    def __init__(self, where: Where, message: str, code: str = "malformed-row") -> None:
        super().__init__(f"{where}: {message}")
        self.where, self.message, self.code = where, message, code

    def record(self, problems: Problems) -> None:
        problems.error(self.code, self.message, self.where)


def load_json(file: ExportFile) -> Any:
    """The whole file as JSON; a truncated or broken file names its line and column."""
    try:
        return json.loads(file.text())
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"{file.name} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise InvalidInput(f"{file.name} nests too deeply to be a label export") from None


def json_lines(file: ExportFile, problems: Problems) -> Iterator[tuple[Where, Any]]:
    """(where, value) per non-empty line; a broken or oversized line is recorded and skipped, not fatal."""
    for number, line in enumerate(file.data.split(b"\n"), start=1):
        where = Where(f"line {number}")
        if not line.strip():
            continue
        if len(line) > MAX_LINE_BYTES:
            problems.error("malformed-row", f"line is {len(line) / 2**20:.0f} MiB, over the 16 MiB limit", where)
            continue
        try:
            yield where, json.loads(line.decode("utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            problems.error("malformed-row", f"not a JSON object: {exc}", where)


def field(obj: Any, key: str, kind: type[T], where: Where) -> T:
    """`obj[key]`, required, checked to be a `kind` (float accepts ints and refuses NaN); else RowError."""
    value = optional(obj, key, kind, where)
    if value is None:
        raise RowError(where.at(key), "missing")
    return value


def optional(obj: Any, key: str, kind: type[T], where: Where) -> T | None:
    """`obj[key]` checked to be a `kind`, or None when absent or null."""
    if not isinstance(obj, dict):
        raise RowError(where, f"expected an object, got {type(obj).__name__}")
    value = obj.get(key)
    if value is None:
        return None
    if kind is float:
        return number(value, where.at(key))  # type: ignore[return-value]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise RowError(where.at(key), f"expected {kind.__name__}, got {type(value).__name__} {_short(value)}")
    return value


def number(value: Any, where: Where) -> float:
    """A finite number (JSON allows NaN and Infinity through Python's parser; coordinates may not be either)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RowError(where, f"expected a number, got {type(value).__name__} {_short(value)}")
    if not math.isfinite(value):
        raise RowError(where, f"coordinate is {value}, not a finite number", code="nan-coordinate")
    return float(value)


def xy_points(value: Any, where: Where) -> list[tuple[float, float]]:
    """A list of {"x": .., "y": ..} objects."""
    if not isinstance(value, list):
        raise RowError(where, f"expected a list of points, got {type(value).__name__}")
    points = []
    for index, item in enumerate(value):
        at = where.at(f"[{index}]")
        points.append(
            (number(field(item, "x", float, at), at.at("x")), number(field(item, "y", float, at), at.at("y")))
        )
    return points


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
