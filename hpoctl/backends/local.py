"""The local backend: Optuna in this process, trials as child processes of the trainer command,
the study in an SQLite file in the results folder (`results/<study>/<target>/study.db`)."""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.trial import TrialState
from sqlalchemy import event

from hpoctl import trial_record as rec
from hpoctl.backends._base import Backend, LaunchOptions, TargetStatus
from hpoctl.errors import BackendError, HpoctlError
from hpoctl.plan import Plan
from hpoctl.progress import Progress
from hpoctl.runner import StageRunner, fail_interrupted, stage_counts
from hpoctl.sampling import build_pruner, build_sampler, directions

optuna.logging.set_verbosity(optuna.logging.WARNING)

STORAGE_FILE = "study.db"
LOCK_FILE = ".launch.lock"


class Interrupted(HpoctlError):
    exit_code = 130


def target_dir(results_dir: Path, plan: Plan) -> Path:
    return results_dir / plan.study / plan.target


def storage_url(out_dir: Path) -> str:
    return f"sqlite:///{(out_dir / STORAGE_FILE).resolve()}"


def open_storage(out_dir: Path) -> optuna.storages.RDBStorage:
    """The study's SQLite storage. A generous busy timeout lets trials finishing at once in several threads
    wait rather than fail; WAL with synchronous=NORMAL commits without an fsync each time and still survives
    a killed process (only a power cut can lose the last commits)."""
    storage = optuna.storages.RDBStorage(storage_url(out_dir), engine_kwargs={"connect_args": {"timeout": 60}})
    event.listen(storage.engine, "connect", _sqlite_pragmas)
    storage.engine.dispose()  # connections opened before the listener reconnect with the pragmas
    return storage


def _sqlite_pragmas(connection, _record) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def load_study(out_dir: Path, plan: Plan, study_name: str | None = None) -> optuna.Study | None:
    if not (out_dir / STORAGE_FILE).exists():
        return None
    name = study_name or rec.optuna_study_name(plan.study, plan.target)
    try:
        return optuna.load_study(study_name=name, storage=open_storage(out_dir))
    except KeyError:
        return None


@contextlib.contextmanager
def target_lock(out_dir: Path) -> Iterator[None]:
    """One launch per results folder at a time; the lock dies with the process that holds it."""
    with open(out_dir / LOCK_FILE, "a+") as handle:
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
    path = out_dir / LOCK_FILE
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


def best_so_far(study: optuna.Study, plan: Plan):
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        return None
    if plan.multi_objective:
        return f"{len(study.best_trials)} on the Pareto front"
    return study.best_value


