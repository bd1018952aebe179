"""`hpoctl launch`, `hpoctl status`, `hpoctl cancel`: run a study on a backend and watch it."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Annotated

import typer

from hpoctl.backends.registry import backend_name, get_backend
from hpoctl.catalog import load_study
from hpoctl.cli.katib import check_collector
from hpoctl.cli.options import (
    BackendOpt,
    CollectorOpt,
    ConfigOpt,
    ContextOpt,
    ImageOpt,
    KubeconfigOpt,
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
    TargetOpt,
    launch_options,
)
from hpoctl.cli.output import OutputFormat, emit, note
from hpoctl.cli.suggestion import AlgorithmChoice, AlgorithmOpt
from hpoctl.errors import UsageError
from hpoctl.plan import build_plans
from hpoctl.spec.durations import parse_duration
from hpoctl.spec.loader import deep_merge, parse_set_overrides

TargetAllOpt = Annotated[str, typer.Option("--target", "-t", help="A target of the study, or `all`.")]


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def launch(
    study: StudyArg,
    target: TargetOpt,
    backend: BackendOpt = None,
    stage: StageOpt = None,
    preset: PresetOpt = None,
    set_: SetOpt = None,
    max_trials: Annotated[int | None, typer.Option("--max-trials", min=1, help="Cap each stage's trials.")] = None,
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
    algorithm: AlgorithmOpt = AlgorithmChoice.auto,
    image: ImageOpt = None,
    node_pool: NodePoolOpt = None,
    config: ConfigOpt = None,
    cache_dir: Annotated[Path | None, typer.Option("--cache-dir", help="Trainers' prepared-data cache.")] = None,
    threads: Annotated[int | None, typer.Option("--threads", min=1, help="Threads per trial (local).")] = None,
    runtime: Annotated[
        str | None,
        typer.Option("--runtime", help="slurm: apptainer (default), singularity, or none (hpoctl on the node)."),
    ] = None,
) -> None:
    """Run a study: every stage of its protocol for the chosen target(s), resuming what exists.

    Examples:
        hpoctl launch everest --target M_24h --preset quick
        hpoctl launch everest --target all --n-jobs 2 --timeout 6h
        hpoctl launch everest --target M_24h --stage refinement
        hpoctl launch everest --target M_24h --backend katib --namespace hpo --follow
        hpoctl launch everest --target all --backend slurm --dry-run
    """
    overrides = parse_set_overrides(set_ or [])
    if max_trials is not None:
        overrides = deep_merge(overrides, {"limits": {"max_trials": max_trials}})
    try:
        timeout_s = parse_duration(timeout) if timeout is not None else None
    except ValueError as e:
        raise UsageError(f"--timeout: {e}") from e
    plans = build_plans(load_study(study), target, stage=stage, presets=preset or [], overrides=overrides)
    name = backend_name(backend)
    options = launch_options(
        results=results,
        stage=stage,
        n_jobs=n_jobs,
        timeout=timeout_s,
        seed=seed,
        study_name=study_name,
        resume=resume,
        dry_run=dry_run,
        follow=follow,
        extra={
            "namespace": namespace,
            "context": context,
            "kubeconfig": kubeconfig,
            "image": image,
            "node_pool": node_pool,
            "metrics_collector": check_collector(metrics_collector),
            "scalarise": scalarise or None,
            "algorithm": algorithm.value,
            "config": config,
            "cache_dir": cache_dir,
            "threads": threads,
            "runtime": runtime,
        },
    )
    if dry_run and name == "local":
        for plan in plans:
            for s in plan.stages:
                argv = plan.trainer_command() + plan.trainer_args({}, epochs=s.epochs, seed=plan.seed)
                print(f"{plan.target} {s.name}: {s.trials} trials x {s.epochs} epochs: {' '.join(argv)} --<param>=...")
        return
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        for line in get_backend(name).launch(plans, options):
            note(line)
    finally:
        signal.signal(signal.SIGTERM, previous)


def status(
    study: StudyArg,
    target: TargetAllOpt = "all",
    backend: BackendOpt = None,
    results: ResultsOpt = None,
    study_name: StudyNameOpt = None,
    preset: PresetOpt = None,
    namespace: NamespaceOpt = None,
    context: ContextOpt = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """What is running or done: trials done of the budget, running, pruned, failed, best so far.

    Examples:
        hpoctl status everest
        hpoctl status everest --target M_24h -o json
        hpoctl status everest --backend katib --namespace hpo
    """
    plans = build_plans(load_study(study), target, presets=preset or [])
    options = launch_options(results=results, study_name=study_name, extra={"namespace": namespace, "context": context})
    rows = [row.as_row() for row in get_backend(backend_name(backend)).status(plans, options)]
    emit(
        rows,
        output,
        columns=[
            "target",
            "stage",
            "state",
            "trials_done",
            "trials_budget",
            "running",
            "pruned",
            "failed",
            "best",
            "detail",
        ],
    )


def cancel(
    study: StudyArg,
    target: TargetAllOpt = "all",
    backend: BackendOpt = None,
    results: ResultsOpt = None,
    namespace: NamespaceOpt = None,
    context: ContextOpt = None,
) -> None:
    """Stop what runs for a study, keeping every completed trial.

    Examples:
        hpoctl cancel everest --target M_24h
        hpoctl cancel everest --backend slurm
    """
    plans = build_plans(load_study(study), target)
    options = launch_options(results=results, extra={"namespace": namespace, "context": context})
    for line in get_backend(backend_name(backend)).cancel(plans, options):
        note(line)
