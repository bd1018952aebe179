"""`hpoctl results pull|show|compare`: bring a backend's trials into the one results layout, and read it."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from hpoctl.catalog import load_study
from hpoctl.cli.options import (
    BackendOpt,
    ConfigOpt,
    ContextOpt,
    KubeconfigOpt,
    NamespaceOpt,
    OutputOpt,
    PresetOpt,
    ResultsOpt,
    SetOpt,
    StudyArg,
    StudyNameOpt,
    TargetAllOpt,
    TargetOpt,
    backend_options,
    chosen_backend,
    results_root,
)
from hpoctl.cli.output import OutputFormat, emit, format_cell, note
from hpoctl.plan import one_plan, select_plans
from hpoctl.results.layout import target_dir

app = typer.Typer(
    help="Best parameters, Pareto picks and cross-target comparisons of finished studies.", no_args_is_help=True
)

TopOpt = Annotated[int, typer.Option("--top", "-n", min=0, help="How many of the top trials to list.")]


@app.command("pull")
def pull(
    study: StudyArg,
    target: TargetAllOpt = ["all"],  # noqa: B006 - Typer reads the default, nothing mutates it
    backend: BackendOpt = None,
    preset: PresetOpt = None,
    set_: SetOpt = None,
    running: Annotated[bool, typer.Option("--running", help="katib: also record running trials (as RUNNING).")] = False,
    results: ResultsOpt = None,
    study_name: StudyNameOpt = None,
    namespace: NamespaceOpt = None,
    context: ContextOpt = None,
    kubeconfig: KubeconfigOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Bring a study's trials into the results folder and rewrite its summary files (best_params.json,
    trials.csv, pareto.json, plots): Katib's trials pulled from the cluster, a local or SLURM study re-read.

    Examples:
        hpoctl results pull everest --target M_24h --backend katib -n hpo
        hpoctl results pull everest --backend slurm --results /scratch/hpo/results
        hpoctl results pull everest --target M_24h --preset quick
    """
    plans = select_plans(study, target, preset=preset, set_=set_)
    chosen = chosen_backend(backend)
    options = backend_options(
        chosen,
        results=results,
        study_name=study_name,
        running=running,
        namespace=namespace,
        context=context,
        kubeconfig=kubeconfig,
        config=config,
    )
    for line in chosen.results(plans, options):
        note(line)


