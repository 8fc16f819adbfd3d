"""The collect stage's request: what `transferline publish collect` and `transferline collect` both validate."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints, field_validator

from transferline.payloads import StageRequest
from transferline_collector import licences

ProviderName = Literal["openverse", "wikimedia", "brave", "flickr", "google_cse"]
KEYLESS: tuple[ProviderName, ...] = ("openverse", "wikimedia")
Query = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=400)]  # Brave's limit
Licence = Annotated[str, AfterValidator(licences.check), Field(json_schema_extra={"enum": list(licences.CHOICES)})]


class CollectRequested(StageRequest):
    queries: list[Query] = Field(default_factory=list, max_length=100, description="search queries")
    providers: list[ProviderName] = Field(default_factory=lambda: list(KEYLESS), min_length=1, max_length=5)
    max_per_query: int = Field(100, ge=1, le=10_000, description="results per provider and query (or its cap)")
    licenses: list[Licence] = Field(
        default_factory=list, max_length=20, description="codes (cc0, by, by-sa...) or groups (commercial...)"
    )
    lists: list[str] = Field(
        default_factory=list, max_length=100, description="file names under the job's urls/lists/ (empty: all)"
    )

    @field_validator("providers")
    @classmethod
    def _once_each(cls, providers: list[ProviderName]) -> list[ProviderName]:
        return list(dict.fromkeys(providers))
