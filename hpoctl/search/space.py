"""A search space as Optuna sees it: each parameter's distribution, conditions, sampling a configuration
from a trial, and a configuration's identity (what two trials must share to be the same configuration)."""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

from hpoctl.spec.parameters import CategoricalParameter, FloatParameter, IntParameter
from hpoctl.spec.study import SearchSpace

#: The largest finite space enumerated to find a configuration not yet taken.
ENUMERABLE = 100_000


def distribution(param: IntParameter | FloatParameter | CategoricalParameter) -> BaseDistribution:
    """The distribution `suggest` gives a parameter."""
    if isinstance(param, IntParameter):
        return IntDistribution(param.low, param.high, log=param.log, step=param.step)
    if isinstance(param, FloatParameter):
        return FloatDistribution(param.low, param.high, log=param.log, step=param.step)
    return CategoricalDistribution([optuna_choice(c) for c in param.choices])


def optuna_choice(value: Any) -> Any:
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


def dependency_order(space: SearchSpace) -> list[str]:
    """The space's parameters, each after the parameters its `when` condition names."""
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


def suggest(trial: optuna.Trial, space: SearchSpace) -> dict[str, Any]:
    """Sample a configuration; inactive conditional parameters are left out."""
    chosen: dict[str, Any] = {}
    for name in dependency_order(space):
        param = space[name]
        if not active(param, chosen):
            continue
        if isinstance(param, IntParameter):
            chosen[name] = trial.suggest_int(name, param.low, param.high, step=param.step, log=param.log)
        elif isinstance(param, FloatParameter):
            chosen[name] = trial.suggest_float(name, param.low, param.high, step=param.step, log=param.log)
        else:
            chosen[name] = trial.suggest_categorical(name, [optuna_choice(c) for c in param.choices])
    return chosen


def config_key(space: SearchSpace, params: Mapping[str, Any], order: Sequence[str] | None = None) -> tuple | None:
    """A configuration's identity: its active parameters, ints and stepped floats as their grid index,
    other floats to 12 significant digits, choices as (type, value). None when an active parameter is
    missing (a trial still being suggested)."""
    chosen: dict[str, Any] = {}
    key = []
    for name in dependency_order(space) if order is None else order:
        param = space[name]
        if not active(param, chosen):
            continue
        if name not in params:
            return None
        value = chosen[name] = params[name]
        if isinstance(param, CategoricalParameter):
            key.append((name, type(value).__name__, value))
        elif param.step is not None and not param.log:
            key.append((name, round((float(value) - param.low) / param.step)))
        else:
            key.append((name, float(f"{float(value):.12g}")))
    return tuple(key)


def enumerate_space(space: SearchSpace, order: list[str]) -> Iterator[dict[str, Any]]:
    """Every configuration of a finite space (conditions honoured), or nothing if it is infinite or larger
    than `ENUMERABLE`."""
    values = {name: _finite_values(param) for name, param in space.items()}
    if any(v is None for v in values.values()) or math.prod(len(v) for v in values.values()) > ENUMERABLE:
        return
    seen = set()
    for combination in itertools.product(*(values[name] for name in order)):
        chosen: dict[str, Any] = {}
        for name, value in zip(order, combination, strict=True):
            if active(space[name], chosen):
                chosen[name] = value
        key = config_key(space, chosen)
        if key not in seen:
            seen.add(key)
            yield chosen


def _finite_values(param: IntParameter | FloatParameter | CategoricalParameter) -> list[Any] | None:
    if isinstance(param, CategoricalParameter):
        return [optuna_choice(c) for c in param.choices]
    if isinstance(param, IntParameter):
        return list(range(param.low, param.high + 1, param.step))
    if param.step is None or param.log:
        return None
    count = math.floor((param.high - param.low) / param.step + 1e-9) + 1
    return [param.low + i * param.step for i in range(count)]
