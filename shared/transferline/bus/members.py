"""Is a consumer-group member still alive? On this host a crashed process is known dead at once by its pid."""

from __future__ import annotations

import functools
import os
import socket
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Member:
    member_id: str
    host: str
    pid: int
    heartbeat: float

    def is_alive(self, now: float, session_timeout: float) -> bool:
        if now - self.heartbeat > session_timeout:
            return False
        # On this host a crashed process is known dead at once, without waiting for the session timeout.
        return self.host != host_identity() or pid_alive(self.pid)


@functools.cache
def host_identity() -> str:
    # Containers on one machine may share a hostname but not a pid namespace; pids only compare within one.
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = ""
    return f"{socket.gethostname()}/{namespace}"


def pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, it belongs to another user
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    # A killed child whose parent has not reaped it yet still answers kill(pid, 0).
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[:1] == ["Z"]