@app.command("show")
def show(
    study: StudyArg,
    target: TargetOpt,
    results: ResultsOpt = None,
    top: TopOpt = 5,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Show a target's best trial (one objective) or Pareto picks (several) and its top trials.

    Examples:
        hpoctl results show everest --target M_24h
        hpoctl results show forecast --target NHITS_Q@heat --top 10
        hpoctl results show everest -t M_24h -o json --results /scratch/hpo/results
    """
    from hpoctl.results.reader import load_results
    from hpoctl.results.refresh import refresh_from_study

    plan = one_plan("results show", study, target, hint="; `hpoctl results compare` shows them all")
    out_dir = target_dir(results_root(results), plan.study, plan.target)
    if refresh_from_study(plan, out_dir):
        note(f"{plan.study}/{plan.target}: summary files were missing or behind study.db; rewritten from it")
    loaded = load_results(out_dir, launch_as=study)
    best = loaded.best
    data: dict[str, Any] = {
        "study": best["study"],
        "target": best["target"],
        "objectives": best["objectives"],
        "stage": best["stage"],
        "selection": best["selection"],
        "counts": best["counts"],
        "best": best["best_trial"],
        "top": loaded.top[:top],
    }
    if loaded.pareto is not None:
        data["pareto"] = {
            "size": loaded.pareto["size"],
            "balanced": loaded.pareto["balanced"],
            "best_per_objective": loaded.pareto["best_per_objective"],
        }
    if output is not OutputFormat.table:
        emit(data, output)
        return
    metrics = [o["metric"] for o in best["objectives"]]
    counts = ", ".join(f"{n} {state}" for state, n in best["counts"].items() if n) or "no trials"
    name = f"{best['study']} / {best['target']}"
    if loaded.pareto is None:
        rows = [{"field": "trials", "value": counts}, *_best_rows(best)]
        emit(data, output, rows=rows, columns=["field", "value"], title=name)
    else:
        picks = [("balanced", loaded.pareto["balanced"])]
        picks += [(f"best {m}", t) for m, t in loaded.pareto["best_per_objective"].items()]
        rows = [_trial_row(t, metrics, pick=pick) for pick, t in picks if t]
        title = f"{name}: {loaded.pareto['size']} trials on the Pareto front; {counts}"
        emit(data, output, rows=rows, columns=["pick", "trial", "stage", *metrics, "params"], title=title)
    if top:
        rows = [_trial_row(t, metrics) for t in loaded.top[:top]]
        emit(data, output, rows=rows, columns=["rank", "trial", "stage", *metrics, "params"], title=f"top {top}")


@app.command("compare")
def compare(
    study: StudyArg,
    results: ResultsOpt = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Compare the targets of a study: best value, trial counts and best parameters per target.

    MODEL@DATASET targets also get a model x dataset table. A chart goes to RESULTS/STUDY/compare/.

    Examples:
        hpoctl results compare everest
        hpoctl results compare forecast -o json
        hpoctl results compare ./my-study.yaml --results /scratch/hpo/results
    """
    from hpoctl.results.compare import compare_targets, pivot_rows, write_compare_plot

    root = results_root(results)
    loaded = load_study(study)
    comparison = compare_targets(root, loaded.spec.name, loaded.spec)
    written = write_compare_plot(comparison, root)
    note(f"wrote {', '.join(str(p) for p in written)}")
    data = comparison.to_data()
    if output is not OutputFormat.table:
        emit(data, output)
        return
    metrics = [o["metric"] for o in comparison.objectives]
    columns = ["target", *metrics, "complete", "pruned", "failed", "trial", "stage", "params"]
    rows = [{**row, "params": params_text(row["params"] or {})} for row in comparison.rows]
    emit(data, output, rows=rows, columns=columns, title=f"{comparison.study}: best trial per target")
    if comparison.pivot is not None:
        columns, rows = pivot_rows(comparison.pivot)
        emit(data, output, rows=rows, columns=columns, title="model x dataset")


def _best_rows(best: dict[str, Any]) -> list[dict[str, Any]]:
    trial = best.get("best_trial")
    if not trial:
        return [{"field": "best", "value": "no complete trial yet"}]
    rows = [
        {"field": "best trial", "value": trial["number"]},
        {"field": "stage", "value": f"{trial['stage']} (the last stage with complete trials)"},
    ]
    for objective in best["objectives"]:
        rows.append({"field": objective["label"], "value": _with_spread(trial, objective["metric"])})
    if trial.get("source_trial") is not None:
        rows.append({"field": "re-runs trial", "value": trial["source_trial"]})
    rows += [{"field": f"param {k}", "value": v} for k, v in trial["params"].items()]
    return rows


def _trial_row(trial: dict[str, Any], metrics: list[str], pick: str | None = None) -> dict[str, Any]:
    row: dict[str, Any] = {
        "trial": trial.get("number"),
        "stage": trial.get("stage"),
        "params": params_text(trial.get("params") or {}),
    }
    if pick is not None:
        row["pick"] = pick
    if "rank" in trial:
        row["rank"] = trial["rank"]
    row.update({m: _with_spread(trial, m) for m in metrics})
    return row


def params_text(params: dict[str, Any]) -> str:
    """Parameters for a table cell: `lr=0.0003 layers=4 optimizer=adam`."""
    return " ".join(f"{k}={format_cell(v)}" for k, v in params.items())


def _with_spread(trial: dict[str, Any], metric: str) -> Any:
    """The value, and for a confirmation's mean over fresh seeds its spread: `0.61 ± 0.02 (3 seeds)`."""
    from hpoctl.results.repeats import spread_text

    spread = spread_text(trial, metric)
    return f"{format_cell(_shown(trial, metric))}{spread}" if spread else _shown(trial, metric)


def _shown(trial: dict[str, Any], metric: str) -> Any:
    """The raw metric (PICP 0.79) when reported, else the stored objective value."""
    from hpoctl.results.compare import shown_value

    return shown_value(trial, metric)
