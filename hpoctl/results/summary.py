"""The contents of best_params.json and pareto.json, built from a study's trials (no I/O)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from optuna.trial import FrozenTrial

from hpoctl.plan import Plan
from hpoctl.results import pareto, ranking
from hpoctl.results.layout import PARETO
from hpoctl.results.repeats import aggregate
from hpoctl.results.trials import (
    complete,
    count_states,
    counts_by_stage,
    metrics_of,
    objectives_info,
    stage_of,
    trial_summary,
)

SINGLE_RULE = "the best complete trial of the last stage that has complete trials"
MULTI_RULE = (
    "the balanced trial of the Pareto front of the last stage that has complete trials: closest to the "
    "ideal point after min-max normalising each objective over the front"
)


def best_params(study_name: str, plan: Plan, trials: Sequence[FrozenTrial], stages: Sequence[str]) -> dict[str, Any]:
    """best_params.json: the best trial (one objective) or the balanced pick (several), which stage
    decided, the best per stage, and counts of trials by state."""
    stage = ranking.deciding_stage(trials, stages)
    in_stage = aggregate(t for t in trials if stage_of(t) == stage)
    pick = ranking.best(in_stage, plan)
    data: dict[str, Any] = {
        "study": plan.study,
        "target": plan.target,
        "optuna_study": study_name,
        "multi_objective": plan.multi_objective,
        "objectives": objectives_info(plan),
        "selection": MULTI_RULE if plan.multi_objective else SINGLE_RULE,
        "stage": stage,
    }
    if not plan.multi_objective:
        data["best_value"] = pick.values[0] if pick else None
    data.update(
        {
            "best_values": trial_summary(pick, plan)["values"] if pick else None,
            "best_params": dict(pick.params) if pick else None,
            "best_trial_number": pick.number if pick else None,
            "best_metrics": metrics_of(pick) if pick else None,
            "best_trial": trial_summary(pick, plan) if pick else None,
            "best_per_stage": {
                name: trial_summary(t, plan) for name, t in ranking.best_per_stage(trials, plan, stages).items()
            },
            "n_trials": len(trials),
            "counts": count_states(trials),
            "counts_by_stage": counts_by_stage(trials, stages),
        }
    )
    if plan.multi_objective:
        front = pareto.pareto_front(complete(in_stage), plan.directions)
        data["pareto"] = {"file": PARETO, "size": len(front), "stage": stage}
    return data


def pareto_data(plan: Plan, trials: Sequence[FrozenTrial], stages: Sequence[str]) -> dict[str, Any]:
    """pareto.json: exactly the non-dominated complete trials of the deciding stage, the best trial per
    objective, and the balanced pick."""
    directions = plan.directions
    stage = ranking.deciding_stage(trials, stages)
    front = pareto.pareto_front(complete(aggregate(t for t in trials if stage_of(t) == stage)), directions)
    loss = pareto.losses(front, directions)
    distances = pareto.ideal_distances(loss, loss)
    entries = [{**trial_summary(t, plan), "distance_to_ideal": float(d)} for t, d in zip(front, distances, strict=True)]
    data: dict[str, Any] = {
        "study": plan.study,
        "target": plan.target,
        "stage": stage,
        "objectives": objectives_info(plan),
        "balanced_rule": MULTI_RULE,
        "size": len(front),
        "front": entries,
        "best_per_objective": {},
        "balanced": None,
    }
    if front:
        picks = pareto.best_per_objective(front, directions)
        data["best_per_objective"] = {
            o.metric: trial_summary(t, plan) for o, t in zip(plan.objectives, picks, strict=True)
        }
        chosen = pareto.balanced(front, directions)
        data["balanced"] = next(e for e in entries if e["number"] == chosen.number)
    return data
