"""Train the final model with a study's best parameters (seed 002's train-optimized mode): one run
per seed, the objectives' mean and spread over the repeats."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from hpoctl.errors import HpoctlError, ResultsError
from hpoctl.plan import Plan
from hpoctl.results import layout
from hpoctl.search.objectives import objective_value
from hpoctl.tracking_env import tracking_env
from hpoctl.trial_process import run_trial_process


def best_parameters(plan: Plan, out_dir: Path, name: str | None = None) -> dict[str, Any]:
    """The best trial as best_params.json describes it, computed from the target's study (study.db, else
    study.journal) when it has one, so `--study-name` picks among several studies in one storage and a stale or
    missing best_params.json does not decide; best_params.json only for a folder without a study."""
    from hpoctl.results import summary
    from hpoctl.results.trials import stage_order

    for storage in (out_dir, out_dir / layout.JOURNAL_FILE):
        if not layout.storage_exists(storage):
            continue
        study = layout.load_study(storage, plan, name)
        if study is None:
            if name:
                raise ResultsError(f"{layout.shown(out_dir)} holds no study named {name!r}; check --study-name")
            continue
        trials = study.get_trials(deepcopy=False)
        data = summary.best_params(study.study_name, plan, trials, stage_order(plan, trials))
        if not data["best_params"]:
            raise ResultsError(f"study {study.study_name!r} in {layout.shown(out_dir)} has no complete trial yet")
        return data
    if name:
        raise ResultsError(f"no study in {layout.shown(out_dir)}: run `hpoctl launch` with --study-name {name} first")
    path = out_dir / layout.BEST_PARAMS
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as e:
        raise ResultsError(f"no results in {layout.shown(out_dir)}: run `hpoctl launch` for this target first") from e
    except (OSError, ValueError) as e:
        raise ResultsError(f"{path} is not readable: {e}") from e
    if not isinstance(data, dict) or not data.get("best_params"):
        raise ResultsError(f"{path} has no best trial yet: no trial completed")
    return data


def train_best(
    plan: Plan,
    out_dir: Path,
    *,
    epochs: int | None,
    repeats: int,
    seed: int,
    cache_dir: Path | None = None,
    study_name: str | None = None,
) -> dict[str, Any]:
    best = best_parameters(plan, out_dir, study_name)
    epochs = epochs or plan.stages[-1].epochs
    runs = []
    for i in range(repeats):
        run_seed = seed + i
        workdir = out_dir.absolute() / "train_best" / f"seed-{run_seed}"
        argv = [
            *plan.trainer_command(),
            *plan.trainer_args(best["best_params"], epochs=epochs, seed=run_seed),
            "--output",
            str(workdir / "output"),
            *plan.model_args(None, str(workdir / layout.MODEL_DIR)),
        ]
        if cache_dir is not None:
            argv += ["--cache-dir", str(cache_dir)]
        name = f"{plan.study}-{plan.target}-train-best-seed{run_seed}"
        run = run_trial_process(argv, workdir, env=tracking_env(plan, stage="train-best", run_name=name))
        if not run.ok:
            raise HpoctlError(
                f"training with the best parameters failed (seed {run_seed}): {run.failure_reason()}; logs in {workdir}"
            )
        runs.append(
            {
                "seed": run_seed,
                "values": {o.metric: objective_value(o, run.history) for o in plan.objectives},
                "final_metrics": run.history[-1] if run.history else {},
                "output": str(workdir / "output"),
                "model": str(workdir / layout.MODEL_DIR) if plan.saves_model(None) else None,
            }
        )
    summary = {
        "study": plan.study,
        "target": plan.target,
        "trial": best.get("best_trial_number"),
        "params": best["best_params"],
        "epochs": epochs,
        "repeats": repeats,
        "runs": runs,
        "objectives": {},
    }
    for objective in plan.objectives:
        values = [r["values"][objective.metric] for r in runs if r["values"][objective.metric] is not None]
        summary["objectives"][objective.metric] = {
            "mean": statistics.fmean(values) if values else None,
            "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values, default=None),
            "max": max(values, default=None),
        }
    (out_dir / "train_best").mkdir(parents=True, exist_ok=True)
    (out_dir / "train_best" / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary
