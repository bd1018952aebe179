"""Studies run the way hpoctl runs them: a Plan built by `hpoctl.plan.build_plans` from a small spec, the sampler
and pruner from `hpoctl.search` (`build_sampler`, `build_pruner`), configurations from `suggest`, results through
`objective_value` / `intermediate_value`, ask and tell as `hpoctl.runner.StageRunner` does; only the trainer
process is replaced by a table lookup or a synthetic learning curve."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import TrialState

from hpoctl import trial_record as rec
from hpoctl.catalog import LoadedStudy
from hpoctl.plan import Plan, build_plans
from hpoctl.search.objectives import intermediate_value, objective_value
from hpoctl.search.pruners import build_pruner
from hpoctl.search.samplers import build_sampler
from hpoctl.search.space import config_key, suggest
from hpoctl.spec.loader import validate_spec

optuna.logging.set_verbosity(optuna.logging.ERROR)
logging.getLogger("hpoctl.search").setLevel(logging.WARNING)

#: Algorithms as hpoctl spells them, with the settings the built-in studies use.
ALGORITHMS: dict[str, dict[str, Any]] = {
    "auto": {"name": "auto"},  # the default: csi, transfer, forecast
    "tpe": {"name": "tpe", "settings": {"n_startup_trials": 20}},  # everest
    "tpe-default": {"name": "tpe"},  # Optuna's TPESampler as it comes (10 start-up trials)
    "random": {"name": "random"},  # mlp
    "multivariate-tpe": {"name": "multivariate-tpe"},
    "multivariate-tpe-5": {"name": "multivariate-tpe", "settings": {"n_startup_trials": 5}},
    "qmc": {"name": "qmc"},
    "cmaes": {"name": "cmaes"},
    "gp": {"name": "gp"},  # Optuna's GPSampler (needs torch)
    "nsga2": {"name": "nsga2", "settings": {"population_size": 10}},  # forecast before auto
    "nsga2-default": {"name": "nsga2"},  # hpoctl's population: a fifth of the trials
    "nsga2-50": {"name": "nsga2", "settings": {"population_size": 50}},  # Optuna's default
    "motpe": {"name": "motpe"},
}


def plan_for(
    name: str,
    parameters: dict[str, dict[str, Any]],
    objectives: list[dict[str, Any]],
    algorithm: dict[str, Any],
    *,
    trials: int,
    epochs: int = 1,
    early_stopping: dict[str, Any] | None = None,
) -> Plan:
    """A Plan for one benchmark problem, built from a spec the way a study file is."""
    raw = {
        "name": name,
        "targets": {"default": {}},
        "parameters": parameters,
        "objectives": objectives,
        "algorithm": algorithm,
        "early_stopping": early_stopping or {"name": "none"},
        "protocol": [{"name": "search", "trials": trials, "epochs": epochs}],
        "trainer": {"command": ["true"]},
    }
    return build_plans(LoadedStudy(raw, validate_spec(raw, name), name), "default")[0]


@dataclass
class Run:
    """What one study did: per trial its configuration's values (None if pruned), epochs run, and flags."""

    values: list[tuple[float, ...] | None] = field(default_factory=list)
    epochs: list[int] = field(default_factory=list)
    repeated: list[bool] = field(default_factory=list)  # the configuration was evaluated before
    replaced: list[bool] = field(default_factory=list)  # the sampler proposed a taken one; a fresh one ran
    final: list[float | None] = field(default_factory=list)  # full-length value of complete trials
    seconds: float = 0.0


def run_table(plan: Plan, table, seed: int, *, dedupe: bool = True, storage: Any = None) -> Run:
    """Ask, suggest, look the configuration up in the table, tell; every trial runs to the end."""
    study = optuna.create_study(
        storage=storage,
        directions=plan.directions,
        sampler=build_sampler(plan.algorithm, plan.parameters, seed=seed, dedupe=dedupe),
    )
    run, seen = Run(), set()
    started = time.perf_counter()
    for _ in range(plan.stages[0].trials):
        trial = study.ask()
        params = suggest(trial, plan.parameters)
        values = table.values(params)
        history = [dict(zip(table.metrics, values, strict=True), epoch=1)]
        told = [objective_value(o, history) for o in plan.objectives]
        study.tell(trial, told if plan.multi_objective else told[0])
        key = config_key(plan.parameters, params)
        run.values.append(values)
        run.epochs.append(1)
        run.repeated.append(key in seen)
        run.replaced.append(bool(study._storage.get_trial_user_attrs(trial._trial_id).get(rec.DUPLICATE_REPLACED)))
        seen.add(key)
    run.seconds = time.perf_counter() - started
    return run


def run_curves(plan: Plan, curves, seed: int, *, budget: int) -> Run:
    """Ask, suggest, report the curve epoch by epoch to the plan's pruner (as the runner's pruning callback
    does), stop when it prunes, tell; until the trials have run `budget` epochs in all (or the stage's
    trials are done). Epoch e of the stage reads the curve at fidelity e * (curve length / stage epochs)."""
    stage = plan.stages[0]
    study = optuna.create_study(
        directions=plan.directions,
        sampler=build_sampler(plan.algorithm, plan.parameters, seed=seed),
        pruner=build_pruner(plan, stage),
    )
    objective = plan.objectives[0]
    stride = curves.epochs // stage.epochs
    run = Run()
    started = time.perf_counter()
    while sum(run.epochs) < budget and len(run.epochs) < stage.trials:
        trial = study.ask()
        params = suggest(trial, plan.parameters)
        curve = curves.curve(params, stride)
        history, pruned = [], False
        for epoch, value in enumerate(curve, start=1):
            metrics = {"epoch": epoch, objective.metric: value}
            history.append(metrics)
            trial.report(intermediate_value(objective, metrics), step=epoch)
            if epoch < len(curve) and trial.should_prune():
                pruned = True
                break
        run.epochs.append(len(history))
        if pruned:
            study.tell(trial, state=TrialState.PRUNED)
            run.final.append(None)
        else:
            study.tell(trial, objective_value(objective, history))
            run.final.append(history[-1][objective.metric])
    run.seconds = time.perf_counter() - started
    return run
