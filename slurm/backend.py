"""The SLURM backend: one job array per stage (targets x workers) submitted with sbatch, stages chained with
`--dependency=afterok`, the workers sharing each target's Optuna study in the results folder.

Launch is idempotent: what is queued or running is not submitted again, a target whose stage is done is left
out, and trials of workers that died are failed as interrupted so the next workers re-run them.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hpoctl.backends._base import Backend, Launched, Options, Rendered, StageStatus
from hpoctl.config import SlurmJobSettings, load_config
from hpoctl.errors import BackendError, UnknownNameError
from hpoctl.eta import study_eta
from hpoctl.plan import Plan
from hpoctl.results import layout
from hpoctl.results.ranking import best_so_far
from hpoctl.runner import stage_counts
from hpoctl.slurm import scheduler
from hpoctl.slurm import storage as shared
from hpoctl.slurm.coordination import SharedStudyCoordinator
from hpoctl.slurm.jobs import JobBook, JobRecord, launch_lock, read_jobs, write_jobs
from hpoctl.slurm.layout import task_logs
from hpoctl.slurm.render import RUNTIMES, RenderOptions, StageJob, render_stage, render_study
from hpoctl.slurm.scheduler import TaskState

FAILED_STATES = frozenset({"FAILED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE", "PREEMPTED"})


@dataclass(frozen=True)
class SlurmOptions(Options):
    """The SLURM backend's own settings: the container runtime and image (the configuration's `slurm:` section
    gives the rest)."""

    runtime: str | None = None
    image: str | None = None


def settings_for(study: str, options: Options) -> SlurmJobSettings:
    """hpoctl's configuration file's `slurm:` section with the study's overrides (`slurm.studies.<study>`)."""
    return load_config(options.config).slurm.for_study(study)


def render_options(plans: Sequence[Plan], options: Options) -> RenderOptions:
    options = SlurmBackend.own_options(options)
    if options.runtime is not None and options.runtime not in RUNTIMES:
        raise UnknownNameError("container runtime", options.runtime, list(RUNTIMES), where="--runtime")
    return RenderOptions(
        results_dir=Path(options.results_dir).resolve(),
        settings=settings_for(plans[0].study, options),
        runtime=options.runtime,
        image=options.image,
        workers=options.n_jobs,
        seed=options.seed,
        study_name=options.study_name,
    )


def storage_for(plan: Plan, render: RenderOptions) -> str:
    return render.settings.storage or str(
        layout.target_dir(render.results_dir, plan.study, plan.target) / layout.JOURNAL_FILE
    )


def render_text(jobs: Sequence[StageJob]) -> str:
    """The scripts one after the other (each starts with its #! line)."""
    return "\n".join(job.script for job in jobs)


