"""Text that can always be written: status documents, events and log lines are UTF-8 JSON, which a lone
surrogate (from a JSON `\\ud83d` escape in an upload, or bytes decoded with `surrogateescape`) cannot be."""

from __future__ import annotations

import re
from typing import TypeVar, cast

T = TypeVar("T")
_SURROGATE = re.compile("[\ud800-\udfff]")


def safe(value: str) -> str:
    """`value` with each unpaired surrogate replaced by U+FFFD; a valid pair becomes the character it encodes."""
    if not _SURROGATE.search(value):
        return value  # the common case costs one scan and no copy
    return value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def safe_data(value: T) -> T:
    """`safe` applied to every string (keys included) of a JSON-like value: dicts, lists, tuples, scalars."""
    if isinstance(value, str):
        return cast(T, safe(value))
    if isinstance(value, dict):
        return cast(T, {safe_data(k): safe_data(v) for k, v in value.items()})
    if isinstance(value, list):
        return cast(T, [safe_data(v) for v in value])
    if isinstance(value, tuple):
        return cast(T, tuple(safe_data(v) for v in value))
    return value
