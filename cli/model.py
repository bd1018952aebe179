"""`hpoctl model`: the trained model out of a study (`export`) and a saved model scored again (`evaluate`)."""

from __future__ import annotations

import sys
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
from hpoctl.errors import HpoctlError
from hpoctl.models import evaluate_model, export_model
from hpoctl.plan import one_plan
from hpoctl.results.layout import MODEL_DIR, target_dir

app = typer.Typer(help="Trained models: export the best one, score a saved one.", no_args_is_help=True)


@app.command("export")
def export(
    study: StudyArg,
    target: TargetOpt,
    to: Annotated[
        Path | None, typer.Option("--to", help="Folder to export into (default: RESULTS/STUDY/TARGET/model).")
    ] = None,
    preset: PresetOpt = None,
    set_: SetOpt = None,
    data: DataOpt = None,
    results: ResultsOpt = None,
    study_name: StudyNameOpt = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Copy the best trial's saved model (for a confirmation's mean, its best seed) with a model card: study,
    parameters, data fingerprint, the metric it reached and the code version.

    Examples:
        hpoctl model export everest --target M_24h
        hpoctl model export everest --target M_24h --to ~/models/everest-m24
    """
    plan = one_plan("model export", study, target, preset=preset, set_=set_, data=data)
    out_dir = target_dir(results_root(results), plan.study, plan.target)
    dest = to or out_dir / MODEL_DIR
    card = export_model(plan, out_dir, dest, study_name)
    if output is OutputFormat.table:
        saved = card["saved_epoch"]
        sys.stdout.write(
            f"{dest}: trial {card['trial']} ({card['stage']}), {saved['metric']} = {saved['value']:.4g} "
            f"at epoch {saved['epoch']}; see MODEL_CARD.md\n"
        )
    else:
        emit({"folder": str(dest), **card}, output)


@app.command("evaluate")
def evaluate(
    folder: Annotated[Path, typer.Argument(help="A saved model: an export, or RESULTS/.../trials/NNNNN/model.")],
    data: Annotated[
        str | None, typer.Option("--data", help="Score on this data (the trainer's format) instead of its own.")
    ] = None,
    cache_dir: Annotated[Path | None, typer.Option("--cache-dir", help="Trainers' prepared-data cache.")] = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Load a saved model with its trainer and score it; on the data it was trained on, its metrics must be the
    ones it reached when saved (exit 1 if not).

    Examples:
        hpoctl model evaluate results/everest/M_24h/model
        hpoctl model evaluate results/everest/M_24h/model --data new_regions.csv -o json
    """
    result = evaluate_model(folder, data=data, cache_dir=cache_dir)
    rows = [
        {"metric": name, "value": value, "when saved": result.get("saved_metrics", {}).get(name)}
        for name, value in result["metrics"].items()
    ]
    emit(
        result,
        output,
        rows=rows,
        columns=["metric", "value", "when saved"],
        title=f"{folder} (epoch {result['epoch']})",
    )
    if result.get("matches_saved") is False:
        raise HpoctlError(f"{folder}: the scores differ from the ones saved with the model (model.json)")
