"""The three kinds of failure a stage can meet, so the runner knows what to do with each."""


class TransferlineError(Exception):
    """Base class of every error this package raises on purpose."""


class InvalidInput(TransferlineError):
    """The request or its input artifacts are wrong: retrying cannot help, a person must act."""


class TransientError(TransferlineError):
    """A passing failure (network, broker, store): the same work may succeed if retried."""


class ConfigurationError(TransferlineError):
    """Settings are wrong: the service refuses to start."""


class Interrupted(TransientError):
    """The service is stopping in the middle of long work that was saved: leave the request uncommitted,
    so a restarted service receives it again and resumes."""


class WorkFailed(InvalidInput):
    """The input was read and the work done, but too much of it was unusable; what was written says why
    (a one-shot command exits 1 for it, not 2: its arguments were fine)."""


class Conflict(InvalidInput):
    """The job is not in a state that allows this (labels for a job that does not wait for them, cancelling one
    that has ended)."""


class Cancelled(TransferlineError):
    """The job was cancelled: the stage stops where it is (raised by `ctx.progress`), and nothing chains after it.
    Not transient: a retry would only be cancelled again."""


class FieldErrors(InvalidInput):
    """Invalid input whose problems each name a field (`data.plan.0.options.steps`), so an API can return them
    one by one; the message reads as before: `<summary>: field: problem; field: problem`."""

    def __init__(self, summary: str, problems: list[tuple[str, str]]) -> None:
        super().__init__(f"{summary}: " + "; ".join(f"{field}: {message}" for field, message in problems))
        self.problems = problems
