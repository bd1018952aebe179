"""The Optuna worker one SLURM array task runs (`hpoctl worker`): it pulls trials of one stage from the target's
shared study with the runner every backend uses, until the stage's budget is met across all workers.

SIGTERM (scancel, pre-emption, or the batch script forwarding the time-limit signal) stops the running trial,
which is kept as interrupted for a re-run, and the worker exits with INTERRUPTED_EXIT so the script can requeue
the task. The last worker to finish a stage writes the results folder.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from hpoctl.gpu_share import GpuLeases, visible_gpu_ids
from hpoctl.plan import Plan
from hpoctl.results import layout
from hpoctl.results.refresh import Throttled
from hpoctl.runner import StageRunner, TrialEvent, stage_counts
from hpoctl.search.pruners import build_pruner
from hpoctl.search.samplers import build_sampler
from hpoctl.slurm import storage as shared
from hpoctl.slurm.coordination import SharedStudyCoordinator
from hpoctl.slurm.render import INTERRUPTED_EXIT

SEED_STRIDE = 7919  # sampler seeds of the workers of one target differ by this, so they do not propose alike


def log(line: str) -> None:
    print(f"hpoctl worker: {line}", file=sys.stderr, flush=True)


def threads_per_trial(n_jobs: int, environ: dict[str, str] | None = None) -> int:
    """The task's CPUs (SLURM_CPUS_PER_TASK, else the affinity mask) shared out among its trials."""
    env = os.environ if environ is None else environ
    cpus = env.get("SLURM_CPUS_PER_TASK")
    count = int(cpus) if cpus and cpus.isdigit() else len(os.sched_getaffinity(0))
    return max(1, count // max(1, n_jobs))


def task_gpu_leases(plan: Plan, environ: dict[str, str] | None = None) -> GpuLeases | None:
    """Several trials on the array task's one GPU (`resources.trials_per_gpu`), unless SLURM shares the GPU out
    itself: with `slurm.gpu_shards` each task asks for a share (`--gres=shard:N`) and runs one trial."""
    gpus = visible_gpu_ids()
    shards = (environ if environ is not None else os.environ).get("HPOCTL_SLURM_SHARDS")
    if plan.resources.gpu != 1 or plan.resources.trials_per_gpu == 1 or not gpus or shards:
        return None
    return GpuLeases(gpus[:1], plan.resources.trials_per_gpu)


def run_worker(
    plan: Plan,
    stage_name: str,
    *,
    results_dir: Path,
    storage: str | None = None,
    worker: int = 0,
    n_jobs: int = 1,
    poll_s: float = 10.0,
    seed: int | None = None,
    study_name: str | None = None,
    cache_dir: Path | None = None,
    stop_event: threading.Event | None = None,
    say: Callable[[str], None] = log,
) -> int:
    """Run trials of `stage_name` until its budget is met; 0 when it is, INTERRUPTED_EXIT when stopped by a signal."""
    stage = plan.stage(stage_name)
    out_dir = layout.target_dir(results_dir, plan.study, plan.target)
    storage = storage or str(out_dir / layout.JOURNAL_FILE)
    started = dt.datetime.now(dt.timezone.utc)
    stop = stop_event or threading.Event()
    stopped_by: list[str] = []

    def on_signal(signum, frame):
        stopped_by.append(signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        existing = layout.load_study(storage, plan, study_name)
        held = len(existing.get_trials(deepcopy=False)) if existing is not None else 0
        base_seed = plan.algorithm.settings.get("seed", plan.seed if seed is None else seed)
        sampler = build_sampler(
            plan.algorithm, plan.parameters, seed=base_seed + held + SEED_STRIDE * worker, parallel=True
        )
        study = layout.create_study(plan, storage, name=study_name, sampler=sampler, record_plan=False)
        study.pruner = build_pruner(plan, stage)
        coordinator = SharedStudyCoordinator(out_dir / ".top-k", poll_s=poll_s)
        lost = coordinator.reap(study)
        if lost:
            say(f"{lost} trials of stopped workers will be re-run")
        counts = stage_counts(study, stage.name)
        say(
            f"{plan.study}/{plan.target} stage {stage.name}, worker {worker}: {counts.counted}/{stage.trials} "
            f"trials done, {counts.running} running"
        )

        refresh = Throttled(
            lambda: shared.write_results(
                study, plan, out_dir, started_at=started, seed=seed, plots=False, extra=_job_provenance()
            ),
            min_interval_s=10.0,  # several workers share the files; one of them at a time writes
        )

        def on_event(event: TrialEvent) -> None:
            if event.state == "started":
                say(f"trial {event.number} started")
                return
            refresh()
            done = f"{event.counts.counted}/{event.budget}"
            detail = f" {event.value}" if event.value is not None else ""
            say(f"trial {event.number} {event.state}{detail} ({done} done)")

        gpu_leases = task_gpu_leases(plan)
        if gpu_leases is not None:
            n_jobs = max(n_jobs, gpu_leases.slots)
            say(f"up to {n_jobs} trials on this task's GPU (trials_per_gpu {plan.resources.trials_per_gpu})")
        runner = StageRunner(
            plan,
            stage,
            study,
            trials_dir=out_dir / "trials",
            n_jobs=n_jobs,
            seed=seed,
            cache_dir=cache_dir,
            threads_per_trial=threads_per_trial(n_jobs),
            gpu_leases=gpu_leases,
            stop_event=stop,
            on_event=on_event,
            backend="slurm",
            shared=coordinator,
        )
        try:
            counts = runner.run()
        except BaseException:
            _write_results(study, plan, out_dir, started, seed, say)
            raise
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if stop.is_set() and counts.counted < stage.trials:
        say(f"stopped by {stopped_by[0] if stopped_by else 'request'}: {counts.counted}/{stage.trials} done")
        return INTERRUPTED_EXIT
    say(f"stage {stage.name} done: {counts.counted}/{stage.trials} trials")
    if counts.running == 0:
        _write_results(study, plan, out_dir, started, seed, say)
    return 0


def _write_results(study, plan: Plan, out_dir: Path, started, seed, say: Callable[[str], None]) -> None:
    try:
        if shared.write_results(study, plan, out_dir, started_at=started, seed=seed, extra=_job_provenance()):
            say(f"results written to {out_dir}")
    except Exception as e:  # the trials are safe in the study; `hpoctl status` writes the results again
        say(f"could not write results ({type(e).__name__}: {e}); `hpoctl status` will write them")


def _job_provenance() -> dict[str, object]:
    keys = ("SLURM_CLUSTER_NAME", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID", "SLURM_JOB_ID", "SLURM_JOB_PARTITION")
    return {"slurm": {k.removeprefix("SLURM_").lower(): os.environ[k] for k in keys if k in os.environ}}
