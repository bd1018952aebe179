"""Search algorithms and early-stopping rules, with the settings each one takes.

The tables are the single source of truth for validation; the backends translate them into Optuna
samplers and pruners, Katib algorithm settings, or the hpoctl-optuna suggestion service.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

AlgorithmName = Literal["auto", "tpe", "multivariate-tpe", "random", "cmaes", "gp", "grid", "qmc", "nsga2", "motpe"]
EarlyStoppingName = Literal["none", "median", "successive-halving", "hyperband"]


def _nonneg_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _pos_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 1


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _bool(v: Any) -> bool:
    return isinstance(v, bool)


def _probability(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and 0.0 <= v <= 1.0


def _pos_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0


def _reduction(v: Any) -> bool:
    return _int(v) and v >= 2


# setting -> (check, what is allowed)
_SEED = {"seed": (_int, "an integer")}
ALGORITHM_SETTINGS: dict[str, dict[str, tuple]] = {
    # hpoctl's choice (hpoctl.search.auto), resolved in the plan; both settings go to the sampler it picks.
    "auto": {
        **_SEED,
        "n_startup_trials": (_nonneg_int, "an integer >= 0 (random trials before the model; not with nsga2)"),
    },
    "tpe": {
        **_SEED,
        "n_startup_trials": (_nonneg_int, "an integer >= 0"),
        "n_ei_candidates": (_pos_int, "an integer >= 1"),
        "constant_liar": (_bool, "true or false"),
        "consider_endpoints": (_bool, "true or false"),
    },
    "multivariate-tpe": {
        **_SEED,
        "n_startup_trials": (_nonneg_int, "an integer >= 0"),
        "n_ei_candidates": (_pos_int, "an integer >= 1"),
        "constant_liar": (_bool, "true or false"),
        "group": (_bool, "true or false"),
    },
    "motpe": {
        **_SEED,
        "n_startup_trials": (_nonneg_int, "an integer >= 0"),
        "n_ei_candidates": (_pos_int, "an integer >= 1"),
        "constant_liar": (_bool, "true or false"),
    },
    "random": dict(_SEED),
    "cmaes": {
        **_SEED,
        "n_startup_trials": (_nonneg_int, "an integer >= 0"),
        "sigma0": (_pos_number, "a number > 0"),
        "popsize": (_pos_int, "an integer >= 1"),
        "restart_strategy": (lambda v: v in ("ipop", "bipop"), "'ipop' or 'bipop'"),
    },
    # Optuna's GPSampler (needs torch): one objective; on Katib, its skopt bayesianoptimization with a GP.
    "gp": {
        **_SEED,
        "n_startup_trials": (_nonneg_int, "an integer >= 0"),
        "deterministic_objective": (_bool, "true or false (the metric has no noise: not for trained models)"),
    },
    "grid": dict(_SEED),
    "qmc": {
        **_SEED,
        "qmc_type": (lambda v: v in ("sobol", "halton"), "'sobol' or 'halton'"),
        "scramble": (_bool, "true or false"),
    },
    "nsga2": {
        **_SEED,
        "population_size": (lambda v: _int(v) and v >= 2, "an integer >= 2"),
        "mutation_prob": (_probability, "a number in [0, 1]"),
        "crossover_prob": (_probability, "a number in [0, 1]"),
        "swapping_prob": (_probability, "a number in [0, 1]"),
    },
}


def default_population_size(searched_trials: int) -> int:
    """NSGA-II's population when a spec sets none: a fifth of the trials the study searches (10 to 50), so a
    study sees about five generations. Optuna's fixed 50 leaves a 50-trial study one random generation; on
    bench/search's two-objective tables 40 for 200 trials did best of 10-50 (figures in bench/README.md)."""
    return min(50, max(10, round(searched_trials / 5)))


#: Algorithms that handle several objectives (Optuna's TPE, multivariate or not, NSGA-II, random, grid, QMC do).
MULTI_OBJECTIVE_ALGORITHMS = {"auto", "tpe", "multivariate-tpe", "motpe", "nsga2", "random", "grid", "qmc"}
#: Algorithms only meaningful for several objectives.
ONLY_MULTI_OBJECTIVE = {"motpe", "nsga2"}

EARLY_STOPPING_SETTINGS: dict[str, dict[str, tuple]] = {
    "none": {},
    "median": {
        "warmup_steps": (_nonneg_int, "an integer >= 0 (epochs before a trial may be stopped)"),
        "min_trials": (_nonneg_int, "an integer >= 0 (completed trials before any is stopped)"),
        "interval_steps": (_pos_int, "an integer >= 1"),
    },
    "successive-halving": {
        "min_resource": (_pos_int, "an integer >= 1 (epochs)"),
        "reduction_factor": (_reduction, "an integer >= 2"),
        "min_early_stopping_rate": (_nonneg_int, "an integer >= 0"),
    },
    "hyperband": {
        "min_resource": (_pos_int, "an integer >= 1 (epochs)"),
        "reduction_factor": (_reduction, "an integer >= 2"),
    },
}


def _check_settings(kind: str, name: str, settings: dict[str, Any], table: dict[str, tuple]) -> None:
    problems = []
    for key, value in settings.items():
        if key not in table:
            allowed = ", ".join(sorted(table)) or "none"
            problems.append(f"{kind} {name!r} takes no setting {key!r}; it takes: {allowed}")
            continue
        check, what = table[key]
        if not check(value):
            problems.append(f"settings.{key} must be {what}, got {value!r}")
    if problems:
        raise ValueError("\n".join(problems))


class Algorithm(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: AlgorithmName = "auto"
    settings: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self):
        _check_settings("algorithm", self.name, self.settings, ALGORITHM_SETTINGS[self.name])
        return self


class EarlyStopping(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: EarlyStoppingName = "none"
    settings: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self):
        _check_settings("early stopping", self.name, self.settings, EARLY_STOPPING_SETTINGS[self.name])
        return self
