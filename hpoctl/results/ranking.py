"""Which trials are best: one rule for one objective (best value) and several (Pareto front, then
the balanced pick), and the stage whose trials decide ("a later stage supersedes an earlier one")."""

from __future__ import annotations

from collections.abc import Sequence

import optuna
from optuna.trial import FrozenTrial, TrialState

from hpoctl.plan import Plan
from hpoctl.results import pareto
from hpoctl.results.repeats import aggregate
from hpoctl.results.trials import complete, stage_of


def deciding_stage(trials: Sequence[FrozenTrial], stages: Sequence[str]) -> str | None:
    """The last stage (in protocol order) with a complete trial: a top-k confirmation re-runs the
    best configurations for longer, so its results supersede the exploration's."""
    with_complete = {stage_of(t) for t in complete(trials)}
    for stage in reversed(stages):
        if stage in with_complete:
            return stage
    return None


def best_single(trials: Sequence[FrozenTrial], direction: str) -> FrozenTrial | None:
    """The complete trial with the best value (lowest trial number on a tie)."""
    done = complete(trials)
    if not done:
        return None
    sign = 1.0 if direction == "minimize" else -1.0
    return min(done, key=lambda t: (sign * t.values[0], t.number))


def best(trials: Sequence[FrozenTrial], plan: Plan) -> FrozenTrial | None:
    """One objective: the best complete trial. Several: the balanced pick of the Pareto front."""
    if not plan.multi_objective:
        return best_single(trials, plan.directions[0])
    front = pareto.pareto_front(complete(trials), plan.directions)
    return pareto.balanced(front, plan.directions) if front else None


def best_per_stage(trials: Sequence[FrozenTrial], plan: Plan, stages: Sequence[str]) -> dict[str, FrozenTrial]:
    picks = {}
    for stage in stages:
        pick = best(aggregate(t for t in trials if stage_of(t) == stage), plan)
        if pick is not None:
            picks[stage] = pick
    return picks


def top_trials(trials: Sequence[FrozenTrial], plan: Plan, limit: int = 20) -> list[FrozenTrial]:
    """The best `limit` complete trials of all stages: by value in the optimisation direction, or by
    non-domination rank then distance to the ideal point."""
    done = complete(aggregate(trials))
    if not plan.multi_objective:
        sign = 1.0 if plan.directions[0] == "minimize" else -1.0
        return sorted(done, key=lambda t: (sign * t.values[0], t.number))[:limit]
    return pareto.ranked(done, plan.directions, limit)


def best_so_far(study: optuna.Study, multi_objective: bool) -> float | str | None:
    """What `status` and the progress line show as best: the best value, or the Pareto front's size."""
    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return None
    if multi_objective:
        return f"{len(study.best_trials)} on the Pareto front"
    return study.best_value
