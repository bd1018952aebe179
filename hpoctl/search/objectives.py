"""A trial's result from its per-epoch metrics: the objective's strategy over the epochs, the distance to a
target, the value reported to a pruner after each epoch."""

from __future__ import annotations

import math
from collections.abc import Mapping

from hpoctl.spec.expression import evaluate_expression
from hpoctl.spec.objectives import Objective


def objective_value(objective: Objective, history: list[Mapping[str, float]]) -> float | None:
    """The trial's result for one objective from its per-epoch metrics, after the objective's
    strategy (latest, max, min); a target objective becomes the distance to its target."""
    values = [v for v in (epoch_value(objective, row) for row in history) if v is not None]
    if not values:
        return None
    raw = {"latest": values[-1], "max": max(values), "min": min(values)}[objective.strategy]
    return abs(raw - objective.target) if objective.target is not None else raw


def epoch_value(objective: Objective, metrics: Mapping[str, float]) -> float | None:
    """One epoch's raw value of an objective (before a target's distance), or None if not reported."""
    if objective.expression is not None and objective.metric not in metrics:
        try:
            return evaluate_expression(objective.expression, metrics)
        except ValueError:
            return None
    value = metrics.get(objective.metric)
    return float(value) if value is not None and math.isfinite(value) else None


def intermediate_value(objective: Objective, metrics: Mapping[str, float]) -> float | None:
    raw = epoch_value(objective, metrics)
    if raw is None:
        return None
    return abs(raw - objective.target) if objective.target is not None else raw
