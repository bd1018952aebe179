"""Run one stage of a plan against an Optuna study: ask, run the trainer, tell, until the stage's
budget is met. Used by the local backend (threads) and by each SLURM array task (one process each).

Budget: a stage is done when it holds `stage.trials` finished trials (complete, pruned, or failed by
the trainer). Trials that were interrupted (Ctrl-C, a killed launcher, a pre-empted task) are marked
failed with `interrupted` and do not count, so they are re-run and nothing is lost or duplicated.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from hpoctl import trial_record as rec
from hpoctl.errors import HpoctlError
from hpoctl.plan import Plan, StagePlan
from hpoctl.sampling import intermediate_value, objective_value, suggest
from hpoctl.trial_process import TrialRun, run_trial_process

INTERRUPTED = rec.INTERRUPTED


@dataclass
class StageCounts:
    counted: int = 0
    complete: int = 0
    pruned: int = 0
    failed: int = 0
    running: int = 0
    waiting: int = 0


def stage_counts(study: optuna.Study, stage: str) -> StageCounts:
    counts = StageCounts()
    for trial in study.get_trials(deepcopy=False):
        if trial.user_attrs.get(rec.STAGE) != stage:
            continue
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
        storage.set_trial_user_attr(trial_id, INTERRUPTED, True)
        storage.set_trial_user_attr(trial_id, rec.FAILURE, reason)
        study.tell(trial.number, state=TrialState.FAIL)
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
    ):
        self.plan, self.stage, self.study = plan, stage, study
        self.trials_dir, self.n_jobs = trials_dir, max(1, n_jobs)
        self.seed = plan.seed if seed is None else seed
        self.deadline, self.cache_dir, self.threads = deadline, cache_dir, threads_per_trial
        self.stop_event = stop_event or threading.Event()
        self.on_event, self.backend = on_event, backend
        self._lock = threading.Lock()
        self._in_flight = 0
        self._errors: list[BaseException] = []

    def run(self) -> StageCounts:
        if self.stage.mode == "top-k":
            self._enqueue_top_k()
        workers = [
            threading.Thread(target=self._work, name=f"trial-worker-{i}", daemon=True) for i in range(self.n_jobs)
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
        return stage_counts(self.study, self.stage.name)

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
            t.user_attrs.get(rec.SOURCE_TRIAL)
            for t in self.study.get_trials(deepcopy=False)
            if t.user_attrs.get(rec.STAGE) == self.stage.name
            and not (t.state == TrialState.FAIL and t.user_attrs.get(INTERRUPTED))
        }
        for trial in best:
            if trial.number not in covered:
                self.study.enqueue_trial(
                    trial.params, user_attrs={rec.STAGE: self.stage.name, rec.SOURCE_TRIAL: trial.number}
                )

    def _work(self) -> None:
        try:
            while True:
                trial = self._claim()
                if trial is None:
                    return
                try:
                    self._run_one(trial)
                finally:
                    with self._lock:
                        self._in_flight -= 1
        except BaseException as e:  # surfaced by run() in the main thread
            self._errors.append(e)
            self.stop_event.set()

    def _claim(self) -> optuna.Trial | None:
        with self._lock:
            if self.stop_event.is_set() or (self.deadline is not None and time.time() >= self.deadline):
                return None
            counts = stage_counts(self.study, self.stage.name)
            if counts.counted + self._in_flight >= self.stage.trials:
                return None
            if counts.failed > self.plan.limits.max_failed_trials:
                raise HpoctlError(
                    f"stage {self.stage.name!r} stopped: {counts.failed} trials failed, more than "
                    f"limits.max_failed_trials={self.plan.limits.max_failed_trials}; see trials.csv for the reasons"
                )
            if self.stage.mode == "top-k" and counts.waiting == 0:
                return None
            trial = self.study.ask()
            if trial.user_attrs.get(rec.STAGE) not in (None, self.stage.name):
                raise HpoctlError(f"trial {trial.number} belongs to stage {trial.user_attrs.get(rec.STAGE)!r}")
            trial.set_user_attr(rec.STAGE, self.stage.name)
            trial.set_user_attr(rec.EPOCHS, self.stage.epochs)
            trial.set_user_attr(rec.SEED, self.seed)
            trial.set_user_attr(rec.BACKEND, self.backend)
            self._in_flight += 1
            return trial

    def _run_one(self, trial: optuna.Trial) -> None:
        params = suggest(trial, self.plan.parameters)
        workdir = self.trials_dir / f"{trial.number:05d}"
        argv = [
            *self.plan.trainer_command(),
            *self.plan.trainer_args(params, epochs=self.stage.epochs, seed=self.seed),
            "--output",
            str(workdir / "output"),
        ]
        if self.cache_dir is not None:
            argv += ["--cache-dir", str(self.cache_dir)]
        if self.threads:
            argv += ["--threads", str(self.threads)]
        self.on_event(TrialEvent(self.stage.name, trial.number, "started", budget=self.stage.trials))
        prune = self._pruning_callback(trial)
        run = run_trial_process(
            argv, workdir, on_epoch=prune, timeout_s=self.plan.limits.trial_timeout, stop_event=self.stop_event
        )
        self._tell(trial, run)

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

    def _tell(self, trial: optuna.Trial, run: TrialRun) -> None:
        values = [objective_value(o, run.history) for o in self.plan.objectives]
        final = dict(run.history[-1]) if run.history else {}
        for objective, value in zip(self.plan.objectives, values, strict=True):
            if value is not None and objective.target is None:  # a target objective keeps its raw metric
                final[objective.metric] = value
        trial.set_user_attr(rec.METRICS, final)
        trial.set_user_attr(rec.DURATION, round(run.duration_s, 3))
        trial.set_user_attr(rec.EXIT_CODE, run.exit_code)
        budget = self.stage.trials
        if run.stopped_by_us == "pruned":
            self.study.tell(trial, state=TrialState.PRUNED)
            state, value = "pruned", None
        elif run.stopped_by_us == "interrupted":
            trial.set_user_attr(INTERRUPTED, True)
            trial.set_user_attr(rec.FAILURE, "interrupted before it finished; re-run on resume")
            self.study.tell(trial, state=TrialState.FAIL)
            state, value = "interrupted", None
        elif run.ok and all(v is not None and math.isfinite(v) for v in values):
            self.study.tell(trial, values if self.plan.multi_objective else values[0])
            state, value = "complete", values if self.plan.multi_objective else values[0]
        else:
            if run.stopped_by_us == "timeout":
                reason = f"trial exceeded limits.trial_timeout={self.plan.limits.trial_timeout}s"
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
