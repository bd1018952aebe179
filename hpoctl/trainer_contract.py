"""The trainer contract's constants (exit codes, statuses, the metric-line regex), owned by the core so that the
core reads trainer processes without importing a trainer package; ``hpoctl.trainers.common`` re-exports them.

A trainer prints one ``epoch=N name=value ...`` line per epoch on stdout, each pair matched whole by
:data:`KATIB_STDOUT_REGEX`, and ends with an :class:`ExitCode`.
"""

from __future__ import annotations

import enum
import re
import signal

CHECK_DATA_FLAG = "--check-data"
"""Optional switch: read ``--data`` as training would, print each problem on stderr as ``DATA_PROBLEM`` + text
(exit ``ExitCode.DATA``) or one ``DATA_OK`` + summary line on stdout (exit 0), and train nothing."""
DATA_PROBLEM = "data problem: "
DATA_OK = "data ok: "
#: A saved model's folder (`--save-model`): the checkpoint, the run's arguments, the epoch kept and its metrics.
MODEL_CHECKPOINT = "model.ckpt"
MODEL_HYPERPARAMETERS = "hyperparameters.yaml"
MODEL_INFO = "model.json"

KATIB_STDOUT_REGEX = re.compile(r"([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?)")
"""Katib's default StdOut metrics-collector filter (v1beta1 ``DefaultFilter``)."""


class ExitCode(enum.IntEnum):
    """How a trainer process ends; backends map these to trial states."""

    OK = 0
    """Every epoch ran."""
    ERROR = 1
    """Anything unexpected (one line on stderr; a traceback with ``HPOCTL_DEBUG=1``)."""
    USAGE = 2
    """Unknown or malformed argument, unknown target, contradicting target arguments."""
    DIVERGED = 3
    """The loss (or a validation metric) became NaN or infinite: the hyperparameters diverged."""
    DATA = 4
    """``--data`` is missing or malformed, or the data cannot support the target."""
    OUT_OF_MEMORY = 5
    """The accelerator or the host ran out of memory."""
    INTERRUPTED = 128 + signal.SIGTERM
    """SIGTERM (pre-emption, Katib early stopping, a pruner) stopped the trial at a batch boundary: 143."""

    @classmethod
    def for_signal(cls, signum: int) -> int:
        """The shell convention ``128 + signum`` (143 for SIGTERM, 130 for SIGINT)."""
        return 128 + int(signum)


class TrialStatus(str, enum.Enum):
    """``status`` in ``metrics.json``; ``running`` only while the trainer is alive (a SIGKILL leaves it)."""

    RUNNING = "running"
    COMPLETED = "completed"
    INTERRUPTED = "interrupted"
    FAILED = "failed"

    @classmethod
    def for_exit_code(cls, code: int) -> TrialStatus:
        """The status a process with this exit code leaves behind."""
        if code == ExitCode.OK:
            return cls.COMPLETED
        if code > 128:
            return cls.INTERRUPTED
        return cls.FAILED


__all__ = ["KATIB_STDOUT_REGEX", "ExitCode", "TrialStatus"]
