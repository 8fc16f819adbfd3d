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