class SlurmBackend(Backend):
    name = "slurm"
    options_type = SlurmOptions

    def render(self, plans: list[Plan], options: Options) -> Rendered:
        """The sbatch scripts of the plans' stages, and the sbatch command each would be submitted with."""
        jobs = render_study(plans, render_options(plans, options))
        notes = [f"note: {n}" for n in dict.fromkeys(n for j in jobs for n in j.notes)]
        for job in jobs:
            after = f" --dependency=afterok:<{job.previous} job>" if job.previous else ""
            size = f"{_count(len(job.targets), 'target')} x {_count(job.workers, 'worker')}"
            notes.append(f"{job.study}/{job.stage}: would run sbatch --parsable{after} for {size} (dry run)")
        documents = [{"study": j.study, "stage": j.stage, "targets": list(j.targets), "script": j.script} for j in jobs]
        return Rendered(render_text(jobs), documents, notes)

    def launch(self, plans: list[Plan], options: Options) -> Launched:
        render = render_options(plans, options)
        scheduler.require("sbatch")
        study = plans[0].study
        with launch_lock(render.results_dir, study):
            return self._submit(plans, render)

    def _submit(self, plans: list[Plan], render: RenderOptions) -> Launched:
        study = plans[0].study
        book = read_jobs(render.results_dir, study)
        states = scheduler.task_states([j.job_id for j in book.jobs])
        lines = Launched(self.name)
        done: dict[tuple[str, str], bool] = {}
        for plan in plans:
            opened = layout.create_study(plan, storage_for(plan, render), name=render.study_name)
            lost = SharedStudyCoordinator(layout.target_dir(render.results_dir, study, plan.target) / ".top-k").reap(
                opened
            )
            if lost:
                lines.add(
                    study,
                    plan.target,
                    None,
                    "resumed",
                    f"{study}/{plan.target}: {lost} trials of stopped workers will be re-run",
                )
            for stage in plan.stages:
                done[plan.target, stage.name] = stage_counts(opened, stage.name).counted >= stage.trials
        stale = [j for j in book.jobs if _never_runs(states.get(j.job_id, {}))]
        if stale:
            scheduler.scancel([j.job_id for j in stale], "jobs whose dependency can no longer be satisfied")
            for job in stale:
                states.pop(job.job_id, None)
        current: dict[str, list[JobRecord]] = {}  # stage -> jobs that run it for these targets (queued or new)
        for stage in plans[0].stages:
            need = [p for p in plans if not done[p.target, stage.name]]
            if not need:
                message = f"{study}/{stage.name}: done for {_names(p.target for p in plans)}"
                for p in plans:
                    lines.add(study, p.target, stage.name, "done", message)
                continue
            active = [
                j for j in book.jobs if j.stage == stage.name and _active(states.get(j.job_id, {})) and j not in stale
            ]
            covered = {t for j in active for t in j.targets}
            for job in active:
                if any(p.target in job.targets for p in need):
                    current.setdefault(stage.name, []).append(job)
                    summary = _state_summary(job, states.get(job.job_id, {}))
                    message = f"{study}/{stage.name}: job {job.job_id} is {summary}; not submitted again"
                    for target in (p.target for p in need if p.target in job.targets):
                        lines.add(study, target, stage.name, "running", message)
            todo = [p for p in need if p.target not in covered]
            if not todo:
                continue
            dependency = self._dependency(book, states, current, stage.previous, [p.target for p in todo])
            record = self._submit_stage(todo, stage.name, render, dependency)
            book.jobs.append(record)
            write_jobs(render.results_dir, book)
            current.setdefault(stage.name, []).append(record)
            after = f" after job {', '.join(dependency)}" if dependency else ""
            message = (
                f"{study}/{stage.name}: submitted job {record.job_id}{after}: {_count(len(todo), 'target')} x "
                f"{_count(record.workers, 'worker')} ({_names(p.target for p in todo)})"
            )
            for p in todo:
                lines.add(study, p.target, stage.name, "submitted", message)
        return lines

    @staticmethod
    def _dependency(
        book: JobBook,
        states: dict[str, dict[int, TaskState]],
        current: dict[str, list[JobRecord]],
        previous: str | None,
        targets: list[str],
    ) -> list[str]:
        """The jobs of the previous stage (submitted now, or queued or running) that run any of `targets`."""
        if previous is None:
            return []
        jobs = current.get(previous) or [
            j for j in book.jobs if j.stage == previous and _active(states.get(j.job_id, {}))
        ]
        return sorted({j.job_id for j in jobs if set(j.targets) & set(targets)}, key=int)

    @staticmethod
    def _submit_stage(plans: list[Plan], stage: str, render: RenderOptions, dependency: list[str]) -> JobRecord:
        job = render_stage(plans, stage, render)
        job.log_dir.mkdir(parents=True, exist_ok=True)  # sbatch does not create the folders of --output
        for plan in plans:
            layout.target_dir(render.results_dir, plan.study, plan.target).mkdir(parents=True, exist_ok=True)
        pending = job.log_dir / "pending.sbatch"
        pending.write_text(job.script, encoding="utf-8")
        job_id = scheduler.sbatch(pending, dependency=dependency, what=f"the {job.study}/{stage} job")
        script = job.log_dir / f"{job_id}.sbatch"
        pending.replace(script)
        return JobRecord(
            job_id=job_id,
            stage=stage,
            targets=list(job.targets),
            workers=job.workers,
            script=str(script.relative_to(render.results_dir / job.study)),
            submitted_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            dependency=dependency,
        )

    def status(self, plans: list[Plan], options: Options) -> list[StageStatus]:
        render = render_options(plans, options)
        study = plans[0].study
        book = read_jobs(render.results_dir, study)
        unknown = ""
        try:
            states = scheduler.task_states([j.job_id for j in book.jobs]) if book.jobs else {}
        except BackendError as e:  # the trials still show; the tasks' states need the cluster
            states, unknown = {}, str(e)
        rows = []
        for plan in plans:
            jobs = _latest_per_stage(book.for_target(plan.target))
            tasks = {j.job_id: _target_tasks(j, plan.target, states.get(j.job_id, {})) for j in jobs}
            detail = unknown or "; ".join(_task_summary(j, tasks[j.job_id]) for j in jobs)
            opened = layout.load_study(storage_for(plan, render), plan, render.study_name)
            every = [t for ts in tasks.values() for t in ts]
            if opened is None:
                state = "queued" if any(t.active for t in every) else "not started"
                rows.append(StageStatus(study, plan.target, None, state, 0, plan.total_trials, detail=detail))
                continue
            counts = {s.name: stage_counts(opened, s.name) for s in plan.stages}
            finished = sum(min(c.counted, s.trials) for s, c in zip(plan.stages, counts.values(), strict=True))
            current = next((s.name for s in plan.stages if counts[s.name].counted < s.trials), None)
            rows.append(
                StageStatus(
                    study,
                    plan.target,
                    current or plan.stages[-1].name,
                    _target_state(current, every),
                    finished,
                    plan.total_trials,
                    running=sum(c.running for c in counts.values()),
                    failed=sum(c.failed for c in counts.values()),
                    pruned=sum(c.pruned for c in counts.values()),
                    best=best_so_far(opened, plan.multi_objective),
                    detail=detail,
                    eta_s=study_eta(opened, plan) if any(t.active for t in every) else None,
                )
            )
            if not render.settings.storage:
                _refresh(layout.target_dir(render.results_dir, study, plan.target))
        return rows

    def results(self, plans: list[Plan], options: Options) -> list[str]:
        """Each target's summary files rewritten from the study its workers share (plots included)."""
        render = render_options(plans, options)
        lines = []
        for plan in plans:
            out_dir = layout.target_dir(render.results_dir, plan.study, plan.target)
            opened = layout.load_study(storage_for(plan, render), plan, render.study_name)
            if opened is None:
                lines.append(f"{plan.study}/{plan.target}: no study in {storage_for(plan, render)}; launch it first")
                continue
            written = shared.write_results(opened, plan, out_dir, seed=render.seed)
            state = "results in" if written else "another process is writing the results in"
            lines.append(f"{plan.study}/{plan.target}: {len(opened.trials)} trials; {state} {out_dir}")
        return lines

    def cancel(self, plans: list[Plan], options: Options) -> list[str]:
        render = render_options(plans, options)
        study = plans[0].study
        book = read_jobs(render.results_dir, study)
        if not book.jobs:
            return [f"{study}: no SLURM jobs recorded in {render.results_dir / study}"]
        states = scheduler.task_states([j.job_id for j in book.jobs])
        chosen = {p.target for p in plans}
        refs: list[str] = []
        lines = []
        for job in book.jobs:
            tasks = states.get(job.job_id, {})
            if not _active(tasks) or not chosen & set(job.targets):
                continue
            if set(job.targets) <= chosen:
                refs.append(job.job_id)
                lines.append(f"{study}/{job.stage}: cancelled job {job.job_id} ({_names(job.targets)})")
                continue
            for target in sorted(chosen & set(job.targets), key=job.targets.index):
                ids = [i for i in job.task_ids(target) if i not in tasks or tasks[i].active]
                refs += [f"{job.job_id}_{i}" for i in ids]
                if ids:
                    lines.append(f"{study}/{job.stage}: cancelled {target}'s tasks {_ranges(ids)} of job {job.job_id}")
        if not refs:
            return [f"{study}: nothing queued or running for {_names(sorted(chosen))}"]
        scheduler.scancel(refs, f"the {study} jobs")
        lines.append(f"{study}: completed trials are kept; `hpoctl launch ... --backend slurm` resumes")
        return lines


