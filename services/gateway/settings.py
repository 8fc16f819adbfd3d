"""The gateway's own settings, beside the platform's (it is a Flask app served by gunicorn, not a stage)."""

from __future__ import annotations

import secrets

from pydantic import Field, SecretStr

from transferline.errors import ConfigurationError
from transferline.settings import PREFIX, Settings


class GatewaySettings(Settings):
    api_token: SecretStr = Field(
        SecretStr(""), description="bearer token for mutating routes; required with Kafka or S3, generated if embedded"
    )
    protect_reads: bool = Field(False, description="reads need the token too")
    max_upload_mb: int = Field(512, ge=1, description="largest request body (a labelling export), in MiB")
    gateway_port: int = Field(8000, ge=0, le=65535)
    gateway_workers: int = Field(2, ge=1, le=64, description="gunicorn worker processes")
    gateway_timeout_seconds: int = Field(
        300, ge=10, le=3600, description="gunicorn worker timeout: one request (a large export upload) must fit in it"
    )
    presign_seconds: int = Field(3600, ge=60, le=7 * 24 * 3600, description="lifetime of artifact download links")

    @property
    def in_stack(self) -> bool:
        return self.bus == "kafka" or self.store == "s3"


def with_token(settings: GatewaySettings) -> tuple[GatewaySettings, bool]:
    """The settings with a token, and whether it was generated: the stack refuses to start without one; the
    embedded mode makes one (for this run only) so that nothing mutating is ever open."""
    if settings.api_token.get_secret_value():
        return settings, False
    if settings.in_stack:
        raise ConfigurationError(f"{PREFIX}API_TOKEN is required when the bus is Kafka or the store is S3")
    return settings.model_copy(update={"api_token": SecretStr(secrets.token_urlsafe(32))}), True
