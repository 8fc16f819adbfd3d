"""The downloader's own settings (the platform's are in transferline.settings)."""

from __future__ import annotations

from pydantic import Field

from transferline.settings import Networks, ServiceSettings, listed

USER_AGENT = "transferline-downloader/0.1 (image dataset builder; honours X-Robots-Tag noai)"


class DownloaderSettings(ServiceSettings):
    download_allow_networks: Networks = Field(
        "", description="comma-separated CIDRs image URLs may reach although refused (private, loopback...)"
    )
    download_user_agent: str = Field(USER_AGENT, min_length=1, max_length=300)
    download_honour_opt_out: bool = Field(True, description="refuse images served with X-Robots-Tag noai/noimageai")
    download_public_base_url: str = Field(
        "", description="labelbox_import.json row_data = this + the image key; empty: presigned store URLs"
    )
    download_presign_seconds: int = Field(7 * 24 * 3600, ge=60, le=7 * 24 * 3600)

    @property
    def allow_networks(self) -> tuple[str, ...]:
        return listed(self.download_allow_networks)
