"""`label_map.pbtxt` (StringIntLabelMap text format, ids from 1) from COCO categories."""

from __future__ import annotations

from typing import Any


def label_map(categories: list[dict[str, Any]]) -> str:
    items = []
    for category in sorted(categories, key=lambda c: c["id"]):
        name = quote(category["name"])
        items.append(f"item {{\n  id: {int(category['id'])}\n  name: {name}\n  display_name: {name}\n}}\n")
    return "".join(items)


def quote(text: str) -> str:
    """A protobuf text-format string literal: printable ASCII as is, `"` and `\\` escaped, every other UTF-8 byte
    as an octal escape (what protobuf's own writer does). JSON's \\uXXXX escapes are not protobuf text: Python's
    parser turns a surrogate pair (any emoji) into an error."""
    out = []
    for byte in text.encode("utf-8"):
        if byte in b'"\\':
            out.append("\\" + chr(byte))
        elif 0x20 <= byte < 0x7F:
            out.append(chr(byte))
        else:
            out.append(f"\\{byte:03o}")
    return '"' + "".join(out) + '"'
