"""Judging a body (full decode, pHash, header) is CPU work, so it runs in decoder processes, one per CPU this
process may use: the I/O threads keep the GIL for their sockets, and every core decodes. The pool is made on first
use and kept for the process's life (every chunk of a fanned-out job reuses it); its processes are spawned, never
forked from a process whose threads (bus, metrics, fetches) may hold locks, and each leaves when its parent is
gone (a SIGKILLed downloader leaves no decoder behind). A pool that breaks (a decoder process died) is made again
and the image judged there; if that one breaks too, images are judged in the calling thread from then on."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from transferline_downloader.inspect import Inspected, Limits, inspect

log = logging.getLogger(__name__)
_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None
_broken = 0  # pools that broke in this process


def inspect_in_pool(path: Path, size: int, limits: Limits) -> Inspected:
    """`inspect` in a decoder process; the calling thread waits without the GIL."""
    for _ in range(2):
        pool = _shared()
        if pool is None:
            break
        try:
            return pool.submit(inspect, path, size, limits).result()
        except BrokenProcessPool:
            _discard(pool)
    return inspect(path, size, limits)


def _shared() -> ProcessPoolExecutor | None:
    global _pool
    with _lock:
        if _pool is None and _broken < 2:
            context = multiprocessing.get_context("spawn")
            processes = len(os.sched_getaffinity(0))
            _pool = ProcessPoolExecutor(processes, context, initializer=_decoder_started, initargs=(os.getpid(),))
        return _pool


def _discard(pool: ProcessPoolExecutor) -> None:
    global _pool, _broken
    with _lock:
        if _pool is pool:
            _pool = None
            _broken += 1
            log.warning("a decoder process died", extra={"pools_broken": _broken, "next": _next()})
    pool.shutdown(wait=False, cancel_futures=True)


def _next() -> str:
    return "judging in the calling threads" if _broken >= 2 else "making the decoder processes again"


def _decoder_started(parent: int) -> None:
    """Ctrl-C reaches the whole process group: the command stops its work itself, so its decoders must not die
    under it; and a decoder leaves as soon as its parent is gone, however the parent ended."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_leave_with, args=(parent,), name="parent-watch", daemon=True).start()


def _leave_with(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)
