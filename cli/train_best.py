"""`hpoctl train-best`: the final model with the best parameters, over several seeds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hpoctl.cli.options import (
    DataOpt,
    OutputOpt,
    PresetOpt,
    ResultsOpt,
    SetOpt,
    StudyArg,
    StudyNameOpt,
    TargetOpt,
    results_root,
)
from hpoctl.cli.output import OutputFormat, emit
from hpoctl.plan import one_plan
from hpoctl.results.layout import target_dir
from hpoctl.train_best import train_best as run_train_best


def train_best(
    study: StudyArg,
    target: TargetOpt,
    epochs: Annotated[int | None, typer.Option("--epochs", min=1, help="Default: the last stage's epochs.")] = None,
    repeats: Annotated[int, typer.Option("--repeats", min=1, help="Runs with seeds seed, seed+1, ...")] = 1,
    seed: Annotated[int | None, typer.Option("--seed", help="First seed (default: the study's).")] = None,
    preset: PresetOpt = None,
    set_: SetOpt = None,
    data: DataOpt = None,
    results: ResultsOpt = None,
    study_name: StudyNameOpt = None,
    cache_dir: Annotated[Path | None, typer.Option("--cache-dir", help="Trainers' prepared-data cache.")] = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Train with the best parameters found; with --repeats, report the mean and spread over seeds.

    Examples:
        hpoctl train-best everest --target M_24h --epochs 120 --repeats 3
        hpoctl train-best csi --target default -o json
        hpoctl train-best mlp --target default --study-name mlp.default.lr-sweep
    """
    plan = one_plan("train-best", study, target, preset=preset, set_=set_, data=data)
    out_dir = target_dir(results_root(results), plan.study, plan.target)
    summary = run_train_best(
        plan,
        out_dir,
        epochs=epochs,
        repeats=repeats,
        seed=plan.seed if seed is None else seed,
        cache_dir=cache_dir,
        study_name=study_name,
    )
    rows = [{"objective": name, **stats} for name, stats in summary["objectives"].items()]
    emit(
        summary,
        output,
        rows=rows,
        columns=["objective", "mean", "std", "min", "max"],
        title=f"{plan.study}/{plan.target}: trial {summary['trial']}, {epochs or summary['epochs']} epochs, "
        f"{repeats} seeds",
    )
