"""The converter's own settings (the platform's are in transferline.settings)."""

from __future__ import annotations

from pydantic import Field, SecretStr

from transferline.settings import ServiceSettings


class ConverterSettings(ServiceSettings):
    labelbox_api_key: SecretStr = Field(SecretStr(""), description="fetches Labelbox mask URLs; never logged")