def task_log_paths(
    results_dir: Path, plan: Plan, *, task: int | None = None, stage: str | None = None
) -> list[tuple[JobRecord, int, Path, Path]]:
    """(job, task, output file, error file) of a target's array tasks: the latest job of each stage (or of
    `stage`), all its tasks for the target or only array task `task`."""
    book = read_jobs(results_dir, plan.study)
    jobs = book.for_target(plan.target, stage)
    if not jobs:
        where = f" stage {stage!r} of" if stage else ""
        raise BackendError(
            f"no SLURM job ran{where} {plan.study}/{plan.target} from {Path(results_dir) / plan.study}: launch it with "
            f"`hpoctl launch {plan.study} --target {plan.target} --backend slurm`"
        )
    found = []
    for job in _latest_per_stage(jobs) if task is None else reversed(jobs):
        ids = job.task_ids(plan.target)
        if task is not None and task not in ids:
            continue
        for i in ids if task is None else [task]:
            out, err = task_logs(results_dir, plan.study, job.stage, job.job_id, i)
            found.append((job, i, out, err))
        if task is not None:
            break
    if not found:
        valid = sorted({i for j in jobs for i in j.task_ids(plan.target)})
        raise UnknownNameError("array task", str(task), [str(i) for i in valid], where=f"{plan.study}/{plan.target}")
    return found


