"""A study whose objective is a Python function, run in this process (`hpoctl.optimize`): each trial calls
`objective(params, report)`, and the function reports its epochs through `report(epoch, **metrics)` as a trainer
prints its metric lines. What a trial's run gives back is the `TrialRun` a trainer process gives, so the stage
runner prunes, judges and records it the same way (a NaN, a missing metric, an exception: a failed trial with its
reason in one line).
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from hpoctl.trial_process import TrialRun

Objective = Callable[[dict[str, Any], "Report"], Any]
"""`objective(params, report)`: trains with `params`, calls `report(epoch, **metrics)` per epoch, and may return
its final metrics (a mapping) or, for one objective, its value."""


class _Stop(Exception):
    """Raised inside `report` to end the function's trial: pruned, interrupted or past its timeout."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class Report:
    """The `report` argument: call it once per epoch; its attributes say what the trial is."""

    number: int
    stage: str
    epochs: int
    seed: int
    on_epoch: Callable[[dict[str, float]], bool] | None
    stop_event: threading.Event | None
    deadline: float | None
    history: list[dict[str, float]]

    def __call__(self, epoch: int, **metrics: float) -> None:
        """Record one epoch's metrics; raises to stop the function when the trial is pruned, interrupted or over
        its time (catch nothing around it)."""
        self._check()
        row = {"epoch": float(epoch), **{name: _number(name, value) for name, value in metrics.items()}}
        self.history.append(row)
        if self.on_epoch is not None and self.on_epoch(row):
            raise _Stop("pruned")

    def _check(self) -> None:
        if self.stop_event is not None and self.stop_event.is_set():
            raise _Stop("interrupted")
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise _Stop("timeout")


def run_objective(
    objective: Objective,
    params: dict[str, Any],
    *,
    number: int,
    stage: str,
    epochs: int,
    seed: int,
    metric: str,
    on_epoch: Callable[[dict[str, float]], bool] | None = None,
    stop_event: threading.Event | None = None,
    timeout_s: float | None = None,
) -> TrialRun:
    """One trial of `objective`; `metric` names a bare number it returns (the first objective's metric)."""
    started = time.monotonic()
    report = Report(number, stage, epochs, seed, on_epoch, stop_event, started + timeout_s if timeout_s else None, [])
    run = TrialRun(exit_code=0)
    try:
        returned = objective(dict(params), report)
        if returned is not None:
            final = dict(returned) if isinstance(returned, Mapping) else {metric: returned}
            epoch = int(report.history[-1]["epoch"]) + 1 if report.history else epochs
            report.history.append({"epoch": float(epoch), **{k: _number(k, v) for k, v in final.items()}})
    except _Stop as stop:
        run.stopped_by_us, run.exit_code = stop.reason, 143
    except Exception as error:  # the trial fails with the reason; the study goes on
        frame = traceback.extract_tb(error.__traceback__)[-1]
        run.exit_code = 1
        run.error_line = " ".join(f"{type(error).__name__}: {error} (at {frame.name}:{frame.lineno})".split())[:500]
    run.history = report.history
    run.duration_s = time.monotonic() - started
    return run


def _number(name: str, value: Any) -> float:
    """A reported value as a float; nan and inf are kept, for the runner to judge as a trainer's would be."""
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"report({name}={value!r}): metrics are numbers") from None


__all__ = ["Objective", "Report", "run_objective"]
