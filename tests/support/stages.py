"""A small but real custom stage for exercising the runner: copies text into an artifact.

It records every finished piece of work in a local ledger file, so tests can count how often the work
really happened, and it can be told to wait (to be killed mid-handle) or to fail in each of the three ways.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from transferline import events, keys
from transferline.errors import InvalidInput, TransientError
from transferline.payloads import StageRequest
from transferline.stage import Stage, StageContext, StageResult


class CopyRequested(StageRequest):
    text: str
    ledger: str
    hold_while: str | None = None
    transient_failures: int = 0
    invalid: bool = False
    crash: bool = False


class CopyStage(Stage[CopyRequested]):
    # Subprocess tests pick a unique name per test so real Kafka topics and groups do not mix.
    name = os.environ.get("TRANSFERLINE_TEST_STAGE", "copy")
    Request = CopyRequested

    def __init__(self) -> None:
        self.failures_left: dict[str, int] = {}

    def handle(self, request: CopyRequested, ctx: StageContext) -> StageResult:
        if request.invalid:
            raise InvalidInput(f"text {request.text!r} was marked invalid by the test")
        if request.crash:
            raise ZeroDivisionError("a bug in the stage")
        left = self.failures_left.setdefault(ctx.job_id, request.transient_failures)
        if left > 0:
            self.failures_left[ctx.job_id] = left - 1
            raise TransientError(f"simulated outage, {left} left")
        self._hold(request, ctx)
        key = keys.custom(ctx.job_id, self.name, "copy.txt")
        ctx.store.put_bytes(key, request.text.encode(), "text/plain")
        with Path(request.ledger).open("a") as ledger:
            ledger.write(f"{ctx.job_id} {ctx.request_id}\n")
        return StageResult(outputs={"copy": key}, counters={"characters": len(request.text)})

    def _hold(self, request: CopyRequested, ctx: StageContext) -> None:
        if request.hold_while is None:
            return
        Path(request.hold_while + ".started").touch()
        while Path(request.hold_while).exists() and not ctx.stopping.is_set():
            ctx.progress(0, 1, "holding")
            time.sleep(0.05)


def stage_named(name: str) -> type[CopyStage]:
    """A CopyStage under another name, for in-process tests that need their own topic."""
    stage = type(f"CopyStage_{name}", (CopyStage,), {"name": name})
    events.REGISTRY.register_stage(name, CopyRequested)
    return stage
