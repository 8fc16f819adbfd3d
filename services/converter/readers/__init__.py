"""Export readers by format name, and format detection. Each reader module has FORMAT, sniff() and read()."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Literal

from transferline.errors import InvalidInput
from transferline_converter.dataset import Problems, ReadResult
from transferline_converter.formats import FORMATS, READERS
from transferline_converter.readers.common import load_json
from transferline_converter.sources import ExportSource


@dataclass(frozen=True)
class ReadOptions:
    """How to read what an export leaves ambiguous."""

    # Labelbox's 2018 class -> geometry forms (WKT and XY) measured y from the bottom until 2018-10-15; "auto"
    # decides per row from its Created At (undated rows: bottom, with a warning).
    legacy_y_origin: Literal["auto", "bottom-left", "top-left"] = "auto"


def reader(format_name: str) -> ModuleType:
    if format_name not in READERS:
        raise InvalidInput(f"unknown export format {format_name!r}: use one of {', '.join(FORMATS)}")
    return importlib.import_module(READERS[format_name])


def detect(source: ExportSource) -> str:
    """The format whose reader recognises the export; a clear error naming the candidates when none does."""
    for name in READERS:
        if reader(name).sniff(source):
            return name
    if source.single is not None and source.single.suffix == ".json":
        load_json(source.single)  # a broken JSON file says where it breaks rather than "unknown format"
    raise InvalidInput(
        f"cannot tell the format of export {source.name}; name it with format= (one of {', '.join(READERS)})"
    )


def read(source: ExportSource, format_name: str, options: ReadOptions, problems: Problems) -> ReadResult:
    name = detect(source) if format_name == "auto" else format_name
    result: ReadResult = reader(name).read(source, options, problems)
    return result
