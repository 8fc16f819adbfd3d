"""What a stage author writes against: a `Stage` with a name, a request model and `handle()`."""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Generic, TypeVar

from transferline.payloads import StageRequest
from transferline.settings import ServiceSettings, Settings
from transferline.store import Store

RequestT = TypeVar("RequestT", bound=StageRequest)


@dataclass(frozen=True)
class StageResult:
    """Artifacts written (name -> store key) and numbers worth showing (images kept, rows dropped...)."""

    outputs: dict[str, str] = field(default_factory=dict)
    counters: dict[str, float] = field(default_factory=dict)


@dataclass
class StageContext:
    """Everything `handle` may use besides its request; the runner builds one per request."""

    job_id: str
    request_id: str
    settings: Settings
    store: Store
    log: logging.Logger
    report_progress: Callable[[int, int | None, str, dict[str, float]], None]
    stopping: threading.Event = field(default_factory=threading.Event)

    def progress(self, done: int, total: int | None = None, message: str = "", **metrics: float) -> None:
        """Tell watchers how far the work is (recorded in the store, emitted on the bus); also keeps the bus
        membership alive during long work. Raises `Cancelled` once the job is cancelled: let it propagate."""
        self.report_progress(done, total, message, metrics)

    def scratch(self, key: str) -> Path:
        """A local working folder for the artifacts at `key` (a prefix from `keys`), kept across restarts."""
        return self.settings.data_dir / "scratch" / key


class Stage(ABC, Generic[RequestT]):
    """One unit of the pipeline. The runner owns the bus, retries, status documents and metrics.

    Its module stays light: libraries only `handle` needs are imported there, so loading every installed stage
    (to publish a request, print schemas or list settings) never pulls in TensorFlow or geometry libraries.
    """

    name: ClassVar[str]
    Request: ClassVar[type[StageRequest]]
    settings_model: ClassVar[type[ServiceSettings] | None] = None  # the service's own settings, if it has any

    def inputs(self, request: RequestT, job_id: str) -> list[str]:
        """The store keys and prefixes (from `keys`), or store URIs, that `handle` reads for this request.

        The runner lists each one (one `list` call) and digests every object's key, size and etag into the input
        digest, so "already done" means done for these very inputs: a re-uploaded export is converted again.
        """
        return []

    @abstractmethod
    def handle(self, request: RequestT, ctx: StageContext) -> StageResult:
        """Do the work; raise InvalidInput for bad input, TransientError for what a retry may fix."""
