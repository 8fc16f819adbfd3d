"""The stage runner: consume, validate, skip what is done, handle with retries, record, emit, chain."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from types import FrameType
from typing import Any, TypeVar

from transferline import events, fanout, jobs, keys, metrics, plans, status
from transferline.bus import Bus, Consumer, Message
from transferline.errors import Cancelled, ConfigurationError, Interrupted, InvalidInput, TransientError
from transferline.events import Event, Registry
from transferline.fanout import ChunkedRequest, ChunkedStage, ChunkRef, ChunkResult
from transferline.logs import log_context
from transferline.payloads import (
    OUTCOMES,
    DeadLetter,
    FailureReason,
    StageRequest,
)
from transferline.retry import Backoff, RetriesExhausted, call_with_retries
from transferline.settings import Settings
from transferline.stage import Stage, StageContext, StageResult
from transferline.store import Store
from transferline.text import safe, safe_data

log = logging.getLogger(__name__)
T = TypeVar("T")
PROGRESS_INTERVAL_SECONDS = 1.0


@dataclass
class Runner:
    stage: Stage
    settings: Settings
    bus: Bus
    store: Store
    registry: Registry = events.REGISTRY
    stopping: threading.Event = field(default_factory=threading.Event)
    ready: bool = False

    def __post_init__(self) -> None:
        self.registry.register_stage(self.stage.name, self.stage.Request)

    @property
    def source(self) -> str:
        return f"transferline/{self.stage.name}"

    @property
    def backoff(self) -> Backoff:
        return Backoff(self.settings.retry_base_seconds, self.settings.retry_cap_seconds)

    def run(self, max_events: int | None = None) -> int:
        """Serve until SIGTERM/SIGINT or `max_events` messages; returns how many messages were taken."""
        self._trap_signals()
        self._forever(self.store.ensure_bucket)
        self._forever(lambda: self.bus.ensure_topics(self._topics()))
        consumer = self._forever(lambda: self.bus.consumer(events.request_topic(self.stage.name), self.stage.name))
        self.ready = True
        taken = 0
        try:
            while not self.stopping.is_set() and (max_events is None or taken < max_events):
                for message in self._poll(consumer):
                    self._forever(functools.partial(self.process, message, consumer))
                    # Retried alone: a commit refused mid-rebalance must not redo the work and re-emit its events.
                    self._forever(functools.partial(consumer.commit, message))
                    taken += 1
        except TransientError:
            # _forever re-raises only once stopping: the message stays uncommitted and comes back after restart
            log.info("stopped with a message uncommitted; it will be delivered again")
        finally:
            self.ready = False
            consumer.close()
        return taken

    def stop(self) -> None:
        self.stopping.set()

    def process(self, message: Message, consumer: Consumer) -> None:
        """Handle one message end to end; the loop commits its offset afterwards, once the status is written.

        Whatever goes wrong for this one message (its envelope, its status document, a key the store refuses, a
        bug) ends as a `.failed` event or a dead letter and the message is then committed, so it cannot stop the
        loop on every restart. Only a TransientError of the bus or store propagates: `_forever` retries the
        message, or leaves it uncommitted when the service is stopping.
        """
        work = _InHand(message)
        try:
            self._take(work, consumer)
        except TransientError:
            raise
        except Exception as exc:  # the one broad catch: nothing one message holds may kill the service
            self._contain(work, exc)

    def _take(self, work: _InHand, consumer: Consumer) -> None:
        try:
            work.event = events.parse_event(work.message.value, self.registry)
            self._check_addressed_to_me(work.event)
        except InvalidInput as exc:
            self._dead_letter(work.message, str(exc))
            return
        event = work.event
        with log_context(job_id=event.job_id, stage=event.stage, event_id=event.envelope.id):
            self._handle_event(work, consumer)

    def _handle_event(self, work: _InHand, consumer: Consumer) -> None:
        event = work.event
        assert event is not None
        request = event.payload
        assert isinstance(request, StageRequest)
        if isinstance(request, ChunkedRequest) and request.chunk is not None:
            self._handle_chunk(work, consumer, request.chunk)
            return
        try:
            digest = self._input_digest(event.job_id, request)
        except InvalidInput as exc:  # an input the request names is not one the store can hold
            work.attempt = _Attempt(event, input_digest(self.stage.name, event.job_id, request), status.now())
            self._record_failure(work.attempt, _Failure("invalid-input", str(exc)), work.message)
            return
        previous = status.read_status(self.store, event.job_id, self.stage.name)
        if previous is not None and previous.done_for(digest):
            log.info("already done for this input; re-emitting completion")
            metrics.EVENTS_HANDLED.labels(self.stage.name, "replayed").inc()
            self._complete(event, digest, previous.outputs, previous.counters, previous.seconds or 0.0, replayed=True)
            return
        work.attempt = _Attempt(event, digest, status.now())
        if self._cancelled_before_work(work):
            return
        if self._fanned_out(work, digest, consumer):
            return
        with metrics.IN_FLIGHT.labels(self.stage.name).track_inprogress():
            outcome = self._attempt(work.attempt, consumer)
        if isinstance(outcome, _Failure):
            self._record_failure(work.attempt, outcome, work.message)
        else:
            self._record_success(work.attempt, outcome)

    def _contain(self, work: _InHand, exc: Exception) -> None:
        """Turn an unexpected error into what a person can see: a `.failed` event (and status) or a dead letter."""
        failure = _Failure("internal-error", f"{type(exc).__name__}: {exc}")
        event = work.event
        if event is None:
            log.error("could not read a message", exc_info=exc)
            self._dead_letter(work.message, failure.message)
            return
        with log_context(job_id=event.job_id, stage=event.stage, event_id=event.envelope.id):
            log.error("could not process a request", exc_info=exc)
            try:
                if work.attempt is not None:
                    self._record_failure(work.attempt, failure, work.message)
                else:
                    self._outcome(event, "failed", reason=failure.reason, message=failure.message)
            except InvalidInput as second:  # its status or event is refused too: keep the message whole instead
                self._dead_letter(work.message, f"{failure.message}; reporting it failed too: {second}")

    def _input_digest(self, job_id: str, request: StageRequest) -> str:
        """The request's digest over the listing of every input the stage reads (one `list` per input)."""
        listings = []
        for entry in self.stage.inputs(request, job_id):
            prefix = self.store.key_of(entry) if "://" in entry else entry
            listings.append((entry, [(o.key, o.size, o.etag) for o in self.store.list(prefix)]))
        return input_digest(self.stage.name, job_id, request, listings)

    def _attempt(self, attempt: _Attempt, consumer: Consumer) -> StageResult | _Failure:
        event = attempt.event

        def once() -> StageResult:
            attempt.count += 1
            self._write_status(attempt, "running")
            with metrics.HANDLE_SECONDS.labels(self.stage.name).time():
                return self.stage.handle(event.payload, self._context(event, consumer))

        return self._retrying(once)

    def _retrying(self, once: Callable[[], StageResult]) -> StageResult | _Failure:
        try:
            return call_with_retries(once, self.settings.retry_attempts, self.backoff, self.stopping, self._log_retry)
        except InvalidInput as exc:
            return _Failure("invalid-input", str(exc))
        except Cancelled as exc:
            return _Failure("cancelled", str(exc))
        except RetriesExhausted as exc:
            if isinstance(exc.last, Interrupted):
                raise exc.last from None  # saved work, service stopping: no failure, the message comes back
            return _Failure("retries-exhausted", str(exc))
        # A bug in the stage goes on to `process`, which records it as this attempt's internal-error failure.

    def _fanned_out(self, work: _InHand, digest: str, consumer: Consumer) -> bool:
        """Split a request over many items into chunk requests, one bus key each (fanout.py); False when the
        stage does not fan out or one request is enough."""
        event = work.event
        assert event is not None
        request = event.payload
        if not isinstance(self.stage, ChunkedStage) or not isinstance(request, ChunkedRequest):
            return False
        try:
            items = self.stage.count_items(request, self._context(event, consumer))
            chunks = fanout.split(request, items, digest, event.envelope.id)
        except InvalidInput:
            return False  # handle meets the same problem and reports it as usual
        if not chunks:
            return False
        assert work.attempt is not None
        self._write_status(work.attempt, "running")
        topic = events.request_topic(self.stage.name)
        for chunk in chunks:
            assert chunk.chunk is not None
            payload = chunk.model_dump(mode="json")
            part = events.make_event(self.stage.name, "requested", event.job_id, payload, self.source, self.registry)
            self.bus.publish(topic, fanout.bus_key(event.job_id, chunk.chunk), part.to_json())
        log.info("fanned out", extra={"chunks": len(chunks), "items": items})
        return True

    def _handle_chunk(self, work: _InHand, consumer: Consumer, chunk: ChunkRef) -> None:
        """Do one chunk unless its marker exists; whoever completes the set merges, exactly once (fanout.py)."""
        event = work.event
        assert event is not None
        parent = dataclasses.replace(
            event,
            envelope=event.envelope.model_copy(update={"id": chunk.parent}),
            payload=event.payload.model_copy(update={"chunk": None}),
        )
        work.attempt = _Attempt(parent, chunk.group, status.now())
        job, name = event.job_id, self.stage.name
        if self._cancelled_before_work(work):
            return
        if fanout.done_result(self.store, job, name, chunk) is None:
            done = self._retrying(lambda: self.stage.handle(event.payload, self._context(event, consumer)))
            if isinstance(done, _Failure):
                self._record_failure(work.attempt, done, work.message)
                return
            fanout.record_done(self.store, job, name, chunk, done)
        parts = fanout.finished(self.store, job, name, chunk)
        if parts is None or not fanout.claim_merge(self.store, job, name, chunk):
            return
        previous = status.read_status(self.store, job, name)
        if previous is not None and previous.done_for(chunk.group):
            return  # the merging chunk's redelivery, after it had completed
        merged = self._retrying(lambda: self._merge(parent, consumer, parts))
        if isinstance(merged, _Failure):
            self._record_failure(work.attempt, merged, work.message)
        else:
            self._record_success(work.attempt, merged)

    def _merge(self, parent: Event, consumer: Consumer, parts: list[ChunkResult]) -> StageResult:
        assert isinstance(self.stage, ChunkedStage)
        return self.stage.merge(parent.payload, self._context(parent, consumer), parts)

    def _record_success(self, attempt: _Attempt, result: StageResult) -> None:
        outputs = {name: self.store.uri(key) for name, key in result.outputs.items()}
        done = self._write_status(attempt, "succeeded", outputs=outputs, counters=result.counters)
        metrics.EVENTS_HANDLED.labels(self.stage.name, "succeeded").inc()
        log.info("stage succeeded", extra={"seconds": done.seconds, "counters": result.counters})
        self._complete(attempt.event, attempt.digest, outputs, result.counters, done.seconds or 0.0, replayed=False)

    def _cancelled_before_work(self, work: _InHand) -> bool:
        """A request of a cancelled job ends before any work: status `cancelled`, a `.failed` event (reason
        `cancelled`), nothing chained."""
        attempt = work.attempt
        assert attempt is not None
        if not plans.is_cancelled(self.store, attempt.event.job_id):
            return False
        self._record_failure(attempt, _Failure("cancelled", _cancel_message(attempt.event.job_id)), work.message)
        return True

    def _record_failure(self, attempt: _Attempt, failure: _Failure, message: Message) -> None:
        state: status.State = "cancelled" if failure.reason == "cancelled" else "failed"
        self._write_status(attempt, state, error=failure.message)
        metrics.EVENTS_HANDLED.labels(self.stage.name, "failed").inc()
        metrics.FAILURES.labels(self.stage.name, failure.reason).inc()
        log.warning("stage failed", extra={"reason": failure.reason, "error": failure.message})
        self._outcome(attempt.event, "failed", reason=failure.reason, message=failure.message, attempts=attempt.count)
        if failure.reason == "retries-exhausted":
            self._dead_letter(message, failure.message)  # kept whole, so it can be replayed once the cause is fixed

    def _complete(
        self,
        event: Event,
        digest: str,
        outputs: dict[str, str],
        counters: dict[str, float],
        seconds: float,
        replayed: bool,
    ) -> None:
        request = event.payload
        assert isinstance(request, StageRequest)
        # Read before the completion is emitted: a store outage here retries the message without a second completion.
        chain = bool(request.plan) and not plans.is_cancelled(self.store, event.job_id)
        if request.plan and not chain:
            log.info("the job was cancelled; the plan's next step is not started")
        self._outcome(
            event,
            "completed",
            input_digest=digest,
            outputs=outputs,
            counters=counters,
            seconds=seconds,
            replayed=replayed,
        )
        if chain:
            self._chain(event, request)

    def _chain(self, event: Event, request: StageRequest) -> None:
        """Start the next stage of the job's plan; chaining lives here, so no orchestrator is needed."""
        step, *rest = request.plan
        payload = {**step.options, "plan": [s.model_dump(mode="json") for s in rest]}
        try:
            stage = self._next_stage(step.stage)
            next_event = events.make_event(stage, "requested", event.job_id, payload, self.source, self.registry)
        except (InvalidInput, ConfigurationError) as exc:
            message = f"the plan's next step {step.stage!r} is not a valid request: {exc}"
            self._outcome(event, "failed", reason="invalid-input", message=message)
            return
        self._forever(lambda: self.bus.ensure_topics([next_event.topic]))  # its service may not have started yet
        self._publish(next_event)

    def _next_stage(self, ref: str) -> str:
        return jobs.known_stage(ref, self.registry)[0]

    def _outcome(self, event: Event, kind: str, **fields: Any) -> None:
        """Emit <stage>.completed / failed / progress in answer to the request `event`."""
        # Messages and counter names may quote an upload's lone surrogates; replaced here, before any model holds them.
        payload = OUTCOMES[kind](stage=self.stage.name, request_id=event.envelope.id, **safe_data(fields))
        self._publish(events.make_event(self.stage.name, kind, event.job_id, payload, self.source, self.registry))

    def _publish(self, event: Event) -> None:
        self.bus.publish(event.topic, event.job_id, event.to_json())

    def _dead_letter(self, message: Message, reason: str) -> None:
        log.warning("dead-lettered a message", extra={"reason": reason, "offset": message.offset})
        metrics.EVENTS_HANDLED.labels(self.stage.name, "dead-lettered").inc()
        letter = DeadLetter(
            reason=safe(reason),
            source_topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            service=self.source,
            original=message.value.decode("utf-8", "replace"),
        )
        job = fanout.job_of_key(message.key)  # a chunk request's key is <job>#<chunk>
        subject = job if _is_job_id(job) else "unknown"
        self._publish(events.make_event("dlq", "dead-letter", subject, letter, self.source))

    def _check_addressed_to_me(self, event: Event) -> None:
        if event.kind != "requested" or event.stage != self.stage.name:
            raise InvalidInput(f"{event.envelope.type} does not belong on {events.request_topic(self.stage.name)}")

    def _context(self, event: Event, consumer: Consumer) -> StageContext:
        last = [0.0]

        def report(done: int, total: int | None, message: str, values: dict[str, float]) -> None:
            consumer.heartbeat()
            if time.monotonic() - last[0] >= PROGRESS_INTERVAL_SECONDS or done == total:
                last[0] = time.monotonic()
                self._progress(event, done=done, total=total, message=message, metrics=values)

        return StageContext(
            job_id=event.job_id,
            request_id=event.envelope.id,
            settings=self.settings,
            store=self.store,
            log=log,
            report_progress=report,
            stopping=self.stopping,
        )

    def _progress(self, event: Event, **fields: Any) -> None:
        """Record and emit a progress report; this is also where a running stage learns that its job was
        cancelled (Cancelled stops its work)."""
        record = status.StageProgressRecord(
            stage=self.stage.name, request_id=event.envelope.id, at=status.now(), **fields
        )
        status.write_progress(self.store, event.job_id, record)
        self._outcome(event, "progress", **fields)
        if plans.is_cancelled(self.store, event.job_id):
            raise Cancelled(_cancel_message(event.job_id))

    def _write_status(
        self,
        attempt: _Attempt,
        state: status.State,
        *,
        outputs: dict[str, str] | None = None,
        counters: dict[str, float] | None = None,
        error: str | None = None,
    ) -> status.StageStatus:
        ended = None if state == "running" else status.now()
        document = status.StageStatus(
            stage=self.stage.name,
            job_id=attempt.event.job_id,
            state=state,
            request_id=attempt.event.envelope.id,
            input_digest=attempt.digest,
            attempts=attempt.count,
            outputs=outputs or {},
            counters=counters or {},
            error=error,
            started_at=attempt.started,
            finished_at=ended,
            seconds=round((ended - attempt.started).total_seconds(), 3) if ended else None,
        )
        status.write_status(self.store, document)
        return document

    def _poll(self, consumer: Consumer) -> list[Message]:
        try:
            messages = consumer.poll(self.settings.poll_seconds)
        except TransientError as exc:
            log.warning("poll failed; retrying", extra={"error": str(exc)})
            self.stopping.wait(self.backoff.delay(3))
            return []
        return messages

    def _forever(self, action: Callable[[], T]) -> T:
        """Runner bookkeeping (bus, store) must not lose a message: retry transient failures until stopped."""
        attempt = 0
        while True:
            try:
                return action()
            except TransientError as exc:
                attempt += 1
                self.ready = False
                if self.stopping.is_set():
                    raise
                delay = self.backoff.delay(min(attempt, 10))
                log.warning("bus or store unavailable; retrying", extra={"error": str(exc), "delay": delay})
                self.stopping.wait(delay)

    def _log_retry(self, attempt: int, exc: TransientError, delay: float) -> None:
        log.warning(
            "transient failure; retrying", extra={"attempt": attempt, "error": str(exc), "delay": round(delay, 3)}
        )

    def _topics(self) -> list[str]:
        return [events.request_topic(self.stage.name), events.EVENTS_TOPIC, events.DLQ_TOPIC]

    def _trap_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signals can only be trapped on the main thread (tests run runners in threads)

        def on_signal(signum: int, _frame: FrameType | None) -> None:
            log.info("stopping after the current message", extra={"signal": signal.Signals(signum).name})
            self.stop()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)


