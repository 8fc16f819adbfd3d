"""Versioned payload models (the `data` of each event). Each stage's request model lives with its stage (its
`Request`); the base request, the outcomes and the dead letter, which every stage shares, live here."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt


class Payload(BaseModel):
    """Every payload rejects unknown fields, so a typo is an error instead of a silent default."""

    # Built at import, not deferred (defer_build): with pydantic 2.13, threads that first use a deferred model at
    # once may validate with its parent's validator (StageProgress checked as StageOutcome), pydantic PR #13438.
    model_config = ConfigDict(extra="forbid", frozen=True)
    VERSION: ClassVar[int] = 1


class PlanStep(Payload):
    """A stage to run after this one, with the options of its request."""

    stage: str = Field(min_length=1, max_length=200)
    options: dict[str, Any] = Field(default_factory=dict)


class StageRequest(Payload):
    """Base of every stage request: the work to do now and the stages to chain after it."""

    plan: list[PlanStep] = Field(default_factory=list, max_length=20)


class StageOutcome(Payload):
    """What a stage says in answer to one request: completed, failed or progress."""

    stage: str
    request_id: str = Field(description="id of the request event this answers")


class StageCompleted(StageOutcome):
    input_digest: str
    outputs: dict[str, str] = Field(default_factory=dict, description="artifact name -> URI")
    counters: dict[str, float] = Field(default_factory=dict)
    seconds: float = 0.0
    replayed: bool = Field(False, description="true when the work had been done already (redelivery)")


FailureReason = Literal["invalid-input", "retries-exhausted", "internal-error", "cancelled"]


class StageFailed(StageOutcome):
    reason: FailureReason
    message: str
    attempts: NonNegativeInt = 0


class StageProgress(StageOutcome):
    done: NonNegativeInt = 0
    total: NonNegativeInt | None = None
    message: str = ""
    metrics: dict[str, float] = Field(default_factory=dict)


class DeadLetter(Payload):
    """What could not be processed, with why, kept whole so it can be replayed."""

    reason: str
    source_topic: str
    partition: NonNegativeInt
    offset: NonNegativeInt
    service: str
    original: str = Field(description="the original message, decoded as UTF-8 with replacement")


OUTCOMES: dict[str, type[StageOutcome]] = {
    "completed": StageCompleted,
    "failed": StageFailed,
    "progress": StageProgress,
}