class LocalBackend(Backend):
    name = "local"

    def launch(self, plans: list[Plan], options: LaunchOptions) -> list[str]:
        return [self._launch_target(plan, options) for plan in plans]

    def _launch_target(self, plan: Plan, options: LaunchOptions) -> str:
        out_dir = target_dir(options.results_dir, plan)
        out_dir.mkdir(parents=True, exist_ok=True)
        started_at = dt.datetime.now(dt.timezone.utc)
        timeout = options.timeout or plan.limits.timeout
        deadline = time.time() + timeout if timeout else None
        gpu_ids = visible_gpu_ids()
        pack = packing(
            cores=available_cores(),
            gpus=len(gpu_ids),
            gpu_ids=gpu_ids,
            trial_gpus=plan.resources.gpu,
            parallelism=plan.limits.parallelism if "parallelism" in plan.limits.model_fields_set else None,
            n_jobs=options.n_jobs,
            threads=options.extra.get("threads"),
        )
        n_jobs = pack.n_jobs
        with target_lock(out_dir):
            study = self._open_study(plan, out_dir, options, n_jobs)
            lost = fail_interrupted(study, "the launcher stopped before the trial finished; re-run")
            progress = Progress(plan.study, plan.target, deadline=deadline)
            progress.console.print(f"{plan.study}/{plan.target}: {pack.describe()}")
            if lost:
                progress.console.print(f"{plan.study}/{plan.target}: {lost} interrupted trials will be re-run")
            stop_event = threading.Event()
            try:
                for stage in plan.stages:
                    stage_deadline = deadline
                    if stage.timeout:
                        stage_deadline = min(deadline or float("inf"), time.time() + stage.timeout)
                    study.pruner = build_pruner(plan, stage)
                    done = stage_counts(study, stage.name).counted
                    progress.start_stage(stage.name, done, stage.trials, stage.epochs)

                    def on_event(event, study=study):
                        if event.state != "started":
                            progress.set_best(best_so_far(study, plan))
                        progress(event)

                    runner = StageRunner(
                        plan,
                        stage,
                        study,
                        trials_dir=out_dir / "trials",
                        n_jobs=n_jobs,
                        seed=options.seed,
                        deadline=stage_deadline,
                        cache_dir=options.extra.get("cache_dir"),
                        threads_per_trial=pack.threads,
                        devices=pack.devices,
                        stop_event=stop_event,
                        on_event=on_event,
                    )
                    try:
                        runner.run()
                    finally:
                        progress.end_stage()
                        self._write_results(study, plan, out_dir, started_at, options)
                    if deadline is not None and time.time() >= deadline:
                        break
            except KeyboardInterrupt as e:
                raise Interrupted(
                    f"{plan.study}/{plan.target}: interrupted; completed trials are kept in {out_dir}, "
                    f"relaunch the same command to resume"
                ) from e
        best = best_so_far(study, plan)
        counts = [stage_counts(study, s.name) for s in plan.stages]
        summary = ", ".join(f"{s.name} {c.counted}/{s.trials}" for s, c in zip(plan.stages, counts, strict=True))
        replaced = sum(c.replaced for c in counts)
        if replaced:
            summary += f" ({replaced} repeated suggestions replaced by fresh configurations)"
        return f"{plan.study}/{plan.target}: {summary}; best {best if best is not None else '-'}; results in {out_dir}"

    def _open_study(self, plan: Plan, out_dir: Path, options: LaunchOptions, n_jobs: int) -> optuna.Study:
        name = options.study_name or rec.optuna_study_name(plan.study, plan.target)
        storage = open_storage(out_dir)
        existing = {s.study_name: s for s in optuna.get_all_study_summaries(storage)}
        if name in existing and not options.resume:
            raise BackendError(
                f"{out_dir} already holds study {name!r} with {existing[name].n_trials} trials; resume it "
                f"(--resume), or start another with --study-name or --results"
            )
        previous = existing[name].n_trials if name in existing else 0
        seed = plan.seed if options.seed is None else options.seed
        # A resumed study must not replay the seeded sampler's first suggestions: offset the seed by the trials held.
        sampler_seed = plan.algorithm.settings.get("seed", seed) + previous
        study = optuna.create_study(
            study_name=name,
            storage=storage,
            directions=directions(plan),
            load_if_exists=True,
            sampler=build_sampler(plan, seed=sampler_seed, parallel=n_jobs > 1),
        )
        recorded = study.user_attrs.get(rec.STUDY_ATTR_PLAN)
        if recorded and recorded.get("parameters") != plan.to_data().get("parameters"):
            raise BackendError(
                f"{out_dir} holds study {name!r} with a different search space; start another with "
                f"--study-name or --results"
            )
        study.set_user_attr(rec.STUDY_ATTR_PLAN, plan.to_data())
        return study

    def _write_results(self, study, plan, out_dir, started_at, options) -> None:
        from hpoctl.results import collect_provenance, write_results

        seed = plan.seed if options.seed is None else options.seed
        provenance = collect_provenance(plan, started_at, dt.datetime.now(dt.timezone.utc), {"trainer": seed})
        write_results(study, plan, out_dir, provenance)

    def status(self, plans: list[Plan], options: LaunchOptions) -> list[TargetStatus]:
        rows = []
        for plan in plans:
            out_dir = target_dir(options.results_dir, plan)
            study = load_study(out_dir, plan, options.study_name)
            holder = lock_holder(out_dir)
            if study is None:
                rows.append(TargetStatus(plan.study, plan.target, None, "not started", 0, plan.total_trials))
                continue
            counts = {s.name: stage_counts(study, s.name) for s in plan.stages}
            done = sum(min(c.counted, s.trials) for s, c in zip(plan.stages, counts.values(), strict=True))
            current = next((s.name for s in plan.stages if counts[s.name].counted < s.trials), None)
            state = "running" if holder else ("done" if current is None else "stopped")
            rows.append(
                TargetStatus(
                    plan.study,
                    plan.target,
                    current or plan.stages[-1].name,
                    state,
                    done,
                    plan.total_trials,
                    running=sum(c.running for c in counts.values()) if holder else 0,
                    failed=sum(c.failed for c in counts.values()),
                    pruned=sum(c.pruned for c in counts.values()),
                    best=best_so_far(study, plan),
                    detail=f"pid {holder}" if holder else "",
                )
            )
        return rows

    def cancel(self, plans: list[Plan], options: LaunchOptions) -> list[str]:
        lines = []
        for plan in plans:
            holder = lock_holder(target_dir(options.results_dir, plan))
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
    devices: list[str] | None = None  # a GPU trial's CUDA_VISIBLE_DEVICES, by worker slot
    why: str = ""

    def describe(self) -> str:
        gpus = f", GPUs {' | '.join(self.devices)}" if self.devices else ""
        threads = f"{self.threads} thread{'s' if self.threads != 1 else ''} each"
        return f"{self.n_jobs} trials side by side, {threads}{gpus} ({self.why})"