Listing = tuple[str, list[tuple[str, int, str]]]  # an input as the stage named it, and (key, size, etag) under it


def input_digest(stage: str, job_id: str, request: StageRequest, inputs: list[Listing] | None = None) -> str:
    """What makes two requests 'the same work': stage, job, options and what the stage reads (every object's key,
    size and etag under its inputs); the plan only says what comes next."""
    body = request.model_dump(mode="json", exclude={"plan"})
    canonical = json.dumps({"stage": stage, "job": job_id, "request": body}, sort_keys=True, ensure_ascii=True)
    digest = hashlib.sha256(canonical.encode())
    for entry, objects in inputs or []:
        digest.update(json.dumps(["input", entry]).encode())  # so moving an object to another input counts
        for key, size, etag in objects:
            digest.update(json.dumps([key, size, etag]).encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class _Failure:
    """Why handling a request failed; the runner turns it into a status document and a .failed event."""

    reason: FailureReason
    message: str


@dataclass
class _InHand:
    """The message being processed and how far it got, so an unexpected error is reported where it happened."""

    message: Message
    event: Event | None = None
    attempt: _Attempt | None = None


@dataclass
class _Attempt:
    """One request being worked on: what the status document needs to say about it."""

    event: Event
    digest: str
    started: datetime
    count: int = 0


def _cancel_message(job_id: str) -> str:
    return f"job {job_id} was cancelled"


def _is_job_id(value: str) -> bool:
    try:
        keys.check_id(value)
    except InvalidInput:
        return False
    return True
