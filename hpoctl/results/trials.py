"""A study's trials as hpoctl reads them: stage, state, objective values and the user attributes
that `hpoctl.trial_record` defines, flattened into rows for trials.csv and the summaries."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

from optuna.trial import FrozenTrial, TrialState

from hpoctl import trial_record as rec
from hpoctl.plan import Plan
from hpoctl.spec.objectives import Objective

# A trial cut short (Ctrl-C, a killed task) is failed in Optuna's eyes but not the trainer's failure,
# so it is counted apart.
INTERRUPTED = rec.INTERRUPTED
NO_STAGE = "unknown"
STATES = ("complete", "pruned", "failed", "interrupted", "running", "waiting")
_STATE_NAMES = {
    TrialState.COMPLETE: "complete",
    TrialState.PRUNED: "pruned",
    TrialState.FAIL: "failed",
    TrialState.RUNNING: "running",
    TrialState.WAITING: "waiting",
}


def state_name(trial: FrozenTrial) -> str:
    """complete, pruned, failed, running or waiting (Optuna's state, in words)."""
    return _STATE_NAMES[trial.state]


def count_key(trial: FrozenTrial) -> str:
    if trial.state == TrialState.FAIL and trial.user_attrs.get(INTERRUPTED):
        return "interrupted"
    return state_name(trial)


def stage_of(trial: FrozenTrial) -> str:
    return str(trial.user_attrs.get(rec.STAGE) or NO_STAGE)


def stage_order(plan: Plan, trials: Iterable[FrozenTrial]) -> list[str]:
    """The plan's stages in protocol order, then any other stage found on a trial (by first trial)."""
    order = [stage.name for stage in plan.stages]
    for trial in trials:
        if stage_of(trial) not in order:
            order.append(stage_of(trial))
    return order


def count_states(trials: Iterable[FrozenTrial]) -> dict[str, int]:
    counts = dict.fromkeys(STATES, 0)
    for trial in trials:
        counts[count_key(trial)] += 1
    return counts


def counts_by_stage(trials: Sequence[FrozenTrial], stages: Sequence[str]) -> dict[str, dict[str, int]]:
    return {stage: count_states(t for t in trials if stage_of(t) == stage) for stage in stages}


def complete(trials: Iterable[FrozenTrial]) -> list[FrozenTrial]:
    return [t for t in trials if t.state == TrialState.COMPLETE]


def stored_label(objective: Objective) -> str:
    """What the study stores for an objective: the metric, or its distance to a target value."""
    if objective.target is not None:
        return f"|{objective.metric} - {objective.target:g}|"
    return objective.metric


def value_column(objective: Objective) -> str:
    return f"value_{objective.metric}"


def objectives_info(plan: Plan) -> list[dict[str, Any]]:
    """The objectives as best_params.json and the CLI describe them."""
    return [
        {
            "metric": o.metric,
            "label": o.label(),
            "direction": o.optimised_direction,
            "stored_as": stored_label(o),
            "column": value_column(o),
            **({"target": o.target} if o.target is not None else {}),
            **({"expression": o.expression} if o.expression is not None else {}),
        }
        for o in plan.objectives
    ]


def values_of(trial: FrozenTrial, plan: Plan) -> dict[str, float | None]:
    """{metric: stored objective value}; None for every objective when the trial has no values."""
    values = trial.values or [None] * len(plan.objectives)
    return {o.metric: v for o, v in zip(plan.objectives, values, strict=True)}


def metrics_of(trial: FrozenTrial) -> dict[str, Any]:
    metrics = trial.user_attrs.get(rec.METRICS)
    return dict(metrics) if isinstance(metrics, dict) else {}


def display_value(trial: FrozenTrial, objective: Objective, index: int) -> float | None:
    """What a reader wants to see for an objective: the raw metric (PICP 0.79, not |0.79 - 0.80|)
    when the trial reported it, the stored value otherwise."""
    raw = metrics_of(trial).get(objective.metric)
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return float(raw)
    return trial.values[index] if trial.values else None


def trial_summary(trial: FrozenTrial, plan: Plan) -> dict[str, Any]:
    """One trial as the JSON files hold it."""
    summary: dict[str, Any] = {
        "number": trial.number,
        "stage": stage_of(trial),
        "state": state_name(trial),
        "values": values_of(trial, plan),
        "metrics": metrics_of(trial),
        "params": dict(trial.params),
        "epochs": trial.user_attrs.get(rec.EPOCHS),
    }
    if trial.user_attrs.get(rec.SOURCE_TRIAL) is not None:
        summary["source_trial"] = trial.user_attrs[rec.SOURCE_TRIAL]
    if trial.user_attrs.get(rec.REPEATS):
        summary["repeats"] = trial.user_attrs[rec.REPEATS]  # values are the means over these fresh-seed runs
    return summary


def csv_table(trials: Sequence[FrozenTrial], plan: Plan) -> tuple[list[str], list[dict[str, Any]]]:
    """Columns and rows of trials.csv: number, stage, state, one column per objective value, the raw
    metrics (`metric_<name>`), the parameters (`params_<name>`), then the record's attributes."""
    metric_names = _ordered_union([*(o.metric for o in plan.objectives)], (metrics_of(t).keys() for t in trials))
    metric_names = [m for m in metric_names if any(m in metrics_of(t) for t in trials)]
    param_names = _ordered_union(list(plan.parameters), (t.params.keys() for t in trials))
    param_names = [p for p in param_names if any(p in t.params for t in trials)]
    extra = [rec.KATIB_TRIAL] if any(rec.KATIB_TRIAL in t.user_attrs for t in trials) else []
    columns = [
        "number",
        "stage",
        "state",
        *(value_column(o) for o in plan.objectives),
        *(f"metric_{m}" for m in metric_names),
        *(f"params_{p}" for p in param_names),
        "epochs",
        "seed",
        "duration_s",
        "failure_reason",
        "exit_code",
        "source_trial",
        "backend",
        "duplicate_replaced",
        *extra,
        "datetime_start",
        "datetime_complete",
    ]
    rows = []
    for trial in trials:
        metrics = metrics_of(trial)
        attrs = trial.user_attrs
        row: dict[str, Any] = {"number": trial.number, "stage": stage_of(trial), "state": state_name(trial)}
        for objective, value in zip(plan.objectives, values_of(trial, plan).values(), strict=True):
            row[value_column(objective)] = value
        row.update({f"metric_{m}": metrics.get(m) for m in metric_names})
        row.update({f"params_{p}": trial.params.get(p) for p in param_names})
        for key in (rec.EPOCHS, rec.SEED, rec.DURATION, rec.FAILURE, rec.EXIT_CODE, rec.SOURCE_TRIAL, rec.BACKEND):
            row[key] = attrs.get(key)
        row[rec.DUPLICATE_REPLACED] = bool(attrs.get(rec.DUPLICATE_REPLACED))
        if extra:
            row[rec.KATIB_TRIAL] = attrs.get(rec.KATIB_TRIAL)
        row["datetime_start"] = trial.datetime_start
        row["datetime_complete"] = trial.datetime_complete
        rows.append(row)
    return columns, rows


def csv_cell(value: Any) -> str:
    """A cell of the CSV files: empty for nothing, JSON for lists and dicts, repr-exact floats."""
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value).lower()
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, separators=(",", ":"))
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _ordered_union(first: list[str], more: Iterable[Iterable[str]]) -> list[str]:
    names = list(first)
    for group in more:
        for name in group:
            if name not in names:
                names.append(name)
    return names
