"""`hpoctl launch`, `status`, `cancel` and `delete`: a study on a backend, through the one backend interface."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from hpoctl.backends import StageStatus
from hpoctl.cli.options import (
    AlgorithmOpt,
    BackendOpt,
    CollectorOpt,
    ConfigOpt,
    ContextOpt,
    DataOpt,
    ImageOpt,
    KubeconfigOpt,
    MaxTrialsOpt,
    NamespaceOpt,
    NodePoolOpt,
    OutputOpt,
    PresetOpt,
    ResultsOpt,
    ScalariseOpt,
    SetOpt,
    StageOpt,
    StudyArg,
    StudyNameOpt,
    TargetAllOpt,
    TargetOpt,
    backend_options,
    chosen_backend,
)
from hpoctl.cli.output import OutputFormat, emit, note
from hpoctl.data_check import require_usable_data
from hpoctl.errors import UsageError
from hpoctl.plan import select_plans
from hpoctl.spec.durations import parse_duration


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def launch(
    study: StudyArg,
    target: TargetOpt,
    backend: BackendOpt = None,
    stage: StageOpt = None,
    preset: PresetOpt = None,
    set_: SetOpt = None,
    data: DataOpt = None,
    max_trials: MaxTrialsOpt = None,
    timeout: Annotated[str | None, typer.Option("--timeout", help="Wall time per target, e.g. 3600 or 6h.")] = None,
    n_jobs: Annotated[int | None, typer.Option("--n-jobs", "-j", min=1, help="Trials side by side.")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed of the trainers and the sampler.")] = None,
    results: ResultsOpt = None,
    study_name: StudyNameOpt = None,
    resume: Annotated[
        bool, typer.Option("--resume/--no-resume", help="Continue a study that exists (the default).")
    ] = True,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print what would run; change nothing.")] = False,
    follow: Annotated[bool, typer.Option("--follow", help="katib: watch each stage and launch the next.")] = False,
    namespace: NamespaceOpt = None,
    context: ContextOpt = None,
    kubeconfig: KubeconfigOpt = None,
    metrics_collector: CollectorOpt = None,
    scalarise: ScalariseOpt = False,
    algorithm: AlgorithmOpt = None,
    image: ImageOpt = None,
    node_pool: NodePoolOpt = None,
    config: ConfigOpt = None,
    cache_dir: Annotated[Path | None, typer.Option("--cache-dir", help="Trainers' prepared-data cache.")] = None,
    threads: Annotated[int | None, typer.Option("--threads", min=1, help="Threads per trial (local).")] = None,
    runtime: Annotated[
        str | None,
        typer.Option("--runtime", help="slurm: apptainer (default), singularity, or none (hpoctl on the node)."),
    ] = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Run a study: every stage of its protocol for the chosen target(s), resuming what exists.

    Examples:
        hpoctl launch everest --target M_24h --preset quick
        hpoctl launch everest --target all --n-jobs 2 --timeout 6h
        hpoctl launch everest --target M_24h --stage refinement
        hpoctl launch everest --target M_24h --backend katib --namespace hpo --follow
        hpoctl launch everest --target all --backend slurm --dry-run
    """
    try:
        timeout_s = parse_duration(timeout) if timeout is not None else None
    except ValueError as e:
        raise UsageError(f"--timeout: {e}") from e
    plans = select_plans(study, target, stage=stage, preset=preset, set_=set_, max_trials=max_trials, data=data)
    chosen = chosen_backend(backend)
    options = backend_options(
        chosen,
        results=results,
        stage=stage,
        n_jobs=n_jobs,
        timeout=timeout_s,
        seed=seed,
        study_name=study_name,
        resume=resume,
        follow=follow,
        namespace=namespace,
        context=context,
        kubeconfig=kubeconfig,
        image=image,
        node_pool=node_pool,
        metrics_collector=metrics_collector,
        scalarise=scalarise,
        algorithm=algorithm,
        config=config,
        cache_dir=cache_dir,
        threads=threads,
        runtime=runtime,
    )
    if dry_run:
        rendered = chosen.render(plans, options)
        sys.stdout.write(rendered.text)
        for line in rendered.notes:
            note(line)
        return
    if chosen.data_visible_here:
        require_usable_data(plans)
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        launched = chosen.launch(plans, options)
    finally:
        signal.signal(signal.SIGTERM, previous)
    if output is OutputFormat.table:
        for line in launched.lines():
            note(line)
    else:
        emit(launched.to_data(), output)


