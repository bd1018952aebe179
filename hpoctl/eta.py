"""How long a study has left, from the pace of its trials so far.

A stage's pace is the wall time since its first trial started, divided by the trials it has finished: it counts
the trials that run side by side without knowing how many do. A stage that has not started yet is given the
pace of the last stage that has one, scaled by their epochs, since a trial's time grows with its epochs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import optuna

from hpoctl import trial_record as rec
from hpoctl.plan import Plan

FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL)


@dataclass(frozen=True)
class StagePace:
    """One stage's budget and how far it has got: `elapsed` seconds since its first trial started."""

    epochs: int
    budget: int
    finished: int
    elapsed: float | None

    @property
    def seconds_per_trial(self) -> float | None:
        if self.finished <= 0 or not self.elapsed:
            return None
        return self.elapsed / self.finished


def remaining_seconds(stages: Sequence[StagePace]) -> float | None:
    """Seconds until the last stage's budget is spent, or None where no stage has a pace to go by."""
    total, known = 0.0, None
    for stage in stages:
        pace = stage.seconds_per_trial
        if pace is not None:
            known = (pace, stage.epochs)
        left = max(stage.budget - stage.finished, 0)
        if not left:
            continue
        if known is None:
            return None
        total += left * known[0] * (stage.epochs / known[1] if known[1] else 1.0)
    return total


def study_paces(study: optuna.Study, plan: Plan, now: dt.datetime | None = None) -> list[StagePace]:
    """Each of `plan`'s stages' pace in an Optuna study whose trials carry their stage (local and SLURM)."""
    now = now or dt.datetime.now()
    firsts: dict[str, dt.datetime] = {}
    lasts: dict[str, dt.datetime] = {}
    finished: dict[str, int] = {}
    running: set[str] = set()
    for trial in study.get_trials(deepcopy=False):
        stage = trial.user_attrs.get(rec.STAGE)
        if stage is None or trial.datetime_start is None:
            continue
        firsts[stage] = min(firsts.get(stage, trial.datetime_start), trial.datetime_start)
        if trial.state in FINISHED and trial.datetime_complete is not None:
            finished[stage] = finished.get(stage, 0) + 1
            lasts[stage] = max(lasts.get(stage, trial.datetime_complete), trial.datetime_complete)
        elif trial.state == optuna.trial.TrialState.RUNNING:
            running.add(stage)
    paces = []
    for stage in plan.stages:
        end = now if stage.name in running else lasts.get(stage.name)
        first = firsts.get(stage.name)
        elapsed = (end - first).total_seconds() if first is not None and end is not None else None
        paces.append(StagePace(stage.epochs, stage.trials, finished.get(stage.name, 0), elapsed))
    return paces


def study_eta(study: optuna.Study, plan: Plan) -> float | None:
    """Seconds left for a target whose trials are in one Optuna study."""
    return remaining_seconds(study_paces(study, plan))


def format_eta(seconds: float | None) -> str:
    """`3m 20s`, `2h 05m`, `-` when unknown."""
    if seconds is None:
        return "-"
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m {whole % 60:02d}s"
    hours, rest = divmod(whole, 3600)
    if hours < 48:
        return f"{hours}h {rest // 60:02d}m"
    return f"{hours // 24}d {hours % 24:02d}h"
