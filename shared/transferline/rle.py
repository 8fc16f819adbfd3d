"""COCO's compressed RLE counts (pycocotools' rleFrString) decoded in Python, where a bad string cannot crash:
pycocotools' C decoder trusts its input. The converter and the recorder both read RLE from users' files."""

from __future__ import annotations


def string_runs(text: str) -> list[int] | None:
    """The run lengths a compressed counts string encodes; None when it is not one."""
    runs: list[int] = []
    position = 0
    while position < len(text):
        value, shift, more = 0, 0, True
        while more:
            if position >= len(text) or not 48 <= ord(text[position]) < 48 + 64:
                return None
            char = ord(text[position]) - 48
            value |= (char & 0x1F) << shift
            more = bool(char & 0x20)
            position, shift = position + 1, shift + 5
            if not more and char & 0x10:
                value |= -1 << shift
        runs.append(value + (runs[-2] if len(runs) > 2 else 0))
    return runs
