"""The converter's own settings (the platform's are in transferline.settings)."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator

from transferline.settings import Networks, ServiceSettings, listed

LABELBOX_HOSTS = "api.labelbox.com,storage.labelbox.com,.labelbox.com"


class ConverterSettings(ServiceSettings):
    labelbox_api_key: SecretStr = Field(SecretStr(""), description="fetches Labelbox mask URLs; never logged")
    labelbox_key_hosts: str = Field(
        LABELBOX_HOSTS,
        description="comma-separated hosts the API key is sent to (over https): exact, or '.suffix' for subdomains",
    )
    mask_allow_networks: Networks = Field(
        "", description="comma-separated CIDRs mask URLs may reach although private (e.g. an on-premises store)"
    )
    mask_fetch_seconds: float = Field(30.0, gt=0, le=3600, description="deadline for fetching one mask URL")

    @field_validator("labelbox_key_hosts")
    @classmethod
    def _hosts(cls, value: str) -> str:
        if any(not host.strip(".") or "/" in host or ":" in host for host in _hosts_of(value)):
            raise ValueError(f"give host names such as api.labelbox.com or .labelbox.com, got {value!r}")
        return value

    @property
    def key_hosts(self) -> tuple[str, ...]:
        return _hosts_of(self.labelbox_key_hosts)

    @property
    def allow_networks(self) -> tuple[str, ...]:
        return listed(self.mask_allow_networks)


def _hosts_of(value: str) -> tuple[str, ...]:
    return tuple(host.lower() for host in listed(value))
