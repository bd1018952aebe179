"""The SLURM backend's own commands: `hpoctl worker` (what a SLURM array task runs) and `hpoctl logs` (an array
task's output and error files)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from hpoctl.cli.options import (
    DataOpt,
    OneTargetOpt,
    PresetOpt,
    ResultsOpt,
    SetOpt,
    StudyArg,
    results_root,
)
from hpoctl.errors import HpoctlError
from hpoctl.plan import one_plan
from hpoctl.slurm.render import INTERRUPTED_EXIT


class WorkerStopped(HpoctlError):
    """A worker stopped by SIGTERM before its stage was done: exit 75, on which the job script requeues the task."""

    exit_code = INTERRUPTED_EXIT


class Stream(str, Enum):
    both = "both"
    out = "out"
    err = "err"


def worker(
    study: StudyArg,
    target: OneTargetOpt,
    stage: Annotated[str, typer.Option("--stage", "-s", help="The stage whose trials to run.")],
    storage: Annotated[
        str | None,
        typer.Option(
            "--storage",
            help="The shared study: a journal file or an RDB URL (default: RESULTS/STUDY/TARGET/study.journal).",
        ),
    ] = None,
    results: ResultsOpt = None,
    preset: PresetOpt = None,
    set_: SetOpt = None,
    data: DataOpt = None,
    worker_index: Annotated[
        int, typer.Option("--worker", min=0, help="This worker's number among the target's (offsets its sampler seed).")
    ] = 0,
    n_jobs: Annotated[int, typer.Option("--n-jobs", "-j", min=1, help="Trials side by side in this worker.")] = 1,
    poll: Annotated[
        float, typer.Option("--poll", min=0.1, help="Seconds to wait while other workers run the stage's last trials.")
    ] = 10.0,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed of the trainers (default: the study's).")] = None,
    study_name: Annotated[str | None, typer.Option("--study-name", help="Name of the Optuna study.")] = None,
    cache_dir: Annotated[Path | None, typer.Option("--cache-dir", help="Trainers' prepared-data cache.")] = None,
) -> None:
    """Run one stage's trials of a target from its shared study until the stage's budget is met across all workers.

    What each SLURM array task runs (`hpoctl launch --backend slurm` writes the scripts); exits 75 when a signal
    stopped it with trials left (the script then requeues the task). Any machine that sees the storage can join.

    Examples:
        hpoctl worker everest --target M_24h --stage exploration --storage /scratch/r/everest/M_24h/study.journal
        hpoctl worker mlp --target default --stage search --results /scratch/results --worker 2
    """
    from hpoctl.slurm.worker import run_worker

    plan = one_plan(
        "a worker",
        study,
        target,
        hint="; `hpoctl launch --backend slurm --target all` starts them all",
        preset=preset,
        set_=set_,
        data=data,
    )
    code = run_worker(
        plan,
        plan.stage(stage).name,
        results_dir=results_root(results).resolve(),
        storage=storage,
        worker=worker_index,
        n_jobs=n_jobs,
        poll_s=poll,
        seed=seed,
        study_name=study_name,
        cache_dir=cache_dir,
    )
    if code:
        raise WorkerStopped(
            f"{plan.study}/{plan.target} stage {stage}: stopped by a signal with trials left; the interrupted trial "
            f"is re-run by the other workers or when this task is requeued"
        )


def logs(
    study: StudyArg,
    target: OneTargetOpt,
    task: Annotated[
        int | None, typer.Option("--task", min=0, help="One array task: TASK of squeue's JOB_TASK (default: all).")
    ] = None,
    stage: Annotated[str | None, typer.Option("--stage", "-s", help="Only this stage's job.")] = None,
    stream: Annotated[Stream, typer.Option("--stream", help="The output file, the error file, or both.")] = Stream.both,
    tail: Annotated[int | None, typer.Option("--tail", "-n", min=1, help="Only the last N lines of each file.")] = None,
    results: ResultsOpt = None,
    preset: PresetOpt = None,
    set_: SetOpt = None,
) -> None:
    """Print a target's SLURM array task logs (the --output and --error files under the results folder).

    Without --task: every task of the target in the latest job of each stage. The error file has the worker's
    progress, a line per trial; each trainer's own output is in RESULTS/STUDY/TARGET/trials/NNNNN/.

    Examples:
        hpoctl logs everest --target M_24h
        hpoctl logs everest --target M_24h --task 10 --stream err --tail 50
    """
    from hpoctl.slurm.backend import task_log_paths

    plan = one_plan("logs", study, target, preset=preset, set_=set_)
    if stage is not None:
        plan.stage(stage)
    for job, number, out, err in task_log_paths(results_root(results), plan, task=task, stage=stage):
        files = {"out": [out], "err": [err], "both": [out, err]}[stream.value]
        for path in files:
            typer.echo(f"==> {path} ({job.stage} job {job.job_id}, task {job.job_id}_{number}) <==")
            typer.echo(_read(path, tail), nl=False)


def _read(path: Path, tail: int | None) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return "(no file yet: the task has not started)\n"
    lines = text.splitlines(keepends=True)
    text = "".join(lines[-tail:] if tail else lines)
    return text if text.endswith("\n") or not text else text + "\n"
