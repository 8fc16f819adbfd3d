"""Typed hand-offs: every file one service writes and another reads, as a model. Readers validate, so a file
from another (or an older) version is read or refused with a message naming the file, the line and the field.

    urls/urls.jsonl          UrlRow            collector -> downloader
    images/manifest.jsonl    ImageRecord       downloader (or `upload`) -> converter, recorder
    images/outcomes.jsonl    DownloadOutcome   downloader -> people, gateway
    labels/coco*.json        LabelCategory     converter -> recorder, trainer (categories with their COCO class)
    records/stats.json       RecordsStats      recorder -> trainer
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any, Literal, TypeVar

from pydantic import Field, NonNegativeInt, PositiveInt, ValidationError

from transferline.errors import InvalidInput
from transferline.payloads import Payload
from transferline.store import Store

COCO_MAX_ID = 90  # COCO's original class ids run 1..90 (80 used); its pretrained heads have 91 outputs
RowT = TypeVar("RowT", bound=Payload)
Split = Literal["train", "val", "test"]  # keys.SPLITS


class UrlRow(Payload):
    """One kept URL of the collector, with what its provider said about it."""

    url: str = Field(min_length=1, max_length=8192, description="normalised")
    source: str = Field(description="provider name, or list:<file> for a URL list")
    query: str | None = None
    rank: NonNegativeInt | None = None
    title: str | None = None
    licence: str | None = None
    licence_url: str | None = None
    creator: str | None = None
    attribution: str | None = None
    landing_page: str | None = None
    width: PositiveInt | None = None
    height: PositiveInt | None = None
    mime: str | None = None


class ImageRecord(Payload):
    """One stored image: where it is, its displayed size and its perceptual hash, learnt once when stored."""

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    key: str = Field(description="store key of the image bytes")
    width: PositiveInt = Field(description="as displayed, after EXIF orientation")
    height: PositiveInt
    format: str = Field(description="Pillow format name, lower case: jpeg, png, webp...")
    bytes: NonNegativeInt
    url: str | None = Field(None, description="where it was downloaded from")
    file_name: str | None = Field(None, description="the file name the source gave it")
    global_key: str | None = Field(None, description="the data row key used when uploading to a labelling tool")
    phash: str | None = Field(None, pattern=r"^[0-9a-f]{16}$", description="64-bit perceptual hash, hex")


class DownloadOutcome(Payload):
    """Exactly one per input URL of the downloader."""

    url: str
    status: Literal["ok", "failed"]
    reason: str | None = Field(None, description="a stable code when failed (bad-url, timeout, too-large, ...)")
    detail: str | None = None
    sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    final_url: str | None = None
    seconds: float = Field(0.0, ge=0)


class LabelCategory(Payload):
    """A COCO category as the converter writes it; coco_id says which COCO class warm-starts its head."""

    id: PositiveInt = Field(description="from 1; 0 is the background")
    name: str = Field(min_length=1)
    supercategory: str = ""
    coco_name: str | None = None
    coco_id: int | None = Field(None, ge=1, le=COCO_MAX_ID)


class SkippedImage(Payload):
    file_name: str
    reason: str


class SplitRecords(Payload):
    """What the recorder wrote for one split."""

    images: NonNegativeInt = 0
    objects: NonNegativeInt = 0
    bytes: NonNegativeInt = 0
    reencoded: NonNegativeInt = 0
    skipped: list[SkippedImage] = Field(default_factory=list)
    per_class: dict[str, NonNegativeInt] = Field(default_factory=dict)
    shards: list[str] = Field(default_factory=list, description="shard file names, relative to records/")


class RecordsStats(Payload):
    VERSION = 2
    version: Literal[2] = 2
    splits: dict[Split, SplitRecords]


def read_categories(coco: dict[str, Any], where: str) -> list[LabelCategory]:
    """The categories of a COCO file (ours or anyone's: unknown fields are left out)."""
    found = coco.get("categories") if isinstance(coco, dict) else None
    if not isinstance(found, list):
        raise InvalidInput(f"{where}: 'categories' must be a list")
    fields = set(LabelCategory.model_fields)
    return [
        _validated(LabelCategory, {k: v for k, v in c.items() if k in fields} if isinstance(c, dict) else c, where)
        for c in found
    ]


def read_records_stats(data: bytes, where: str) -> RecordsStats:
    """stats.json, in this version's shape or the first one's (splits at the top, shards as keys or paths)."""
    try:
        raw = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{where} is not JSON: {exc}") from None
    if isinstance(raw, dict) and "version" not in raw:  # version 1
        raw = {"splits": {split: _first_version_split(found) for split, found in raw.items()}}
    elif isinstance(raw, dict) and raw.get("version") != RecordsStats.VERSION:
        raise InvalidInput(
            f"{where} is version {raw.get('version')!r}; this version reads 1 and 2: update transferline"
        )
    return _validated(RecordsStats, raw, where)


def records_stats_json(stats: RecordsStats) -> bytes:
    return stats.model_dump_json(indent=1).encode()


def read_rows(data: bytes, model: type[RowT], where: str) -> Iterator[RowT]:
    """JSON lines as rows of `model`; a bad line is an error naming its number and field."""
    for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), start=1):
        if line.strip():
            try:
                yield model.model_validate_json(line)
            except ValidationError as exc:
                raise InvalidInput(f"{where} line {number}: {_first(exc)}") from None


def rows_jsonl(rows: Iterable[Payload]) -> bytes:
    return "".join(row.model_dump_json(exclude_none=True) + "\n" for row in rows).encode()


def read_stored_rows(store: Store, key: str, model: type[RowT]) -> Iterator[RowT]:
    """The rows of a stored JSON-lines file; none when it does not exist."""
    try:
        data = store.get_bytes(key)
    except KeyError:
        return iter(())
    return read_rows(data, model, key)


def _first_version_split(found: Any) -> Any:
    if not isinstance(found, dict):
        return found
    shards = [str(shard).rsplit("/", 1)[-1] for shard in found.get("shards", [])]
    return {**{k: v for k, v in found.items() if k != "skipped_count"}, "shards": shards}


def _validated(model: type[RowT], value: Any, where: str) -> RowT:
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise InvalidInput(f"{where}: {_first(exc)}") from None


def _first(exc: ValidationError) -> str:
    error = exc.errors(include_url=False)[0]
    return f"{'.'.join(str(part) for part in error['loc']) or 'row'}: {error['msg']}"
