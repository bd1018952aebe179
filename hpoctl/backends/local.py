"""The local backend: Optuna in this process, trials as child processes of the trainer command,
the study in an SQLite file in the results folder (`results/<study>/<target>/study.db`)."""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import functools
import json
import os
import shlex
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

from hpoctl.backends._base import Backend, Launched, Options, Rendered, StageStatus
from hpoctl.errors import BackendError, HpoctlError
from hpoctl.eta import study_eta
from hpoctl.gpu_share import MAX_TRIALS_PER_GPU, GpuLeases, TrialsPerGpu, sharing_mode, visible_gpu_ids
from hpoctl.plan import Plan
from hpoctl.progress import Progress
from hpoctl.results import layout
from hpoctl.results.ranking import best_so_far
from hpoctl.results.refresh import Throttled, lost_study_line, read_recorded
from hpoctl.runner import StageRunner, fail_interrupted, stage_counts
from hpoctl.search.pruners import build_pruner
from hpoctl.search.samplers import build_sampler
from hpoctl.warm_slot import start_warm_slots

optuna.logging.set_verbosity(optuna.logging.WARNING)


class Interrupted(HpoctlError):
    exit_code = 130


@contextlib.contextmanager
def target_lock(out_dir: Path) -> Iterator[None]:
    """One launch per results folder at a time; the lock dies with the process that holds it."""
    with open(out_dir / layout.LAUNCH_LOCK, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            handle.seek(0)
            pid = handle.read().strip() or "?"
            raise BackendError(
                f"another hpoctl launch (pid {pid}) is running on {out_dir}; wait for it, or stop it with "
                f"`hpoctl cancel`"
            ) from e
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield


def lock_holder(out_dir: Path) -> int | None:
    path = out_dir / layout.LAUNCH_LOCK
    if not path.exists():
        return None
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            text = handle.read().strip()
            return int(text) if text.isdigit() else -1
        fcntl.flock(handle, fcntl.LOCK_UN)
    return None


@dataclass(frozen=True)
class LocalOptions(Options):
    """The local backend's own settings: threads per trial (--threads) and the trainers' data cache."""

    threads: int | None = None
    cache_dir: Path | None = None
    objective: Callable[..., Any] | None = None
    """`hpoctl.optimize`'s function, called in this process for each trial instead of the trainer."""


class LocalBackend(Backend):
    name = "local"
    options_type = LocalOptions

    def render(self, plans: list[Plan], options: Options) -> Rendered:
        """The trainer command of each stage's trials, as they would run here."""
        commands = []
        for plan in plans:
            for stage in plan.stages:
                argv = plan.trainer_command() + plan.trainer_args({}, epochs=stage.epochs, seed=plan.seed)
                commands.append(
                    {
                        "target": plan.target,
                        "stage": stage.name,
                        "trials": stage.trials,
                        "epochs": stage.epochs,
                        "argv": argv,
                    }
                )
        text = "".join(
            f"{c['target']} {c['stage']}: {c['trials']} trials x {c['epochs']} epochs: {shlex.join(c['argv'])} "
            "--<param>=...\n"
            for c in commands
        )
        return Rendered(text, commands)

    def launch(self, plans: list[Plan], options: Options) -> Launched:
        launched = Launched(self.name)
        for plan in plans:
            self._launch_target(plan, self.own_options(options), launched)
        return launched

    def _launch_target(self, plan: Plan, options: LocalOptions, launched: Launched) -> None:
        out_dir = layout.target_dir(options.results_dir, plan.study, plan.target)
        out_dir.mkdir(parents=True, exist_ok=True)
        layout.require_writable(out_dir)
        started_at = dt.datetime.now(dt.timezone.utc)
        timeout = options.timeout or plan.limits.timeout
        deadline = time.time() + timeout if timeout else None
        gpu_ids = visible_gpu_ids()
        pack = packing(
            cores=available_cores(),
            gpus=len(gpu_ids),
            gpu_ids=gpu_ids,
            trial_gpus=plan.resources.gpu,
            parallelism=plan.limits.parallelism,
            n_jobs=options.n_jobs,
            threads=options.threads,
            trials_per_gpu=plan.resources.trials_per_gpu,
        )
        gpu_leases = pack.gpu_leases()  # one a launch: what auto learns of the trials' memory holds for every stage
        n_jobs = pack.n_jobs
        with target_lock(out_dir):
            study = self._open_study(plan, out_dir, options, n_jobs)
            lost = fail_interrupted(study, "the launcher stopped before the trial finished; re-run")
            progress = Progress(plan.study, plan.target, deadline=deadline)
            progress.console.print(f"{plan.study}/{plan.target}: {pack.describe()}")
            if lost:
                progress.console.print(f"{plan.study}/{plan.target}: {lost} interrupted trials will be re-run")
            stop_event = threading.Event()
            # From this thread, so that they serve every stage; none for a function run in this process.
            warm_slots = [] if options.objective else start_warm_slots(plan.trainer, n_jobs)
            try:
                for stage in plan.stages:
                    stage_deadline = deadline
                    if stage.timeout:
                        stage_deadline = min(deadline or float("inf"), time.time() + stage.timeout)
                    study.pruner = build_pruner(plan, stage)
                    done = stage_counts(study, stage.name).counted
                    progress.start_stage(stage.name, done, stage.trials, stage.epochs)

                    refresh = Throttled(
                        functools.partial(self._write_results, study, plan, out_dir, started_at, options, plots=False)
                    )

                    def on_event(event, study=study, refresh=refresh):
                        if event.state != "started":
                            progress.set_best(best_so_far(study, plan.multi_objective))
                            refresh()
                        progress(event)

                    runner = StageRunner(
                        plan,
                        stage,
                        study,
                        trials_dir=out_dir / "trials",
                        n_jobs=n_jobs,
                        seed=options.seed,
                        deadline=stage_deadline,
                        cache_dir=options.cache_dir,
                        threads_per_trial=pack.threads,
                        devices=pack.devices,
                        gpu_leases=gpu_leases,
                        stop_event=stop_event,
                        on_event=on_event,
                        warm_slots=warm_slots,
                        objective=options.objective,
                    )
                    try:
                        runner.run()
                    finally:
                        progress.end_stage()
                        self._write_results(study, plan, out_dir, started_at, options)
                        layout.backup_sqlite(out_dir)
                    if deadline is not None and time.time() >= deadline:
                        break
            except KeyboardInterrupt as e:
                raise Interrupted(
                    f"{plan.study}/{plan.target}: interrupted; completed trials are kept in {out_dir}, "
                    f"relaunch the same command to resume"
                ) from e
            finally:
                for slot in warm_slots:
                    slot.close()
        best = best_so_far(study, plan.multi_objective)
        counts = [stage_counts(study, s.name) for s in plan.stages]
        summary = ", ".join(f"{s.name} {c.counted}/{s.trials}" for s, c in zip(plan.stages, counts, strict=True))
        replaced = sum(c.replaced for c in counts)
        if replaced:
            summary += f" ({replaced} repeated suggestions replaced by fresh configurations)"
        finished = all(c.counted >= s.trials for s, c in zip(plan.stages, counts, strict=True))
        current = next((s.name for s, c in zip(plan.stages, counts, strict=True) if c.counted < s.trials), None)
        launched.add(
            plan.study,
            plan.target,
            current,
            "done" if finished else "stopped",
            f"{plan.study}/{plan.target}: {summary}; best {best if best is not None else '-'}; results in {out_dir}",
        )

    def _open_study(self, plan: Plan, out_dir: Path, options: Options, n_jobs: int) -> optuna.Study:
        study = layout.create_study(plan, out_dir, name=options.study_name, resume=options.resume)
        seed = plan.seed if options.seed is None else options.seed
        # A resumed study must not replay the seeded sampler's first suggestions: offset the seed by the trials held.
        sampler_seed = plan.algorithm.settings.get("seed", seed) + len(study.get_trials(deepcopy=False))
        study.sampler = build_sampler(plan.algorithm, plan.parameters, seed=sampler_seed, parallel=n_jobs > 1)
        return study

    def _write_results(self, study, plan, out_dir, started_at, options, *, plots: bool = True) -> None:
        from hpoctl.results import collect_provenance, write_results

        seed = plan.seed if options.seed is None else options.seed
        provenance = collect_provenance(plan, started_at, dt.datetime.now(dt.timezone.utc), {"trainer": seed})
        write_results(study, plan, out_dir, provenance, plots=plots)

    def status(self, plans: list[Plan], options: Options) -> list[StageStatus]:
        rows = []
        for plan in plans:
            out_dir = layout.target_dir(options.results_dir, plan.study, plan.target)
            study = layout.load_study(out_dir, plan, options.study_name)
            holder = lock_holder(out_dir)
            if study is None:
                rows.append(self._unstarted(plan, out_dir, options))
                continue
            counts = {s.name: stage_counts(study, s.name) for s in plan.stages}
            done = sum(min(c.counted, s.trials) for s, c in zip(plan.stages, counts.values(), strict=True))
            current = next((s.name for s in plan.stages if counts[s.name].counted < s.trials), None)
            state = "running" if holder else ("done" if current is None else "stopped")
            rows.append(
                StageStatus(
                    plan.study,
                    plan.target,
                    current or plan.stages[-1].name,
                    state,
                    done,
                    plan.total_trials,
                    running=sum(c.running for c in counts.values()) if holder else 0,
                    failed=sum(c.failed for c in counts.values()),
                    pruned=sum(c.pruned for c in counts.values()),
                    best=best_so_far(study, plan.multi_objective),
                    detail=f"pid {holder}" if holder else "",
                    eta_s=study_eta(study, plan) if holder else None,
                )
            )
        return rows

    @staticmethod
    def _unstarted(plan: Plan, out_dir: Path, options: Options) -> StageStatus:
        """`not started`, unless best_params.json records trials of this very study: then its store was lost."""
        recorded = read_recorded(out_dir)
        name = layout.study_name(plan, options.study_name)
        row = StageStatus(plan.study, plan.target, None, "not started", 0, plan.total_trials)
        if recorded is not None and recorded[0] == name and layout.storage_exists(out_dir):
            row.state, row.detail = "store lost", lost_study_line(out_dir, out_dir, name, recorded[1])
        return row

    def results(self, plans: list[Plan], options: Options) -> list[str]:
        """The summary files rewritten from each target's study.db (the launch writes them after each stage)."""
        lines = []
        for plan in plans:
            out_dir = layout.target_dir(options.results_dir, plan.study, plan.target)
            study = layout.load_study(out_dir, plan, options.study_name)
            if study is None:
                lines.append(f"{plan.study}/{plan.target}: no study in {out_dir}; launch it first")
                continue
            self._write_results(study, plan, out_dir, _recorded_start(out_dir), options)
            lines.append(f"{plan.study}/{plan.target}: {len(study.trials)} trials; results in {out_dir}")
        return lines

    def cancel(self, plans: list[Plan], options: Options) -> list[str]:
        lines = []
        for plan in plans:
            holder = lock_holder(layout.target_dir(options.results_dir, plan.study, plan.target))
            if holder and holder > 0:
                os.kill(holder, 15)
                lines.append(f"{plan.study}/{plan.target}: sent SIGTERM to launch pid {holder}")
            else:
                lines.append(f"{plan.study}/{plan.target}: nothing running")
        return lines


@dataclass(frozen=True)
class Packing:
    """How a launch packs trials onto this machine."""

    n_jobs: int  # trials side by side
    threads: int  # threads each trial's trainer uses (--threads)
    devices: list[str] | None = None  # a trial of several GPUs: its CUDA_VISIBLE_DEVICES, by worker slot
    why: str = ""
    shared_gpus: list[str] | None = None  # one-GPU trials: the GPUs they share out (hpoctl.gpu_share)
    trials_per_gpu: TrialsPerGpu = 1

    def gpu_leases(self) -> GpuLeases | None:
        return GpuLeases(self.shared_gpus, self.trials_per_gpu) if self.shared_gpus else None

    def describe(self) -> str:
        threads = f"{self.threads} thread{'s' if self.threads != 1 else ''} each"
        if self.shared_gpus:
            many = "auto: one until a trial reports its GPU memory" if self.trials_per_gpu == "auto" else None
            per_gpu = many or str(self.trials_per_gpu)
            return (
                f"up to {self.n_jobs} trials side by side, {threads}, on GPUs {' | '.join(self.shared_gpus)} "
                f"(trials per GPU {per_gpu}; {sharing_mode()}) ({self.why})"
            )
        gpus = f", GPUs {' | '.join(self.devices)}" if self.devices else ""
        return f"{self.n_jobs} trials side by side, {threads}{gpus} ({self.why})"


def packing(
    *,
    cores: int,
    gpus: int,
    trial_gpus: int,
    parallelism: int,
    n_jobs: int | None = None,
    threads: int | None = None,
    gpu_ids: list[str] | None = None,
    trials_per_gpu: TrialsPerGpu = 1,
) -> Packing:
    """Trials side by side and threads per trial, for throughput: small models scale poorly across threads, so
    CPU trials run one thread each, as many side by side as there are cores (bench/bench_packing.py measures the
    gain); trials of one GPU share the GPUs, `trials_per_gpu` on each (`auto`: as many as fit, hpoctl.gpu_share);
    a trial of several GPUs gets its own, one trial per share. The cores are shared out. The spec's
    `limits.parallelism` caps the trials side by side; `n_jobs` and `threads` (--n-jobs, --threads) override."""
    shared = trial_gpus == 1 and gpus > 0 and trials_per_gpu != 1
    if shared:
        per_gpu = MAX_TRIALS_PER_GPU if trials_per_gpu == "auto" else int(trials_per_gpu)
        slots, why = gpus * per_gpu, f"{gpus} GPUs, trials_per_gpu {trials_per_gpu}"
    elif trial_gpus and gpus:
        slots, why = max(1, gpus // trial_gpus), f"{gpus} GPUs, {trial_gpus} a trial"
    else:
        slots, why = max(1, cores), f"{cores} cores, CPU trials"
    if n_jobs:
        jobs, why = n_jobs, "--n-jobs"
    else:
        jobs = min(parallelism, slots)
        if parallelism < slots:
            why += f", limits.parallelism {parallelism}"
    ids = gpu_ids or [str(i) for i in range(gpus)]
    devices = None
    if trial_gpus and gpus and not shared:
        shares = [ids[i : i + trial_gpus] for i in range(0, len(ids) - trial_gpus + 1, trial_gpus)] or [ids]
        devices = [",".join(shares[slot % len(shares)]) for slot in range(jobs)]
    return Packing(
        jobs,
        threads or max(1, cores // jobs),
        devices,
        why,
        shared_gpus=ids if shared else None,
        trials_per_gpu=trials_per_gpu if shared else 1,
    )


def available_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _recorded_start(out_dir: Path) -> dt.datetime:
    """When the launch that wrote the folder's provenance.json started (rewriting the results keeps it), else now."""
    try:
        started = json.loads((out_dir / layout.PROVENANCE).read_text(encoding="utf-8"))["started_at"]
        return dt.datetime.fromisoformat(started)
    except (OSError, ValueError, KeyError, TypeError):
        return dt.datetime.now(dt.timezone.utc)
