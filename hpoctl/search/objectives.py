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


def objective_problem(
    objective: Objective, history: list[Mapping[str, float]], malformed: list[tuple[float, str, str]] = ()
) -> str | None:
    """Why the epochs this objective's strategy uses give it no honest value: a non-finite value (nan, inf) or a
    value that is not a number, at the last epoch that reported it (`latest`) or at any epoch (`max`, `min`);
    None when there is nothing wrong. Without this a NaN at the last epoch would leave an earlier epoch's value."""
    bad_text = {(epoch, name): text for epoch, name, text in malformed}
    reported: list[tuple[float, float | str]] = []
    for row in history:
        epoch = row.get("epoch", math.nan)
        if (epoch, objective.metric) in bad_text:
            reported.append((epoch, bad_text[epoch, objective.metric]))
        elif objective.metric in row:
            reported.append((epoch, row[objective.metric]))
        elif objective.expression is not None:
            try:
                reported.append((epoch, evaluate_expression(objective.expression, row)))
            except ValueError:
                if any(not math.isfinite(v) for v in row.values()):
                    reported.append((epoch, math.nan))
    used = reported if objective.strategy in ("max", "min") else reported[-1:]
    for epoch, value in used:
        if isinstance(value, str):
            return f"trainer printed {objective.metric}={value!r} at epoch {epoch:g}, which is not a number"
        if not math.isfinite(value):
            return f"{objective.metric} was {value} at epoch {epoch:g} (the trial diverged)"
    return None
