"""The download stage's request: what `transferline publish download` and `transferline download` both validate."""

from __future__ import annotations

from pydantic import Field

from transferline.fanout import ChunkedRequest

MIB = 1024 * 1024


class DownloadRequested(ChunkedRequest):
    """Fetch every URL of the job's `urls/urls.jsonl` (or any URL list stored there: JSON lines with a `url`
    field, a CSV with a URL column, plain text), keep what is a whole image, record one outcome per URL.
    Over `chunk_size` URLs (default 500), the runner fans it out over the running replicas."""

    workers: int = Field(16, ge=1, le=256, description="concurrent fetches")
    per_host: int = Field(4, ge=1, le=256, description="concurrent fetches to one host")
    timeout: float = Field(30.0, gt=0, le=600, description="seconds for one fetch, redirects and body included")
    max_bytes: int = Field(32 * MIB, ge=1, le=1024 * MIB, description="body size cap, enforced while streaming")
    min_side: int = Field(16, ge=0, le=100_000, description="images with a shorter side are too-small")
    max_pixels: int = Field(89_478_485, ge=1, le=178_956_970, description="width x height cap, read from the header")
    retries: int = Field(3, ge=0, le=10, description="extra tries for 429, 503 and timeouts")
    max_redirects: int = Field(5, ge=0, le=20)
    max_failed_fraction: float = Field(1.0, ge=0, le=1, description="fail when more URLs than this fail")
    resume: bool = Field(True, description="skip URLs whose outcome is already recorded")