def _refresh(out_dir: Path) -> None:
    try:
        shared.refresh_results(out_dir, plots=False)
    except Exception as e:  # status still answers; the workers write the results when a stage ends
        print(f"note: could not refresh the results in {out_dir}: {e}", file=sys.stderr)


def _active(tasks: dict[int, TaskState]) -> bool:
    return any(t.active for t in tasks.values())


def _never_runs(tasks: dict[int, TaskState]) -> bool:
    """A job held for a dependency that failed (clusters without kill_invalid_depend keep it pending)."""
    return bool(tasks) and all(t.state == "PENDING" and "DependencyNeverSatisfied" in t.reason for t in tasks.values())


def _latest_per_stage(jobs: list[JobRecord]) -> list[JobRecord]:
    latest: dict[str, JobRecord] = {}
    for job in jobs:
        latest[job.stage] = job
    return list(latest.values())


def _target_tasks(job: JobRecord, target: str, tasks: dict[int, TaskState]) -> list[TaskState]:
    return [tasks.get(i) or TaskState(job.job_id, i, "UNKNOWN") for i in job.task_ids(target)]


def _task_summary(job: JobRecord, tasks: list[TaskState]) -> str:
    by_state: dict[str, list[str]] = {}
    for task in tasks:
        label = task.state + (f" ({task.reason})" if task.reason and task.state == "PENDING" else "")
        by_state.setdefault(label, []).append(task.ref)
    states = ", ".join(f"{' '.join(refs)} {label}" for label, refs in by_state.items())
    return f"{job.stage} job {job.job_id}: {states}"


def _state_summary(job: JobRecord, tasks: dict[int, TaskState]) -> str:
    counts: dict[str, int] = {}
    for task in tasks.values():
        counts[task.state] = counts.get(task.state, 0) + 1
    return ", ".join(f"{n} {state}" for state, n in sorted(counts.items())) or "queued"


def _target_state(current: str | None, tasks: list[TaskState]) -> str:
    if current is None:
        return "done"
    if any(t.state == "RUNNING" for t in tasks):
        return "running"
    if any(t.active for t in tasks):
        return "queued"
    if any(t.state in FAILED_STATES for t in tasks):
        return "failed"
    if any(t.state == "CANCELLED" for t in tasks):
        return "cancelled"
    return "stopped"


def _names(targets) -> str:
    return ", ".join(targets)


def _ranges(ids: list[int]) -> str:
    return f"{ids[0]}-{ids[-1]}" if len(ids) > 1 and ids[-1] - ids[0] == len(ids) - 1 else ",".join(map(str, ids))


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' if n != 1 else ''}"
