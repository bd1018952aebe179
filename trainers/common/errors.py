"""Errors a trainer raises on purpose; each carries the exit code the trial runner turns it into."""

from __future__ import annotations

import signal

from hpoctl.errors import HpoctlError
from hpoctl.trainers.common.exit_codes import ExitCode


class TrainerError(HpoctlError):
    """Base of every error a trainer raises on purpose; the message is the one line shown on stderr."""

    exit_code: int = ExitCode.ERROR


class UsageError(TrainerError):
    """A bad command line: unknown flag, malformed value, unknown or contradicting target."""

    exit_code = ExitCode.USAGE


class DataError(TrainerError):
    """``--data`` is missing or malformed, or the data cannot support the target."""

    exit_code = ExitCode.DATA


class DivergedError(TrainerError):
    """The loss or a validation metric became NaN or infinite."""

    exit_code = ExitCode.DIVERGED


class OutOfMemory(TrainerError):
    """The accelerator or the host ran out of memory."""

    exit_code = ExitCode.OUT_OF_MEMORY


class TrialInterrupted(TrainerError):
    """A termination signal arrived; the trial stopped at the next batch boundary."""

    def __init__(self, signum: int) -> None:
        self.signum = int(signum)
        super().__init__(f"received {signal.Signals(self.signum).name}")

    @property
    def exit_code(self) -> int:  # type: ignore[override]
        return ExitCode.for_signal(self.signum)


__all__ = ["DataError", "DivergedError", "OutOfMemory", "TrainerError", "TrialInterrupted", "UsageError"]
