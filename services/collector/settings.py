"""The collector's own settings: each provider's base URL, key and pacing (the platform's are in
transferline.settings). Base URLs are settings so tests and mirrors can point a provider elsewhere."""

from __future__ import annotations

from pydantic import Field, HttpUrl, SecretStr, field_validator

from transferline.settings import PREFIX, ServiceSettings

USER_AGENT = "transferline-collector/0.1 (image dataset builder; {contact})"


class CollectorSettings(ServiceSettings):
    openverse_url: str = "https://api.openverse.org"
    openverse_client_id: str = Field("", description="with the secret: a token allows pages of 50 (else 20)")
    openverse_client_secret: SecretStr = SecretStr("")
    openverse_interval_seconds: float = Field(1.0, ge=0, le=3600, description="least time between two requests")
    wikimedia_url: str = "https://commons.wikimedia.org"
    wikimedia_interval_seconds: float = Field(1.0, ge=0, le=3600)
    brave_url: str = "https://api.search.brave.com"
    brave_api_key: SecretStr = SecretStr("")
    brave_interval_seconds: float = Field(1.1, ge=0, le=3600, description="Brave's free plan allows 1 request/s")
    flickr_url: str = "https://api.flickr.com"
    flickr_api_key: SecretStr = SecretStr("")
    flickr_interval_seconds: float = Field(1.0, ge=0, le=3600)
    google_cse_url: str = "https://customsearch.googleapis.com"
    google_cse_api_key: SecretStr = SecretStr("")
    google_cse_cx: str = Field("", description="the Programmable Search Engine id")
    google_cse_interval_seconds: float = Field(0.5, ge=0, le=3600)
    collector_contact: str = Field("", description="an email or URL put in the User-Agent (Wikimedia asks for one)")
    collector_attempts: int = Field(4, ge=1, le=20, description="tries per provider request (429, 503, maxlag)")
    collector_max_wait_seconds: float = Field(
        120.0, ge=0, le=86400, description="a Retry-After longer than this fails the provider instead of waiting"
    )
    collector_timeout_seconds: float = Field(30.0, gt=0, le=600, description="per provider request")

    @field_validator("openverse_url", "wikimedia_url", "brave_url", "flickr_url", "google_cse_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        HttpUrl(value)  # raises with pydantic's message when it is no http(s) URL
        return value.rstrip("/")

    def setting(self, field: str) -> str:
        """The environment variable of a field, for messages that tell people what to set."""
        return PREFIX + field.upper()

    @property
    def user_agent(self) -> str:
        """Descriptive, with a contact when one is set (Wikimedia's User-Agent policy asks for one)."""
        contact = self.collector_contact.strip() or "no contact set: TRANSFERLINE_COLLECTOR_CONTACT"
        return USER_AGENT.format(contact=contact)
