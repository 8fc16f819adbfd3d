"""The image manifest (`images/manifest.jsonl`): one line per stored image. The downloader writes it; the
converter and recorder read it, so an image's size and perceptual hash are learnt once, when it is stored."""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import Field, NonNegativeInt, PositiveInt, ValidationError

from transferline import keys
from transferline.errors import InvalidInput
from transferline.payloads import Payload
from transferline.store import Store


class ImageRecord(Payload):
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    key: str = Field(description="store key of the image bytes")
    width: PositiveInt
    height: PositiveInt
    format: str = Field(description="Pillow format name, lower case: jpeg, png, webp...")
    bytes: NonNegativeInt
    url: str | None = Field(None, description="where it was downloaded from")
    file_name: str | None = Field(None, description="the file name the source gave it")
    global_key: str | None = Field(None, description="the data row key used when uploading to a labelling tool")
    phash: str | None = Field(None, pattern=r"^[0-9a-f]{16}$", description="64-bit perceptual hash, hex")

    def to_line(self) -> str:
        return self.model_dump_json(exclude_none=True) + "\n"


def read_manifest(store: Store, job_id: str) -> Iterator[ImageRecord]:
    """Every record of a job's manifest (none when there is no manifest); a bad line is a clear error."""
    key = keys.image_manifest(job_id)
    try:
        text = store.get_bytes(key).decode("utf-8")
    except KeyError:
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield ImageRecord.model_validate_json(line)
        except ValidationError as exc:
            raise InvalidInput(f"{key} line {number}: {exc.errors()[0]['msg']}") from None
