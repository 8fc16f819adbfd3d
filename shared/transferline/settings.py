"""Settings from environment variables only (12-factor), typed with pydantic-settings; the defaults give the
embedded mode. The platform's settings are here; a service's own settings subclass `ServiceSettings` beside it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from transferline.errors import ConfigurationError

PREFIX = "TRANSFERLINE_"


def listed(value: str) -> tuple[str, ...]:
    """The items of a comma-separated setting, stripped, empty ones dropped."""
    return tuple(item.strip() for item in value.split(",") if item.strip())


def _networks(value: str) -> str:
    if listed(value):  # the fetcher (and requests with it) loads only when there is something to check
        from transferline.fetch import parse_networks

        parse_networks(listed(value))
    return value


# Comma-separated CIDRs a service's fetches may reach although refused by default (private, loopback...), each
# checked at start; `listed` gives them to the fetcher.
Networks = Annotated[str, AfterValidator(_networks)]


class ServiceSettings(BaseSettings):
    """Every setting is TRANSFERLINE_<FIELD>; unknown variables are ignored, a bad value names its variable."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, frozen=True, extra="ignore", validate_default=True)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        """Read the process environment (or `environ`, e.g. an env file); bad values stop the service at start."""
        try:
            if environ is None:
                return cls()
            return cls.model_validate({name: environ[var] for name, var in cls.variables().items() if environ.get(var)})
        except ValidationError as exc:
            raise ConfigurationError(describe(cls, exc)) from None

    @classmethod
    def variables(cls) -> dict[str, str]:
        """Field name -> its environment variable."""
        return {name: PREFIX + name.upper() for name in cls.model_fields}

    def to_env(self) -> dict[str, str]:
        """The variables that reproduce these settings in another process."""
        return {var: _plain(getattr(self, name)) for name, var in self.variables().items()}

    def described(self) -> list[tuple[str, str, str, str]]:
        """(variable, value shown, where it came from, default shown) for each setting; secrets are masked."""
        rows = []
        for name, var in self.variables().items():
            default = type(self).model_fields[name].get_default(call_default_factory=True)
            source = "environment" if name in self.model_fields_set else "default"
            rows.append((var, _shown(getattr(self, name)), source, _shown(default)))
        return rows


class Settings(ServiceSettings):
    """The platform's settings: which bus and store, where they are, and how the runner behaves."""

    bus: Literal["embedded", "kafka"] = "embedded"
    store: Literal["filesystem", "s3"] = "filesystem"
    data_dir: Path = Path("var/data")
    kafka_bootstrap: str = "127.0.0.1:9092"
    topic_partitions: int = 3
    s3_endpoint: str = ""
    s3_access_key: str = ""
    s3_secret_key: SecretStr = SecretStr("")
    s3_region: str = "us-east-1"
    bucket: str = "transferline"
    multipart_threshold_mb: int = 16
    http_host: str = "0.0.0.0"
    http_port: int = 9400
    retry_attempts: int = 5
    retry_base_seconds: float = 0.5
    retry_cap_seconds: float = 30.0
    poll_seconds: float = 1.0
    max_poll_interval_seconds: int = 1800
    log_level: str = "INFO"
    log_format: Literal["json", "text"] = "json"

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.store == "s3" and not self.s3_endpoint:
            raise ValueError(f"{PREFIX}STORE=s3 needs {PREFIX}S3_ENDPOINT")
        if self.topic_partitions < 1 or self.retry_attempts < 1:
            raise ValueError(f"{PREFIX}TOPIC_PARTITIONS and {PREFIX}RETRY_ATTEMPTS must be >= 1")
        return self


def describe(model: type[ServiceSettings], exc: ValidationError) -> str:
    """One line per problem, naming the environment variable rather than the field."""
    problems = []
    for error in exc.errors(include_url=False):
        field = str(error["loc"][0]) if error["loc"] else ""
        where = model.variables().get(field, "settings")
        problems.append(f"{where}: {error['msg'].removeprefix('Value error, ')}")
    return "bad setting: " + "; ".join(problems)


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines (as `deploy/local/infra.sh up` writes them); blank lines and comments are skipped."""
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line and not line.startswith("#"))
    return {name.strip(): value.strip() for name, value in pairs}


def _shown(value: Any) -> str:
    """A value as `transferline settings` prints it: a secret only says whether it is set."""
    if isinstance(value, SecretStr):
        return "****" if value.get_secret_value() else ""
    return _plain(value)


def _plain(value: Any) -> str:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return "" if value is None else str(value)
