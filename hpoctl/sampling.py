"""The one place that turns a plan into Optuna objects: sampler, pruner, directions, and the
suggestion of a configuration from the search space (conditions honoured).

The local backend, the SLURM worker and the hpoctl-optuna suggestion service all build their
samplers here, so a change of default happens once.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Mapping
from typing import Any

import optuna

from hpoctl.plan import Plan, StagePlan
from hpoctl.spec.expression import evaluate_expression
from hpoctl.spec.objectives import Objective
from hpoctl.spec.parameters import CategoricalParameter, FloatParameter, IntParameter, grid_values
from hpoctl.spec.study import SearchSpace


def directions(plan: Plan) -> list[str]:
    return [objective.optimised_direction for objective in plan.objectives]


def build_sampler(plan: Plan, *, seed: int | None = None, parallel: bool = False) -> optuna.samplers.BaseSampler:
    """The plan's algorithm as an Optuna sampler; `seed` overrides the spec's, `parallel` turns on
    TPE's constant liar so concurrent trials do not collide."""
    name = plan.algorithm.name
    settings = dict(plan.algorithm.settings)
    if seed is not None:
        settings["seed"] = seed
    with warnings.catch_warnings():
        # Optuna flags some sampler options as experimental; that is Optuna's concern, not the user's.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if name in ("tpe", "multivariate-tpe", "motpe"):
            settings.setdefault("constant_liar", parallel)
            if name == "multivariate-tpe":
                settings["multivariate"] = True
            return optuna.samplers.TPESampler(**settings)
        if name == "random":
            return optuna.samplers.RandomSampler(**settings)
        if name == "cmaes":
            return optuna.samplers.CmaEsSampler(warn_independent_sampling=False, **settings)
        if name == "grid":
            space = {p: [_optuna_choice(v) for v in grid_values(param)] for p, param in plan.parameters.items()}
            return optuna.samplers.GridSampler(space, **settings)
        if name == "qmc":
            return optuna.samplers.QMCSampler(warn_independent_sampling=False, **settings)
        if name == "nsga2":
            return optuna.samplers.NSGAIISampler(**settings)
    raise ValueError(f"no Optuna sampler for algorithm {name!r}")


def build_pruner(plan: Plan, stage: StagePlan) -> optuna.pruners.BasePruner:
    """The plan's early stopping for one stage. Top-k stages confirm configurations and are never
    pruned; Optuna cannot prune multi-objective trials at all."""
    rule = plan.early_stopping
    if rule.name == "none" or stage.mode == "top-k" or plan.multi_objective:
        return optuna.pruners.NopPruner()
    s = rule.settings
    if rule.name == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=s.get("min_trials", 5),
            n_warmup_steps=s.get("warmup_steps", 0),
            interval_steps=s.get("interval_steps", 1),
        )
    if rule.name == "successive-halving":
        return optuna.pruners.SuccessiveHalvingPruner(
            min_resource=s.get("min_resource", "auto"),
            reduction_factor=s.get("reduction_factor", 4),
            min_early_stopping_rate=s.get("min_early_stopping_rate", 0),
        )
    if rule.name == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=s.get("min_resource", 1),
            max_resource=stage.epochs,
            reduction_factor=s.get("reduction_factor", 3),
        )
    raise ValueError(f"no Optuna pruner for early stopping {rule.name!r}")


def _optuna_choice(value: Any) -> Any:
    """Optuna's categorical choices must be scalars; lists travel as their compact JSON text."""
    return json.dumps(value, separators=(",", ":")) if isinstance(value, list) else value


def decode_choice(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("["):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def active(param: IntParameter | FloatParameter | CategoricalParameter, chosen: Mapping[str, Any]) -> bool:
    """Whether a conditional parameter applies given the values chosen so far."""
    for other, values in (param.when or {}).items():
        if other not in chosen or not any(decode_choice(chosen[other]) == v for v in values):
            return False
    return True


def suggest(trial: optuna.Trial, space: SearchSpace) -> dict[str, Any]:
    """Sample a configuration; inactive conditional parameters are left out."""
    chosen: dict[str, Any] = {}
    for name in _dependency_order(space):
        param = space[name]
        if not active(param, chosen):
            continue
        if isinstance(param, IntParameter):
            chosen[name] = trial.suggest_int(name, param.low, param.high, step=param.step, log=param.log)
        elif isinstance(param, FloatParameter):
            chosen[name] = trial.suggest_float(name, param.low, param.high, step=param.step, log=param.log)
        else:
            chosen[name] = trial.suggest_categorical(name, [_optuna_choice(c) for c in param.choices])
    return chosen


def default_configuration(space: SearchSpace) -> dict[str, Any]:
    chosen: dict[str, Any] = {}
    for name in _dependency_order(space):
        if active(space[name], chosen):
            chosen[name] = _optuna_choice(space[name].default)
    return chosen


def _dependency_order(space: SearchSpace) -> list[str]:
    order: list[str] = []

    def visit(name: str) -> None:
        if name in order:
            return
        for other in space[name].when or {}:
            visit(other)
        order.append(name)

    for name in space:
        visit(name)
    return order


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
