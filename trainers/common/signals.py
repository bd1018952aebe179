"""SIGTERM/SIGINT as a flag: the training loop checks it at every batch and stops cleanly.

The handler never raises (an exception thrown inside an arbitrary frame could leave a half-written file); a
second signal of the same kind restores the default action and re-delivers it, so a stuck trial still dies.
"""

from __future__ import annotations

import os
import signal
from types import FrameType

from hpoctl.trainers.common.errors import TrialInterrupted

HANDLED = (signal.SIGTERM, signal.SIGINT)
_received: int | None = None


def _handler(signum: int, frame: FrameType | None) -> None:
    global _received
    if _received is None:
        _received = signum
        return
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def install() -> None:
    """Catch SIGTERM and SIGINT from now on (call before the slow imports)."""
    for signum in HANDLED:
        signal.signal(signum, _handler)


def received() -> int | None:
    """The first termination signal received, or None."""
    return _received


def check() -> None:
    """Raise :class:`TrialInterrupted` if a termination signal arrived."""
    if _received is not None:
        raise TrialInterrupted(_received)


def reset() -> None:
    """Forget a received signal (tests)."""
    global _received
    _received = None


__all__ = ["HANDLED", "check", "install", "received", "reset"]
