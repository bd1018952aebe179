"""Run one stage of a plan against an Optuna study: ask, run the trainer, tell, until the stage's
budget is met. Used by the local backend (threads) and by each SLURM array task (one process each).

Budget: a stage is done when it holds `stage.trials` finished trials (complete, pruned, or failed by
the trainer). Trials that were interrupted (Ctrl-C, a killed launcher, a pre-empted task) are marked
failed with `interrupted` and do not count, so they are re-run and nothing is lost or duplicated.

Several processes on one study (SLURM array tasks) pass a `SharedStudy`: the budget then counts the RUNNING
trials in the storage rather than this process's own, a trial asked beyond the budget by a race is failed as
interrupted before it runs, and a worker with nothing to start waits, re-running what a dead worker lost.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import math
import shlex
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import optuna
from optuna.trial import TrialState

from hpoctl import trial_record as rec
from hpoctl.errors import HpoctlError
from hpoctl.gpu_share import GpuLeases, Lease
from hpoctl.inprocess import Objective, run_objective
from hpoctl.plan import Plan, StagePlan, confirmation_seed
from hpoctl.results.layout import MODEL_DIR
from hpoctl.search.objectives import intermediate_value, objective_problem, objective_value
from hpoctl.search.space import suggest
from hpoctl.tracking_env import local_run_name, tracking_env
from hpoctl.trainer_contract import ExitCode
from hpoctl.trial_process import INTERRUPTED_EXIT, TrialRun, run_trial_process
from hpoctl.warm_slot import WarmSlot, start_warm_slots

log = logging.getLogger("hpoctl.runner")
INTERRUPTED = rec.INTERRUPTED
SURPLUS = "surplus: other workers had already taken the stage's budget; not run"


class SharedStudy(Protocol):
    """What a runner needs when other processes run the same stage of the same study."""

    poll_s: float  # how long a worker with no trial to start waits before looking again

    def owner_attrs(self) -> dict[str, Any]:
        """User attributes that say which process runs a trial (so others can tell when it died)."""

    def reap(self, study: optuna.Study) -> int:
        """Fail-as-interrupted the RUNNING trials whose process is gone; returns how many."""

    def lock(self) -> contextlib.AbstractContextManager[Any]:
        """A lock across the processes (held while a top-k stage enqueues its configurations)."""


@dataclass
class StageCounts:
    counted: int = 0
    complete: int = 0
    pruned: int = 0
    failed: int = 0
    running: int = 0
    waiting: int = 0
    replaced: int = 0  # trials whose sampler proposed a taken configuration, replaced by a fresh one


def stage_counts(study: optuna.Study, stage: str) -> StageCounts:
    counts = StageCounts()
    for trial in study.get_trials(deepcopy=False):
        if trial.user_attrs.get(rec.STAGE) != stage:
            continue
        counts.replaced += bool(trial.user_attrs.get(rec.DUPLICATE_REPLACED))
        if trial.state == TrialState.COMPLETE:
            counts.complete += 1
        elif trial.state == TrialState.PRUNED:
            counts.pruned += 1
        elif trial.state == TrialState.FAIL and not trial.user_attrs.get(INTERRUPTED):
            counts.failed += 1
        elif trial.state == TrialState.RUNNING:
            counts.running += 1
        elif trial.state == TrialState.WAITING:
            counts.waiting += 1
    counts.counted = counts.complete + counts.pruned + counts.failed
    return counts


def fail_interrupted(
    study: optuna.Study, reason: str, only: Callable[[optuna.trial.FrozenTrial], bool] | None = None
) -> int:
    """Mark RUNNING trials (left by a process that died) as failed-interrupted, so they are re-run."""
    count = 0
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if only is not None and not only(trial):
            continue
        storage = study._storage  # the public BaseStorage API, reached through the study it belongs to
        trial_id = storage.get_trial_id_from_study_id_trial_number(study._study_id, trial.number)
        try:
            storage.set_trial_user_attr(trial_id, INTERRUPTED, True)
            storage.set_trial_user_attr(trial_id, rec.FAILURE, reason)
            study.tell(trial.number, state=TrialState.FAIL)
        except (optuna.exceptions.UpdateFinishedTrialError, ValueError, RuntimeError):
            continue  # another process finished or reaped it first
        count += 1
    return count


def top_configurations(
    study: optuna.Study, plan: Plan, stage: str, k: int, previous: str | None
) -> list[optuna.trial.FrozenTrial]:
    """The k best distinct configurations for a top-k stage: the previous stage's complete trials first,
    then (when it has fewer than k, e.g. after heavy pruning) those of the stages it continued, most
    recent stage first. Ranking is hpoctl.results.ranking's (several objectives: non-dominated first)."""
    from hpoctl.results.ranking import top_trials

    by_stage: dict[str, list[optuna.trial.FrozenTrial]] = {}
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        name = trial.user_attrs.get(rec.STAGE)
        if name and name != stage:
            by_stage.setdefault(name, []).append(trial)
    order = sorted(by_stage, key=lambda name: (name != previous, -max(t.number for t in by_stage[name])))
    chosen: list[optuna.trial.FrozenTrial] = []
    seen: list[dict] = []
    for name in order:
        for trial in top_trials(by_stage[name], plan, limit=len(by_stage[name])):
            if trial.params not in seen:
                seen.append(trial.params)
                chosen.append(trial)
    return chosen[:k]


