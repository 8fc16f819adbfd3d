"""Bus and store clients, opened lazily in each process: gunicorn forks its workers after the app may have been
built, and a Kafka producer or SQLite connection must not cross a fork."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field

from transferline.bus import Bus, open_bus
from transferline.settings import Settings
from transferline.store import Store, open_store


@dataclass
class Clients:
    settings: Settings
    _pid: int = 0
    _bus: Bus | None = None
    _store: Store | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def store(self) -> Store:
        with self._lock:
            self._forget_if_forked()
            if self._store is None:
                self._store = open_store(self.settings)
            return self._store

    @property
    def bus(self) -> Bus:
        with self._lock:
            self._forget_if_forked()
            if self._bus is None:
                self._bus = open_bus(self.settings)
            return self._bus

    def _forget_if_forked(self) -> None:
        """Clients opened by a parent process are dropped unused (never closed here: they are the parent's)."""
        if self._pid != os.getpid():
            self._pid, self._bus, self._store = os.getpid(), None, None
