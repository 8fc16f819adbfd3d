"""Images judged in the decoder processes come back as `inspect` judges them in this one, refusals included."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.hostile import picture, png_header_only
from transferline_downloader.decoders import inspect_in_pool
from transferline_downloader.inspect import Limits, Rejected, inspect

LIMITS = Limits(max_pixels=10_000_000, min_side=8)


def test_a_picture_is_judged_as_in_this_process(tmp_path: Path) -> None:
    path = tmp_path / "body"
    path.write_bytes(picture("JPEG", size=(80, 60)))
    assert inspect_in_pool(path, path.stat().st_size, LIMITS) == inspect(path, path.stat().st_size, LIMITS)


@pytest.mark.parametrize(
    ("data", "reason"),
    [(picture("JPEG")[:300], "corrupt-image"), (png_header_only(40_000, 40_000), "too-many-pixels")],
)
def test_a_refusal_crosses_the_process_boundary_with_its_reason(tmp_path: Path, data: bytes, reason: str) -> None:
    path = tmp_path / "body"
    path.write_bytes(data)
    with pytest.raises(Rejected) as refused:
        inspect_in_pool(path, len(data), LIMITS)
    assert refused.value.reason == reason and refused.value.detail
