"""Image-search providers, one module each behind `base.Provider`; found by name here."""

from __future__ import annotations

from transferline_collector.providers.base import Hit, Page, Provider
from transferline_collector.providers.brave import Brave
from transferline_collector.providers.flickr import Flickr
from transferline_collector.providers.google_cse import GoogleCse
from transferline_collector.providers.openverse import Openverse
from transferline_collector.providers.wikimedia import Wikimedia

PROVIDERS: dict[str, type[Provider]] = {p.name: p for p in (Openverse, Wikimedia, Brave, Flickr, GoogleCse)}

__all__ = ["PROVIDERS", "Hit", "Page", "Provider"]
