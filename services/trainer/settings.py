"""The trainer's own settings (the platform's are in transferline.settings)."""

from __future__ import annotations

from pydantic import Field, field_validator

from transferline.fetch import parse_networks
from transferline.settings import ServiceSettings


class TrainerSettings(ServiceSettings):
    checkpoint_allow_networks: str = Field(
        "",
        description="comma-separated CIDRs a base_checkpoint URL may reach although private (e.g. an internal "
        "model mirror); every other private, loopback or link-local address is refused",
    )
    checkpoint_fetch_seconds: float = Field(
        3600.0, gt=0, le=86400, description="deadline for downloading one base_checkpoint URL, redirects included"
    )

    @field_validator("checkpoint_allow_networks")
    @classmethod
    def _networks(cls, value: str) -> str:
        parse_networks(_items(value))
        return value

    @property
    def allow_networks(self) -> tuple[str, ...]:
        return _items(self.checkpoint_allow_networks)


def _items(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())