@dataclass
class TrialEvent:
    stage: str
    number: int
    state: str  # started | complete | pruned | failed | interrupted
    value: Any = None
    reason: str | None = None
    counts: StageCounts = field(default_factory=StageCounts)
    budget: int = 0


class StageRunner:
    """Runs a stage's remaining trials with `n_jobs` trainer processes side by side."""

    def __init__(
        self,
        plan: Plan,
        stage: StagePlan,
        study: optuna.Study,
        *,
        trials_dir: Path,
        n_jobs: int = 1,
        seed: int | None = None,
        deadline: float | None = None,
        cache_dir: Path | None = None,
        threads_per_trial: int | None = None,
        stop_event: threading.Event | None = None,
        on_event: Callable[[TrialEvent], None] = lambda e: None,
        backend: str = "local",
        shared: SharedStudy | None = None,
        devices: list[str] | None = None,
        gpu_leases: GpuLeases | None = None,
        warm_slots: Sequence[WarmSlot] = (),
        objective: Objective | None = None,
    ):
        self.plan, self.stage, self.study = plan, stage, study
        self.warm_slots = warm_slots
        """The launcher's warm processes, one per worker slot, kept across stages; none: each worker starts its own."""
        self.objective = objective
        """A Python function to call in this process for each trial (`hpoctl.optimize`), in place of the trainer."""
        # Absolute: the trainer runs in its trial folder, and its --output and --save-model paths must still hold.
        self.trials_dir, self.n_jobs = trials_dir.absolute(), max(1, n_jobs)
        self.seed = plan.seed if seed is None else seed
        self.deadline, self.cache_dir, self.threads = deadline, cache_dir, threads_per_trial
        self.stop_event = stop_event or threading.Event()
        self.on_event, self.backend, self.shared = on_event, backend, shared
        self.devices = devices  # CUDA_VISIBLE_DEVICES of each worker slot's trials (trials of several GPUs, local)
        self.gpu_leases = gpu_leases
        """The GPU each one-GPU trial runs on, several trials a GPU (hpoctl.gpu_share); None: `devices`."""
        self._lock = threading.Lock()
        self._in_flight = 0
        self._errors: list[BaseException] = []

    def run(self) -> StageCounts:
        if self.stage.mode == "top-k":
            with self._shared_lock():
                self._enqueue_top_k()
        workers = [
            threading.Thread(target=self._work, args=(i,), name=f"trial-worker-{i}", daemon=True)
            for i in range(self.n_jobs)
        ]
        for worker in workers:
            worker.start()
        try:
            for worker in workers:
                while worker.is_alive():
                    worker.join(0.2)
        except KeyboardInterrupt:
            # Ctrl-C or SIGTERM: stop the trainers, record their trials as interrupted, then go on up.
            self.stop_event.set()
            for worker in workers:
                worker.join()
            raise
        if self._errors:
            raise self._errors[0]
        counts = stage_counts(self.study, self.stage.name)
        if counts.counted >= self.stage.trials and counts.failed == counts.counted > 0:
            raise HpoctlError(f"stage {self.stage.name!r}: {self._commonest_failure(counts.failed)}")
        return counts

    def _commonest_failure(self, failed: int) -> str:
        """`every one of the N trials failed`, with the reason most of them gave, for the one error line."""
        reasons = collections.Counter(
            t.user_attrs.get(rec.FAILURE, "no reason recorded")
            for t in self.study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
            if t.user_attrs.get(rec.STAGE) == self.stage.name and not t.user_attrs.get(INTERRUPTED)
        )
        reason, count = reasons.most_common(1)[0]
        return f"every one of its {failed} trials failed, {count} of them with: {reason}; see trials.csv"

    def _enqueue_top_k(self) -> None:
        previous = self.stage.previous
        k = self.stage.top_k or self.stage.trials
        best = top_configurations(self.study, self.plan, self.stage.name, k, previous)
        if len(best) < k:
            raise HpoctlError(
                f"stage {self.stage.name!r} re-runs the best {k} configurations of stage {previous!r} and the "
                f"stages before it, which have {len(best)} complete; run {previous!r} first "
                f"(hpoctl launch ... --stage {previous})"
            )
        covered = {
            (t.user_attrs.get(rec.SOURCE_TRIAL), t.user_attrs.get(rec.REPEAT, 0))
            for t in self.study.get_trials(deepcopy=False)
            if t.user_attrs.get(rec.STAGE) == self.stage.name
            and not (t.state == TrialState.FAIL and t.user_attrs.get(INTERRUPTED))
        }
        for trial in best:
            for repeat in range(self.stage.repeats):
                if (trial.number, repeat) not in covered:
                    attrs = {
                        rec.STAGE: self.stage.name,
                        rec.SOURCE_TRIAL: trial.number,
                        rec.REPEAT: repeat,
                        rec.SEED: confirmation_seed(self.seed, repeat),
                    }
                    self.study.enqueue_trial(trial.params, user_attrs=attrs)

    def _work(self, slot: int = 0) -> None:
        env = {"CUDA_VISIBLE_DEVICES": self.devices[slot % len(self.devices)]} if self.devices else None
        own = None
        if self.warm_slots:
            warm = self.warm_slots[slot % len(self.warm_slots)]
        else:  # made in this thread, the warm process dies with it (its parent-death signal follows the thread)
            own = warm = next(iter(start_warm_slots(self.plan.trainer, 1)), None)
        try:
            while True:
                lease = None
                if self.gpu_leases is not None:
                    lease = self.gpu_leases.acquire(stop=self.stop_event)
                    if lease is None:
                        return
                try:
                    claimed = self._claim()
                    if claimed is None:
                        return
                    self._run_claimed(*claimed, env, warm, lease)
                finally:
                    if lease is not None:
                        self.gpu_leases.release(lease)
        except BaseException as e:  # surfaced by run() in the main thread
            self._errors.append(e)
            self.stop_event.set()
        finally:
            if own is not None:
                own.close()

    def _run_claimed(
        self,
        trial: optuna.Trial,
        params: dict[str, Any],
        env: dict[str, str] | None,
        warm: WarmSlot | None,
        lease: Lease | None,
    ) -> None:
        alone = None
        try:
            if lease is not None and trial.user_attrs.get(rec.RUN_ALONE):
                self.gpu_leases.release(lease)
                lease = alone = self.gpu_leases.acquire(alone=True, stop=self.stop_event)
                if lease is None:
                    self._tell(trial, TrialRun(exit_code=INTERRUPTED_EXIT, stopped_by_us="interrupted"))
                    return
            if lease is not None:
                env = {**(env or {}), "CUDA_VISIBLE_DEVICES": lease.id}
            self._run_one(trial, params, env, warm, lease)
        except optuna.exceptions.UpdateFinishedTrialError:
            if self.shared is None:
                raise
            # Another process took this one for dead and failed it as interrupted: it is re-run, nothing lost.
            self.on_event(TrialEvent(self.stage.name, trial.number, "interrupted", budget=self.stage.trials))
        finally:
            if alone is not None:
                self.gpu_leases.release(alone)
            with self._lock:
                self._in_flight -= 1

    def _shared_lock(self) -> contextlib.AbstractContextManager[Any]:
        return self.shared.lock() if self.shared is not None else contextlib.nullcontext()

    def _claim(self) -> tuple[optuna.Trial, dict[str, Any]] | None:
        """The next trial with its configuration, or None when the stage needs no more."""
        while True:
            with self._lock:
                if self.stop_event.is_set() or (self.deadline is not None and time.time() >= self.deadline):
                    return None
                if self.shared is not None:
                    self.shared.reap(self.study)
                counts = stage_counts(self.study, self.stage.name)
                busy = counts.running if self.shared is not None else self._in_flight
                if counts.counted + busy >= self.stage.trials:
                    if self.shared is None or counts.counted >= self.stage.trials:
                        return None
                else:
                    if counts.failed > self.plan.limits.max_failed_trials:
                        raise HpoctlError(
                            f"stage {self.stage.name!r} stopped: {counts.failed} trials failed, more than "
                            f"limits.max_failed_trials={self.plan.limits.max_failed_trials}; see trials.csv for the "
                            f"reasons"
                        )
                    if self.stage.mode == "top-k" and counts.waiting == 0:
                        if self.shared is None:
                            return None
                        with self.shared.lock():  # a configuration whose trial was lost: enqueue it again
                            self._enqueue_top_k()
                        if stage_counts(self.study, self.stage.name).waiting:
                            continue
                    else:
                        claimed = self._ask()
                        if claimed is not None:
                            self._in_flight += 1
                            return claimed
                        continue
            # Other processes run the stage's last trials: wait, so that one they lose is re-run here.
            self.stop_event.wait(self.shared.poll_s)

    def _ask(self) -> tuple[optuna.Trial, dict[str, Any]] | None:
        trial = self.study.ask()
        if self.shared is not None:
            for key, value in self.shared.owner_attrs().items():
                trial.set_user_attr(key, value)
        if trial.user_attrs.get(rec.STAGE) not in (None, self.stage.name):
            raise HpoctlError(f"trial {trial.number} belongs to stage {trial.user_attrs.get(rec.STAGE)!r}")
        trial.set_user_attr(rec.STAGE, self.stage.name)
        trial.set_user_attr(rec.EPOCHS, self.stage.epochs)
        if rec.SEED not in trial.user_attrs:  # a top-k repeat brings its own fresh seed
            trial.set_user_attr(rec.SEED, self.seed)
        trial.set_user_attr(rec.BACKEND, self.backend)
        if self.shared is not None and self._surplus(trial):
            trial.set_user_attr(INTERRUPTED, True)
            trial.set_user_attr(rec.FAILURE, SURPLUS)
            self.study.tell(trial, state=TrialState.FAIL)
            return None
        # Suggested under the claim lock, so that the sampler's duplicate check sees the other threads' trials.
        return trial, suggest(trial, self.plan.parameters)

    def _surplus(self, trial: optuna.Trial) -> bool:
        """Whether other processes' trials ahead of this one (by number) already take the stage's budget; a
        RUNNING trial with no stage yet was just asked by another worker of this stage. A top-k stage runs
        only enqueued configurations."""
        if self.stage.mode == "top-k" and trial.user_attrs.get(rec.SOURCE_TRIAL) is None:
            return True
        ahead = 0
        for other in self.study.get_trials(deepcopy=False):
            if other.number >= trial.number:
                continue
            stage = other.user_attrs.get(rec.STAGE)
            if stage == self.stage.name:
                ahead += not (other.state == TrialState.FAIL and other.user_attrs.get(INTERRUPTED))
            elif stage is None and other.state == TrialState.RUNNING:
                ahead += 1
        return ahead >= self.stage.trials

    def _run_one(
        self,
        trial: optuna.Trial,
        params: dict[str, Any],
        env: dict[str, str] | None = None,
        warm: WarmSlot | None = None,
        lease: Lease | None = None,
    ) -> None:
        workdir = self.trials_dir / f"{trial.number:05d}"
        argv = [
            *self.plan.trainer_command(),
            *self.plan.trainer_args(params, epochs=self.stage.epochs, seed=trial.user_attrs.get(rec.SEED, self.seed)),
            "--output",
            str(workdir / "output"),
            *self.plan.model_args(self.stage, str(workdir / MODEL_DIR)),
        ]
        if self.cache_dir is not None:
            argv += ["--cache-dir", str(self.cache_dir)]
        if self.threads:
            argv += ["--threads", str(self.threads)]
        self.on_event(TrialEvent(self.stage.name, trial.number, "started", budget=self.stage.trials))
        prune = self._pruning_callback(trial)
        if self.objective is not None:
            seed = trial.user_attrs.get(rec.SEED, self.seed)
            run = run_objective(
                self.objective,
                params,
                number=trial.number,
                stage=self.stage.name,
                epochs=self.stage.epochs,
                seed=seed,
                metric=self.plan.objectives[0].metric,
                on_epoch=prune,
                stop_event=self.stop_event,
                timeout_s=self.plan.limits.trial_timeout,
            )
            self._tell(trial, run)
            return
        log.info("trial %d: %s (logs in %s)", trial.number, shlex.join(argv), workdir)
        run = run_trial_process(
            argv,
            workdir,
            on_epoch=prune,
            timeout_s=self.plan.limits.trial_timeout,
            stop_event=self.stop_event,
            env={
                **(env or {}),
                **tracking_env(
                    self.plan, stage=self.stage.name, run_name=local_run_name(self.plan, self.stage.name, trial.number)
                ),
            },
            warm=warm,
        )
        if run.gpu_memory is not None:
            trial.set_user_attr(rec.GPU_MEMORY, run.gpu_memory[0])
            if self.gpu_leases is not None:
                self.gpu_leases.measured(*run.gpu_memory)
        self._tell(trial, run, lease)

    @staticmethod
    def _crowded_out(run: TrialRun, lease: Lease | None) -> bool:
        """A trial that ran out of memory on a GPU it shared: its neighbours' doing as much as its own."""
        return lease is not None and lease.crowded and not lease.alone and run.exit_code == ExitCode.OUT_OF_MEMORY

    def _enqueue_alone(self, trial: optuna.Trial) -> None:
        """The configuration again, to run with a GPU to itself; a top-k repeat keeps its source and seed."""
        kept = (rec.STAGE, rec.SOURCE_TRIAL, rec.REPEAT, rec.SEED)
        attrs = {k: trial.user_attrs[k] for k in kept if k in trial.user_attrs}
        self.study.enqueue_trial(trial.params, user_attrs={**attrs, rec.RUN_ALONE: True})

    def _pruning_callback(self, trial: optuna.Trial) -> Callable[[dict[str, float]], bool] | None:
        if self.plan.multi_objective or self.stage.mode == "top-k":
            return None
        objective = self.plan.objectives[0]

        def on_epoch(metrics: dict[str, float]) -> bool:
            value = intermediate_value(objective, metrics)
            if value is None:
                return False
            trial.report(value, step=int(metrics["epoch"]))
            return trial.should_prune()

        return on_epoch

    def _stopped_from_outside(self, run: TrialRun) -> bool:
        """A trainer that failed while we were stopping, or (shared) was sent SIGTERM by the scheduler before we
        could stop it ourselves (scancel, pre-emption): interrupted, not failed."""
        if run.stopped_by_us is not None or run.ok:
            return False
        terminated = run.exit_code in (INTERRUPTED_EXIT, -signal.SIGTERM)
        return self.stop_event.is_set() or (self.shared is not None and terminated)

    def _tell(self, trial: optuna.Trial, run: TrialRun, lease: Lease | None = None) -> None:
        values = [objective_value(o, run.history) for o in self.plan.objectives]
        final = dict(run.history[-1]) if run.history else {}
        for objective, value in zip(self.plan.objectives, values, strict=True):
            if value is not None and objective.target is None:  # a target objective keeps its raw metric
                final[objective.metric] = value
        trial.set_user_attr(rec.METRICS, final)
        trial.set_user_attr(rec.DURATION, round(run.duration_s, 3))
        trial.set_user_attr(rec.EXIT_CODE, run.exit_code)
        if run.dropped_lines:
            trial.set_user_attr(rec.DROPPED_LINES, run.dropped_lines)
        problems = [p for o in self.plan.objectives if (p := objective_problem(o, run.history, run.malformed))]
        budget = self.stage.trials
        if run.stopped_by_us == "pruned":
            self.study.tell(trial, state=TrialState.PRUNED)
            state, value = "pruned", None
        elif run.stopped_by_us == "interrupted" or self._stopped_from_outside(run):
            if self.shared is not None and run.stopped_by_us is None:
                # The scheduler signals the job's whole process tree (scancel, pre-emption); should the signal
                # reach the trainer but not this worker, stop claiming trials all the same, before the SIGKILL.
                self.stop_event.set()
            trial.set_user_attr(INTERRUPTED, True)
            trial.set_user_attr(rec.FAILURE, "interrupted before it finished; re-run on resume")
            self.study.tell(trial, state=TrialState.FAIL)
            state, value = "interrupted", None
        elif self._crowded_out(run, lease):
            self.gpu_leases.crowded_out(lease)  # its GPU takes one trial fewer from now on
            trial.set_user_attr(INTERRUPTED, True)
            trial.set_user_attr(rec.FAILURE, "out of GPU memory beside other trials on its GPU; run again alone")
            self.study.tell(trial, state=TrialState.FAIL)
            self._enqueue_alone(trial)
            state, value = "interrupted", None
        elif run.ok and not problems and all(v is not None and math.isfinite(v) for v in values):
            self.study.tell(trial, values if self.plan.multi_objective else values[0])
            state, value = "complete", values if self.plan.multi_objective else values[0]
        else:
            if run.stopped_by_us == "timeout":
                reason = f"trial exceeded limits.trial_timeout={self.plan.limits.trial_timeout}s"
            elif run.exit_code == 0 and problems:
                reason = "; ".join(problems)
            elif run.exit_code == 0:
                missing = [o.metric for o, v in zip(self.plan.objectives, values, strict=True) if v is None]
                reason = f"trainer reported no value for {', '.join(missing)}"
            else:
                reason = run.failure_reason()
            trial.set_user_attr(rec.FAILURE, reason)
            self.study.tell(trial, state=TrialState.FAIL)
            state, value = "failed", reason
        self.on_event(
            TrialEvent(
                self.stage.name,
                trial.number,
                state,
                value=value,
                reason=value if state == "failed" else None,
                counts=stage_counts(self.study, self.stage.name),
                budget=budget,
            )
        )