def packing(
    *,
    cores: int,
    gpus: int,
    trial_gpus: int,
    parallelism: int | None,
    n_jobs: int | None = None,
    threads: int | None = None,
    gpu_ids: list[str] | None = None,
) -> Packing:
    """Trials side by side and threads per trial, for throughput: small models scale poorly across threads, so
    CPU trials run one thread each, as many side by side as there are cores (bench/bench_packing.py measures the
    gain); a trial that asks for GPUs, on a machine with GPUs, gets its own `trial_gpus` of them, one trial per
    share, with the cores shared out. The spec's `limits.parallelism` (None when the spec leaves it out) caps the
    trials side by side; `n_jobs` and `threads` (--n-jobs, --threads) override."""
    if trial_gpus and gpus:
        slots, why = max(1, gpus // trial_gpus), f"{gpus} GPUs, {trial_gpus} a trial"
    else:
        slots, why = max(1, cores), f"{cores} cores, CPU trials"
    if n_jobs:
        jobs, why = n_jobs, "--n-jobs"
    else:
        jobs = min(parallelism, slots) if parallelism else slots
        if parallelism and parallelism < slots:
            why += f", limits.parallelism {parallelism}"
    devices = None
    if trial_gpus and gpus:
        ids = gpu_ids or [str(i) for i in range(gpus)]
        shares = [ids[i : i + trial_gpus] for i in range(0, len(ids) - trial_gpus + 1, trial_gpus)] or [ids]
        devices = [",".join(shares[slot % len(shares)]) for slot in range(jobs)]
    return Packing(jobs, threads or max(1, cores // jobs), devices, why)


def available_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def visible_gpu_ids() -> list[str]:
    """The NVIDIA GPUs this process may use, without importing torch: CUDA_VISIBLE_DEVICES when set, else the
    driver's device files (/dev/nvidia0, ...)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        ids = [i.strip() for i in visible.split(",") if i.strip()]
        return [] if ids and ids[0].startswith("-") else ids
    found = (p.name.removeprefix("nvidia") for p in Path("/dev").glob("nvidia[0-9]*"))
    return sorted((i for i in found if i.isdigit()), key=int)
