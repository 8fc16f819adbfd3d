"""JSON log lines that carry the job id, stage and event id of the work in hand."""

from __future__ import annotations

import contextvars
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from transferline.text import safe, safe_data

_CONTEXT: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("transferline_log", default=None)
# Attributes every LogRecord has; anything else was passed with `extra=` and belongs in the line.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


@contextmanager
def log_context(**fields: str) -> Iterator[None]:
    """Add fields (job_id, stage, event_id, ...) to every line logged inside the block."""
    token = _CONTEXT.set({**(_CONTEXT.get() or {}), **fields})
    try:
        yield
    finally:
        _CONTEXT.reset(token)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **(_CONTEXT.get() or {}),
            **{k: v for k, v in vars(record).items() if k not in _STANDARD},
        }
        if record.exc_info:
            line["traceback"] = self.formatException(record.exc_info)
        # A line must be valid UTF-8 JSON whatever a message or field quotes (an upload's lone surrogates).
        return json.dumps(safe_data(line), default=_shown)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        context = " ".join(f"{k}={v}" for k, v in (_CONTEXT.get() or {}).items())
        return safe(f"{super().format(record)} {context}".rstrip())


def _shown(value: object) -> str:
    """Fields json cannot encode are logged as text."""
    return safe(str(value))


def configure(level: str = "INFO", fmt: str = "json") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Client libraries are chatty at INFO; their warnings still come through.
    for noisy in ("kafka", "botocore", "boto3", "urllib3", "s3transfer"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
