"""Synthetic studies recorded the way trial_record.py says (no training), and writing their results."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState, create_trial

from hpoctl import trial_record as rec
from hpoctl.catalog import load_study
from hpoctl.plan import Plan, build_plans
from hpoctl.results import ResultsSummary, write_results

EVEREST_DISTRIBUTIONS = {
    "embed_dim": IntDistribution(64, 256),
    "num_blocks": IntDistribution(4, 12),
    "dropout": FloatDistribution(0.1, 0.5),
    "focal_gamma": FloatDistribution(0.0, 3.0),
    "learning_rate": FloatDistribution(1e-5, 1e-2, log=True),
    "batch_size": CategoricalDistribution([256, 512, 1024]),
}
NHITS_DISTRIBUTIONS = {
    "num_stacks": IntDistribution(2, 5),
    "learning_rate": FloatDistribution(1e-5, 1e-2, log=True),
    "dropout": FloatDistribution(0.0, 0.3),
}
STATES = {"complete": TrialState.COMPLETE, "pruned": TrialState.PRUNED, "failed": TrialState.FAIL}

# (stage, state, tss, failure reason, source trial) of a quick everest run: 8 exploration trials,
# 4 refinement trials, then the top 2 re-run in confirmation. The best TSS overall (0.70, trial 6)
# is from exploration; the confirmed best is trial 13 (0.64).
EVEREST_TRIALS = [
    ("exploration", "complete", 0.40, None, None),
    ("exploration", "complete", 0.55, None, None),
    ("exploration", "pruned", None, None, None),
    ("exploration", "complete", 0.62, None, None),
    ("exploration", "failed", None, "CUDA out of memory", None),
    ("exploration", "complete", 0.50, None, None),
    ("exploration", "complete", 0.70, None, None),
    ("exploration", "pruned", None, None, None),
    ("refinement", "complete", 0.58, None, None),
    ("refinement", "complete", 0.66, None, None),
    ("refinement", "failed", None, "loss is NaN at epoch 3", None),
    ("refinement", "complete", 0.45, None, None),
    ("confirmation", "complete", 0.61, None, 6),
    ("confirmation", "complete", 0.64, None, 9),
]

# (mae, picp) of a forecast search; |picp - 0.80| is the stored second value. None: a failed trial.
# Front (by hand): 0, 1, 2, 3, 5, 6, 9 (3 and 9 tie); dominated: 4 (by 1), 8 (by 0).
FORECAST_TRIALS = [
    (10.0, 0.65),
    (12.0, 0.78),
    (8.0, 0.50),
    (11.0, 0.70),
    (13.0, 0.75),
    (9.0, 0.62),
    (15.0, 0.80),
    None,
    (10.0, 0.55),
    (11.0, 0.70),
]


def forecast_plan(target: str = "NHITS_Q@heat") -> Plan:
    return build_plans(load_study("forecast"), target, presets=["quick"])[0]


def new_study(path: Path, plan: Plan, *, sqlite: bool = True) -> optuna.Study:
    """The study in path/study.db as a backend keeps it (sqlite=False: in memory, for big studies)."""
    path.mkdir(parents=True, exist_ok=True)
    study = optuna.create_study(
        study_name=rec.optuna_study_name(plan.study, plan.target),
        storage=f"sqlite:///{path / 'study.db'}" if sqlite else None,
        directions=[o.optimised_direction for o in plan.objectives],
    )
    study.set_user_attr(rec.STUDY_ATTR_PLAN, plan.to_data())
    return study


def add(
    study: optuna.Study,
    plan: Plan,
    stage: str,
    state: str,
    values: list[float] | None,
    params: dict[str, Any],
    distributions: dict[str, Any],
    metrics: dict[str, float] | None = None,
    failure: str | None = None,
    source: int | None = None,
) -> None:
    attrs: dict[str, Any] = {
        rec.STAGE: stage,
        rec.EPOCHS: plan.stage(stage).epochs,
        rec.SEED: plan.seed,
        rec.METRICS: metrics or {},
        rec.DURATION: 1.5,
        rec.EXIT_CODE: 1 if state == "failed" else 0,
        rec.BACKEND: "local",
    }
    if failure:
        attrs[rec.FAILURE] = failure
    if source is not None:
        attrs[rec.SOURCE_TRIAL] = source
    study.add_trial(
        create_trial(
            state=STATES[state],
            values=values if state == "complete" else None,
            params=params,
            distributions=distributions,
            user_attrs=attrs,
        )
    )


def everest_params(number: int) -> dict[str, Any]:
    return {
        "embed_dim": 64 + 16 * number,
        "num_blocks": 4 + number % 9,
        "dropout": 0.1 + 0.025 * number,
        "focal_gamma": 0.2 * number,
        "learning_rate": 1e-4 * (1 + number),
        "batch_size": [256, 512, 1024][number % 3],
    }


def add_forecast_trials(study: optuna.Study, plan: Plan, points: list[tuple[float, float] | None]) -> None:
    for number, point in enumerate(points):
        params = {
            "num_stacks": 2 + number % 4,
            "learning_rate": 1e-4 * (1 + number % 50),
            "dropout": 0.01 * (number % 30),
        }
        if point is None:
            add(study, plan, "search", "failed", None, params, NHITS_DISTRIBUTIONS, failure="trainer exited with 137")
            continue
        mae, picp = point
        metrics = {"mae": mae, "picp": picp}
        add(study, plan, "search", "complete", [mae, abs(picp - 0.80)], params, NHITS_DISTRIBUTIONS, metrics)


def everest_plan(target: str = "M_24h") -> Plan:
    return build_plans(load_study("everest"), target, presets=["quick"])[0]


def build_everest(
    root: Path, target: str = "M_24h", shift: float = 0.0, *, sqlite: bool = True
) -> tuple[optuna.Study, Plan]:
    """The quick everest run of EVEREST_TRIALS (every TSS plus `shift`), stored in root/everest/<target>/study.db
    (sqlite=False: in memory)."""
    plan = everest_plan(target)
    study = new_study(root / "everest" / target, plan, sqlite=sqlite)
    for number, (stage, state, tss, failure, source) in enumerate(EVEREST_TRIALS):
        tss = round(tss + shift, 6) if tss is not None else None
        params = everest_params(source if source is not None else number)
        metrics = {"tss": tss, "val_loss": round(1 - tss, 6)} if tss is not None else {}
        values = [tss] if tss is not None else None
        add(study, plan, stage, state, values, params, EVEREST_DISTRIBUTIONS, metrics, failure, source)
    return study, plan


def build_forecast(
    root: Path,
    target: str = "NHITS_Q@heat",
    points: list[tuple[float, float] | None] | None = None,
    *,
    sqlite: bool = True,
) -> tuple[optuna.Study, Plan]:
    """A forecast search of FORECAST_TRIALS (or `points`), stored in root/forecast/<target>/study.db."""
    plan = forecast_plan(target)
    study = new_study(root / "forecast" / target, plan, sqlite=sqlite)
    add_forecast_trials(study, plan, FORECAST_TRIALS if points is None else points)
    return study, plan


@dataclass
class Written:
    root: Path
    out_dir: Path
    study: optuna.Study
    plan: Plan
    summary: ResultsSummary


def write(
    root: Path, study: optuna.Study, plan: Plan, provenance: dict[str, Any] | None = None, *, plots: bool = True
) -> Written:
    """write_results into root/<study>/<target>/; plots=False where a test reads only the data files."""
    out_dir = root / plan.study / plan.target
    provenance = provenance if provenance is not None else {"seeds": [plan.seed]}
    summary = write_results(study, plan, out_dir, provenance, plots=plots)
    return Written(root, out_dir, study, plan, summary)
