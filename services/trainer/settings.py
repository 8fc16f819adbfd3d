"""The trainer's own settings (the platform's are in transferline.settings)."""

from __future__ import annotations

from pydantic import Field

from transferline.settings import Networks, ServiceSettings, listed


class TrainerSettings(ServiceSettings):
    checkpoint_allow_networks: Networks = Field(
        "",
        description="comma-separated CIDRs a base_checkpoint URL may reach although private (e.g. an internal "
        "model mirror); every other private, loopback or link-local address is refused",
    )
    checkpoint_fetch_seconds: float = Field(
        3600.0, gt=0, le=86400, description="deadline for downloading one base_checkpoint URL, redirects included"
    )

    @property
    def allow_networks(self) -> tuple[str, ...]:
        return listed(self.checkpoint_allow_networks)