def status(
    study: StudyArg,
    target: TargetAllOpt = ["all"],  # noqa: B006 - Typer reads the default, nothing mutates it
    backend: BackendOpt = None,
    stage: StageOpt = None,
    preset: PresetOpt = None,
    set_: SetOpt = None,
    results: ResultsOpt = None,
    study_name: StudyNameOpt = None,
    namespace: NamespaceOpt = None,
    context: ContextOpt = None,
    kubeconfig: KubeconfigOpt = None,
    config: ConfigOpt = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """What is running or done: trials done of the budget, running, pruned, failed, best so far.

    Select the run as `launch` did (--preset, --set, --study-name), so it is judged by its own budget.

    Examples:
        hpoctl status everest
        hpoctl status everest --target M_24h --preset quick -o json
        hpoctl status everest --backend katib --namespace hpo
    """
    _, poll = status_poll(study, target, backend, stage=stage, preset=preset, set_=set_, results=results,
                          study_name=study_name, namespace=namespace, context=context, kubeconfig=kubeconfig,
                          config=config)  # fmt: skip
    rows = [row.as_row() for row in poll()]
    columns = ["target", "stage", "state", "trials_done", "trials_budget", "running", "pruned", "failed", "best"]
    emit(rows, output, columns=[*columns, "detail"])


def status_poll(
    study: str, target: list[str], backend: str | None, *, stage: str | None, results: Path | None, **options: Any
) -> tuple[str, Callable[[], list[StageStatus]]]:
    """The selected targets' status rows as `status` and `watch` read them: the backend's name and a function
    that asks the backend again each time it is called."""
    preset, set_ = options.pop("preset"), options.pop("set_")
    plans = select_plans(study, target, stage=stage, preset=preset, set_=set_)
    chosen = chosen_backend(backend)
    chosen_options = backend_options(chosen, results=results, stage=stage, **options)
    return chosen.name, lambda: chosen.status(plans, chosen_options)


def cancel(
    study: StudyArg,
    target: TargetAllOpt = ["all"],  # noqa: B006 - Typer reads the default, nothing mutates it
    backend: BackendOpt = None,
    preset: PresetOpt = None,
    set_: SetOpt = None,
    results: ResultsOpt = None,
    study_name: StudyNameOpt = None,
    namespace: NamespaceOpt = None,
    context: ContextOpt = None,
    kubeconfig: KubeconfigOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Stop what runs for a study, keeping every completed trial.

    Examples:
        hpoctl cancel everest --target M_24h
        hpoctl cancel everest --backend slurm
    """
    plans = select_plans(study, target, preset=preset, set_=set_)
    chosen = chosen_backend(backend)
    options = backend_options(
        chosen,
        results=results,
        study_name=study_name,
        namespace=namespace,
        context=context,
        kubeconfig=kubeconfig,
        config=config,
    )
    for line in chosen.cancel(plans, options):
        note(line)


def delete(
    study: StudyArg,
    target: TargetOpt,
    backend: BackendOpt = None,
    stage: StageOpt = None,
    preset: PresetOpt = None,
    set_: SetOpt = None,
    no_pull: Annotated[
        bool, typer.Option("--no-pull", help="Delete without pulling the results first (their metrics are lost).")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    results: ResultsOpt = None,
    namespace: NamespaceOpt = None,
    context: ContextOpt = None,
    kubeconfig: KubeconfigOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Delete what a backend created for a study (Katib: its Experiments), pulling the results first.

    Katib keeps no metrics of a deleted Experiment, so the trials are pulled (as `hpoctl results pull`
    does) before anything is deleted, unless --no-pull.

    Examples:
        hpoctl delete everest --target M_24h --backend katib -n hpo
        hpoctl delete everest --target all --stage exploration --backend katib --yes
        hpoctl delete mlp --target default --backend katib --no-pull --yes
    """
    plans = select_plans(study, target, stage=stage, preset=preset, set_=set_)
    chosen = chosen_backend(backend)
    options = backend_options(
        chosen,
        results=results,
        stage=stage,
        no_pull=no_pull,
        namespace=namespace,
        context=context,
        kubeconfig=kubeconfig,
        config=config,
    )
    if chosen.supports("delete") and not yes:
        if not sys.stdin.isatty():
            raise UsageError("delete asks for confirmation: pass --yes when not at a terminal")
        count = sum(len(p.stages) for p in plans)
        typer.confirm(f"Delete up to {count} {chosen.name} stages of {plans[0].study}?", abort=True, err=True)
    for line in chosen.delete(plans, options):
        note(line)
