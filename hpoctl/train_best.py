"""Train the final model with a study's best parameters (seed 002's train-optimized mode): one run
per seed, the objectives' mean and spread over the repeats."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from hpoctl.errors import HpoctlError, ResultsError
from hpoctl.plan import Plan
from hpoctl.search.objectives import objective_value
from hpoctl.trial_process import run_trial_process


def best_parameters(out_dir: Path) -> dict[str, Any]:
    path = out_dir / "best_params.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as e:
        raise ResultsError(f"no results in {out_dir}: run `hpoctl launch` for this target first") from e
    except ValueError as e:
        raise ResultsError(f"{path} is not valid JSON: {e}") from e
    if not data.get("best_params"):
        raise ResultsError(f"{path} has no best trial yet: no trial completed")
    return data


def train_best(
    plan: Plan, out_dir: Path, *, epochs: int | None, repeats: int, seed: int, cache_dir: Path | None = None
) -> dict[str, Any]:
    best = best_parameters(out_dir)
    epochs = epochs or plan.stages[-1].epochs
    runs = []
    for i in range(repeats):
        run_seed = seed + i
        workdir = out_dir / "train_best" / f"seed-{run_seed}"
        argv = [
            *plan.trainer_command(),
            *plan.trainer_args(best["best_params"], epochs=epochs, seed=run_seed),
            "--output",
            str(workdir / "output"),
        ]
        if cache_dir is not None:
            argv += ["--cache-dir", str(cache_dir)]
        run = run_trial_process(argv, workdir)
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
