"""The convert stage's request: what `transferline publish convert` and `transferline convert` both validate."""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator

from transferline.keys import SPLITS
from transferline.payloads import StageRequest
from transferline_converter.formats import FORMATS


def _known_format(name: str) -> str:
    if name not in FORMATS:
        raise ValueError(f"unknown export format {name!r}: use one of {', '.join(FORMATS)}")
    return name


ExportFormat = Annotated[str, AfterValidator(_known_format), Field(json_schema_extra={"enum": list(FORMATS)})]


class ConvertRequested(StageRequest):
    exports: list[str] = Field(
        default_factory=list, max_length=50, description="file names under the job's labels/raw/ (empty: all of them)"
    )
    format: ExportFormat = "auto"
    split: dict[str, float] = Field(default_factory=lambda: {"train": 0.8, "val": 0.1, "test": 0.1})
    split_list: str | None = Field(None, description='file under labels/raw/: {"train": [image names], "val": [...]}')
    seed: int = 0
    classes: list[str] | None = Field(None, description="the only classes to keep; others are reported unknown")
    rename_classes: dict[str, str] = Field(default_factory=dict, description="class -> new name ('' drops it)")
    category_map: dict[str, str] = Field(default_factory=dict, description="class -> COCO class name (warm start)")
    out_of_bounds: Literal["clip", "drop"] = "clip"
    legacy_y_origin: Literal["auto", "bottom-left", "top-left"] = "auto"
    near_duplicate_bits: int = Field(4, ge=-1, le=32, description="pHash Hamming distance for near-duplicates; -1: off")
    require_images: bool = Field(True, description="drop rows whose image was never downloaded")
    max_error_fraction: float = Field(0.1, ge=0, le=1, description="fail when more rows than this are unusable")

    @field_validator("split")
    @classmethod
    def _ratios(cls, split: dict[str, float]) -> dict[str, float]:
        return check_split(split)


def check_split(split: dict[str, float]) -> dict[str, float]:
    """Ratios of train, val and test: finite, non-negative, with a positive and finite sum (1e308 twice overflows,
    and a ratio over an infinite sum is no ratio)."""
    unknown = set(split) - set(SPLITS)
    values = list(split.values())
    if unknown or not all(math.isfinite(v) and v >= 0 for v in values) or not 0 < sum(values) < math.inf:
        raise ValueError(f"give finite, non-negative ratios of {', '.join(SPLITS)} with a positive, finite sum")
    return split
