"""Every setting, read from environment variables in one place; the defaults give the embedded mode."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal

from transferline.errors import ConfigurationError

PREFIX = "TRANSFERLINE_"


@dataclass(frozen=True)
class Settings:
    bus: Literal["embedded", "kafka"] = "embedded"
    store: Literal["filesystem", "s3"] = "filesystem"
    data_dir: Path = Path("var/data")
    kafka_bootstrap: str = "127.0.0.1:9092"
    topic_partitions: int = 3
    s3_endpoint: str = ""
    s3_access_key: str = ""
    s3_secret_key: str = ""
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
    labelbox_api_key: str = ""  # fetches Labelbox masks (their URLs need it); never logged

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read TRANSFERLINE_<FIELD> variables; an unparseable value stops the service at start."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field in fields(cls):
            raw = env.get(PREFIX + field.name.upper())
            if raw is not None and raw != "":
                values[field.name] = _parse(field.name, field.type, raw)
        settings = cls(**values)
        settings.validate()
        return settings

    def to_env(self) -> dict[str, str]:
        """The variables that reproduce these settings in another process."""
        return {PREFIX + field.name.upper(): str(getattr(self, field.name)) for field in fields(self)}

    def validate(self) -> None:
        if self.bus not in ("embedded", "kafka"):
            raise ConfigurationError(f"{PREFIX}BUS must be 'embedded' or 'kafka', not {self.bus!r}")
        if self.store not in ("filesystem", "s3"):
            raise ConfigurationError(f"{PREFIX}STORE must be 'filesystem' or 's3', not {self.store!r}")
        if self.store == "s3" and not self.s3_endpoint:
            raise ConfigurationError(f"{PREFIX}STORE=s3 needs {PREFIX}S3_ENDPOINT")
        if self.topic_partitions < 1 or self.retry_attempts < 1:
            raise ConfigurationError(f"{PREFIX}TOPIC_PARTITIONS and {PREFIX}RETRY_ATTEMPTS must be >= 1")


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines (as `deploy/local/infra.sh up` writes them); blank lines and comments are skipped."""
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line and not line.startswith("#"))
    return {name.strip(): value.strip() for name, value in pairs}


def _parse(name: str, kind: object, raw: str) -> object:
    converters = {"int": int, "float": float, "Path": Path}
    convert = converters.get(str(kind), str)
    try:
        return convert(raw)
    except ValueError as exc:
        raise ConfigurationError(f"{PREFIX}{name.upper()}={raw!r} is not a valid {kind}") from exc
