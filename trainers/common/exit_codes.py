"""Exit codes and trial statuses of the trainer contract, re-exported for the trainers from
:mod:`hpoctl.trainer_contract`, which owns them so that the core need not import a trainer package."""

from __future__ import annotations

from hpoctl.trainer_contract import ExitCode, TrialStatus

__all__ = ["ExitCode", "TrialStatus"]
