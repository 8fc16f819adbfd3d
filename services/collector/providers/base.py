"""The one small interface every image-search provider implements, and the hit it yields."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from transferline.text import safe
from transferline_collector.client import ApiClient, KeyRejected
from transferline_collector.settings import CollectorSettings

FIELDS = ("title", "licence", "licence_url", "creator", "attribution", "landing_page", "mime")
_MAX_TEXT = 2000


@dataclass(frozen=True)
class Hit:
    """One result as the provider gave it (the URL is normalised later, with every other source's)."""

    url: str
    rank: int  # 1-based over the query, in the provider's order
    fields: dict[str, Any] = field(default_factory=dict)  # UrlRow's: title, licence, ..., width, height, mime


@dataclass(frozen=True)
class Page:
    number: int
    hits: list[Hit]


class Provider(ABC):
    name: ClassVar[str]
    cap: ClassVar[int]  # the most results the provider gives one query
    key_field: ClassVar[str | None] = None  # the settings field holding its API key, for keyed providers

    def __init__(self, settings: CollectorSettings, client: ApiClient) -> None:
        self.settings, self.client = settings, client

    @classmethod
    def check_settings(cls, settings: CollectorSettings) -> None:
        """Refuse before any request when the provider cannot work with these settings (a missing key)."""
        if cls.key_field and not getattr(settings, cls.key_field).get_secret_value():
            raise KeyRejected(f"{cls.name} needs an API key: set {settings.setting(cls.key_field)}")

    @abstractmethod
    def pages(self, query: str, limit: int, allowed: frozenset[str]) -> Iterator[Page]:
        """Pages of hits for `query` until `limit` hits, the provider's cap or its last page. `allowed` (licence
        codes, empty: any) is passed on where the provider can filter; the collector filters every row again."""

    def key_rejected(self, said: str) -> KeyRejected:
        assert self.key_field is not None
        return KeyRejected(f"{self.name} refused the key in {self.settings.setting(self.key_field)}: {said}")


def hit(url: Any, rank: int, **fields: Any) -> Hit | None:
    """A Hit with the provider's fields cleaned: text stripped and bounded, sizes positive integers."""
    if not isinstance(url, str) or not url.strip():
        return None
    cleaned: dict[str, Any] = {}
    for name, value in fields.items():
        if name in ("width", "height"):
            value = _positive(value)
        elif value is not None:
            value = safe(" ".join(str(value).split()))[:_MAX_TEXT] or None
        if value is not None:
            cleaned[name] = value
    return Hit(safe(url), rank, cleaned)


def obj(value: Any) -> dict[str, Any]:
    """`value` when it is a JSON object, else an empty one: a provider's odd answer reads as no data, not a crash."""
    return value if isinstance(value, dict) else {}


def objs(value: Any) -> list[dict[str, Any]]:
    """The JSON objects of `value` when it is a list."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def count(value: Any) -> int:
    """A count or index sent as a number or a string (Flickr sends both); 0 when it is neither."""
    return _positive(value) or 0


def _positive(value: Any) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: int(float("inf"))
        return None
    return number if number > 0 else None
