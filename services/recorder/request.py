"""The records stage's request: what `transferline publish records` and `transferline records` both validate."""

from __future__ import annotations

from pydantic import Field, PositiveInt

from transferline.payloads import StageRequest


class RecordsRequested(StageRequest):
    num_shards: PositiveInt | None = Field(None, description="shards per split (default: from shard_mb)")
    shard_mb: PositiveInt = Field(128, description="target shard size when num_shards is not given")
    include_masks: bool = Field(False, description="write one PNG mask per instance (for Mask R-CNN)")
    max_side: PositiveInt | None = Field(None, description="shrink larger images to this longest side")
    max_bad_fraction: float = Field(0.05, ge=0, le=1, description="fail when more images than this are unusable")
    verify_pixels: bool = Field(False, description="decode every image to catch damage inside it (slower)")
    workers: PositiveInt | None = Field(None, description="processes writing shards (default: one per core)")
