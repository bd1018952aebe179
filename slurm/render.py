"""sbatch scripts for a study's stages: pure functions of the plans and the cluster settings (like submitit's
`_make_sbatch_string()`): sorted, quoted `#SBATCH` lines, then set-up, command and teardown sections.

One script per stage: a job array over targets x workers. Task i runs target `targets[i / W]` as worker `i % W`;
the W workers of a target share the target's Optuna study (a journal file in the results folder) and pull trials
until the stage's budget is met. Stages chain with `--dependency=afterok` at submission (`hpoctl launch`).
"""

from __future__ import annotations

import json
import math
import re
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hpoctl.config import SlurmJobSettings
from hpoctl.errors import HpoctlError
from hpoctl.plan import Plan, StagePlan
from hpoctl.results.layout import JOURNAL_FILE
from hpoctl.slurm.layout import log_dir

RUNTIMES = ("apptainer", "singularity", "none")
INTERRUPTED_EXIT = 75  # the worker's exit when stopped by a signal with trials left (EX_TEMPFAIL): requeue
TIME_LIMIT_SIGNAL = "USR1"  # sent to the batch shell before the time limit; scancel sends TERM to everything

_MEMORY_UNITS = {
    "": 1,
    "k": 1000,
    "M": 1000**2,
    "G": 1000**3,
    "T": 1000**4,
    "Ki": 1024,
    "Mi": 1024**2,
    "Gi": 1024**3,
    "Ti": 1024**4,
    "m": 1e-3,
}


class RenderError(HpoctlError):
    """The plans and settings cannot make a valid job (one line saying which setting to change)."""


@dataclass(frozen=True)
class RenderOptions:
    """What a script depends on besides the plans: where results live (absolute, on the shared file system)
    and the cluster settings; `runtime`, `image` and `workers` override the settings (launch's flags)."""

    results_dir: Path
    settings: SlurmJobSettings = field(default_factory=SlurmJobSettings)
    runtime: str | None = None
    image: str | None = None
    workers: int | None = None
    seed: int | None = None
    study_name: str | None = None


@dataclass(frozen=True)
class StageJob:
    """One stage's job array, rendered."""

    study: str
    stage: str
    previous: str | None
    targets: tuple[str, ...]
    workers: int
    script: str
    log_dir: Path
    notes: tuple[str, ...] = ()

    @property
    def tasks(self) -> int:
        return len(self.targets) * self.workers

    def task_ids(self, target: str) -> list[int]:
        start = self.targets.index(target) * self.workers
        return list(range(start, start + self.workers))

    def task_of(self, task: int) -> tuple[str, int]:
        """(target, worker) of an array task."""
        return self.targets[task // self.workers], task % self.workers


def render_study(plans: Sequence[Plan], options: RenderOptions) -> list[StageJob]:
    """One job per stage of the plans (which come from one study and share its protocol), in protocol order."""
    _check_same_study(plans)
    return [render_stage(plans, stage.name, options) for stage in plans[0].stages]


def render_stage(plans: Sequence[Plan], stage_name: str, options: RenderOptions) -> StageJob:
    """The sbatch script of one stage for the plans' targets."""
    _check_same_study(plans)
    plan = plans[0]
    stage = plan.stage(stage_name)
    settings = options.settings
    runtime = options.runtime or settings.runtime
    if runtime not in RUNTIMES:
        raise RenderError(f"unknown container runtime {runtime!r}; valid: {', '.join(RUNTIMES)}")
    results_dir = Path(options.results_dir)
    if not results_dir.is_absolute():
        raise RenderError(f"the results folder must be an absolute path on the shared file system, got {results_dir}")
    targets = tuple(p.target for p in plans)
    workers = stage_workers(plan, stage, options.workers or settings.workers)
    logs = log_dir(results_dir, plan.study, stage.name)
    notes: list[str] = []
    directives = sbatch_options(plan, stage, settings, tasks=len(targets) * workers, logs=logs)
    image = options.image or settings.image
    if runtime != "none" and image is None:
        image = f"docker://{plan.trainer.image}"
        notes.append(
            f"slurm.image is not set: each task pulls {image} on its compute node; build or pull a .sif once "
            f"(README: SLURM and Apptainer) and set slurm.image"
        )
    container = container_prefix(
        runtime, image, binds=default_binds(results_dir, plan, settings.binds), gpu=plan.resources.gpu > 0
    )
    worker = worker_argv(plan, stage, options, runtime, results_dir)
    lines = [
        "#!/bin/bash",
        *(f"#SBATCH {option}" for option in directives),
        "#",
        *_header(plan, stage, targets, workers),
        "",
        "set -euo pipefail",
        "",
        "# set-up",
        *(f"module load {shlex.quote(m)}" for m in settings.modules),
        "export PYTHONUNBUFFERED=1",
        *([f"export HPOCTL_SLURM_SHARDS={shards}"] if (shards := shards_per_task(plan, settings)) else []),
        *(f"export {name}={shlex.quote(value)}" for name, value in sorted(settings.env.items())),
        *settings.setup,
        f"targets=({' '.join(shlex.quote(t) for t in targets)})",
        ': "${SLURM_ARRAY_TASK_ID:?submit this script with sbatch (hpoctl launch --backend slurm)}"',
        f"target=${{targets[SLURM_ARRAY_TASK_ID / {workers}]}}",
        f"worker=$((SLURM_ARRAY_TASK_ID % {workers}))",
        f"study_dir={shlex.quote(str(results_dir / plan.study))}",
        'echo "hpoctl: task $SLURM_ARRAY_TASK_ID: target $target, worker $worker, on $(hostname),'
        ' restart ${SLURM_RESTART_COUNT:-0}" >&2',
        "",
        "# command",
        "cmd=(",
        *([f"  {' '.join(shlex.quote(a) for a in container)}"] if container else []),
        *(f"  {' '.join(part)}" for part in worker),
        ")",
        "requeue=0",
        "on_time_limit() {",
        '  echo "hpoctl: the time limit is near: stopping the trial for a re-run, then requeueing" >&2',
        "  requeue=1",
        '  kill -TERM "$pid" 2>/dev/null || true',
        "}",
        'on_term() { kill -TERM "$pid" 2>/dev/null || true; }',
        f"trap on_time_limit {TIME_LIMIT_SIGNAL}",
        "trap on_term TERM",
        '"${cmd[@]}" &',
        "pid=$!",
        'while kill -0 "$pid" 2>/dev/null; do wait "$pid" || true; done',
        "status=0",
        'wait "$pid" || status=$?',
        "",
        "# teardown",
        'echo "hpoctl: task $SLURM_ARRAY_TASK_ID ($target, worker $worker) exited with status $status" >&2',
        f'if [ "$requeue" = 1 ] && [ "$status" = {INTERRUPTED_EXIT} ]; then',
        '  scontrol requeue "$SLURM_JOB_ID" || echo "hpoctl: scontrol requeue failed" >&2',
        "fi",
        *settings.teardown,
        'exit "$status"',
    ]
    return StageJob(
        study=plan.study,
        stage=stage.name,
        previous=stage.previous,
        targets=targets,
        workers=workers,
        script="\n".join(lines) + "\n",
        log_dir=logs,
        notes=tuple(notes),
    )


def stage_workers(plan: Plan, stage: StagePlan, configured: int | None) -> int:
    """Workers per target: the configured number, else the study's parallelism; never more than the stage's trials."""
    return max(1, min(configured or plan.limits.parallelism, stage.trials))


def shards_per_task(plan: Plan, settings: SlurmJobSettings) -> int | None:
    """`--gres=shard:N` for a one-GPU trial where the cluster shards its GPUs and the study says how many trials
    share one; None otherwise (with `auto` the task takes a GPU and packs it by the trials' memory)."""
    per_gpu = plan.resources.trials_per_gpu
    if not settings.gpu_shards or plan.resources.gpu != 1 or per_gpu == "auto":
        return None
    return max(1, settings.gpu_shards // int(per_gpu))


def sbatch_options(plan: Plan, stage: StagePlan, settings: SlurmJobSettings, *, tasks: int, logs: Path) -> list[str]:
    """The `#SBATCH` options, sorted by name and shell-quoted."""
    gpu = plan.resources.gpu
    partition = settings.cpu_partition if gpu == 0 and settings.cpu_partition else settings.partition
    running = min(settings.max_running or tasks, tasks)
    options: dict[str, str | None] = {
        "array": f"0-{tasks - 1}%{running}",
        "cpus-per-task": str(cpu_count(plan.resources.cpu)),
        "error": str(logs / "%A_%a.err"),
        "job-name": f"hpoctl-{plan.study}-{stage.name}",
        "mem": memory(plan.resources.memory),
        "nodes": "1",
        "ntasks": "1",
        "open-mode": "append",
        "output": str(logs / "%A_%a.out"),
        "requeue": None,
        "signal": f"B:{TIME_LIMIT_SIGNAL}@{settings.signal_grace}",
    }
    shards = shards_per_task(plan, settings)
    if shards:
        options["gres"] = f"shard:{shards}"
    elif gpu:
        options["gres"] = f"gpu:{settings.gpu_type}:{gpu}" if settings.gpu_type else f"gpu:{gpu}"
    for name, value in (("partition", partition), ("account", settings.account), ("qos", settings.qos)):
        if value:
            options[name] = value
    limit = time_limit(plan, stage, settings)
    if limit is not None:
        if limit <= settings.signal_grace:
            raise RenderError(
                f"stage {stage.name!r}: the time limit ({limit}s) must be longer than slurm.signal_grace "
                f"({settings.signal_grace}s)"
            )
        options["time"] = format_time(limit)
    for name, value in settings.sbatch.items():
        options[name] = None if value is None else str(value)
    return [f"--{k}" if v is None else f"--{k}={shlex.quote(v)}" for k, v in sorted(options.items())]


def time_limit(plan: Plan, stage: StagePlan, settings: SlurmJobSettings) -> int | None:
    """Seconds of --time: the stage's timeout, else the study's limits.timeout, capped by slurm.time_limit."""
    wanted = stage.timeout or plan.limits.timeout
    if wanted is None:
        return settings.time_limit
    return min(wanted, settings.time_limit) if settings.time_limit else wanted


def format_time(seconds: int) -> str:
    """SLURM's D-HH:MM:SS (whole minutes up)."""
    minutes = math.ceil(seconds / 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    return f"{days}-{hours:02d}:{minutes:02d}:00" if days else f"{hours:02d}:{minutes:02d}:00"


def cpu_count(cpu: str | int | float) -> int:
    """A Kubernetes CPU quantity ("4", "500m", 2.5) as whole CPUs, rounded up."""
    text = str(cpu)
    value = float(text[:-1]) / 1000 if text.endswith("m") else float(text)
    return max(1, math.ceil(value))


def memory(quantity: str) -> str:
    """A Kubernetes memory quantity ("16Gi", "512Mi", "2G") as SLURM's --mem (M and G are MiB and GiB)."""
    match = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|k|M|G|T|m)?", quantity)
    if match is None:
        raise RenderError(f"resources.memory: cannot read {quantity!r} as a memory quantity such as 16Gi")
    mib = math.ceil(float(match.group(1)) * _MEMORY_UNITS[match.group(2) or ""] / 1024**2)
    return f"{mib // 1024}G" if mib % 1024 == 0 else f"{max(1, mib)}M"


def default_binds(results_dir: Path, plan: Plan, configured: Sequence[str]) -> list[str]:
    """The results folder (the shared study and the trials' outputs) at the same path, the study file's folder
    when the study is a file, the data read-only, then the configured binds."""
    binds = [str(results_dir)]
    source = study_reference(plan)
    if source != plan.study:
        binds.append(str(Path(source).parent))
    data = plan.local_data()
    if data is not None:
        binds.append(f"{data}:{data}:ro")
    for bind in [*binds, *configured]:
        if "," in bind or bind.count(":") > 2:
            raise RenderError(f"cannot bind {bind!r} into the container: a path with ',' or ':'")
    return list(dict.fromkeys([*binds, *configured]))


def container_prefix(runtime: str, image: str | None, *, binds: Sequence[str], gpu: bool) -> list[str]:
    """`apptainer exec [--nv] [--bind A,B] IMAGE` (or singularity), or nothing with runtime none.

    `--nv` binds the host's NVIDIA driver and devices (GPU jobs only); the image is read-only, so the
    results folder (the shared study) is bound at the same path."""
    if runtime == "none":
        return []
    argv = [runtime, "exec"]
    if gpu:
        argv.append("--nv")
    if binds:
        argv += ["--bind", ",".join(binds)]
    argv.append(str(image))
    return argv


def study_reference(plan: Plan) -> str:
    """How a job names the study: a built-in by name, a file by its absolute path (on the shared file system)."""
    if plan.source.startswith("catalog/"):
        return plan.study
    path = Path(plan.source)
    if not path.is_file():
        raise RenderError(
            f"study {plan.study!r} is not a built-in study or a spec file ({plan.source!r}): SLURM jobs read the "
            f"spec on the compute nodes, so save it as a YAML file on the shared file system and launch that"
        )
    return str(path.resolve())


def worker_command(runtime: str, configured: Sequence[str] | None) -> list[str]:
    if configured:
        return list(configured)
    return ["hpoctl"] if runtime != "none" else [sys.executable, "-m", "hpoctl"]


def worker_argv(
    plan: Plan, stage: StagePlan, options: RenderOptions, runtime: str, results_dir: Path
) -> list[list[str]]:
    """`hpoctl worker ...` as lines of shell words (the target, worker and storage come from the task's variables)."""
    settings = options.settings
    q = shlex.quote
    head = [q(a) for a in worker_command(runtime, settings.worker_command)]
    head += ["worker", q(study_reference(plan)), "--target", '"$target"', "--stage", q(stage.name)]
    head += ["--worker", '"$worker"']
    storage = settings.storage
    words = ["--storage", q(storage) if storage else f'"$study_dir/$target/{JOURNAL_FILE}"']
    words += ["--results", q(str(results_dir)), "--poll", str(settings.poll_interval)]
    for preset in plan.presets:
        words += ["--preset", q(preset)]
    for key, value in flatten_overrides(plan.overrides):
        words += ["--set", q(f"{key}={value}")]
    if plan.data is not None:
        words += ["--data", q(str(plan.local_data()))]
    if options.seed is not None:
        words += ["--seed", str(options.seed)]
    if options.study_name:
        words += ["--study-name", q(options.study_name)]
    return [head, words]


def flatten_overrides(overrides: dict, prefix: str = "") -> list[tuple[str, str]]:
    """`--set` overrides as dotted keys with JSON values (valid YAML), so a worker rebuilds the same plan."""
    items: list[tuple[str, str]] = []
    for key, value in overrides.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            items += flatten_overrides(value, f"{path}.")
        else:
            items.append((path, json.dumps(value, separators=(",", ":"))))
    return items


def _header(plan: Plan, stage: StagePlan, targets: tuple[str, ...], workers: int) -> list[str]:
    after = f"; submitted after stage {stage.previous!r} succeeds (--dependency=afterok)" if stage.previous else ""
    kind = f"the best {stage.top_k} configurations again" if stage.mode == "top-k" else f"{stage.trials} trials"
    n = len(targets)
    return [
        f"# hpoctl study {plan.study}, stage {stage.name} (protocol stage {stage.index + 1}){after}.",
        f"# {n} target{'s' if n != 1 else ''} x {workers} worker{'s' if workers != 1 else ''} = {n * workers} array "
        f"tasks; per target: {kind}, {stage.epochs} epochs each.",
        f"# Task i runs target targets[i / {workers}] as worker i % {workers}. The workers of a target share its",
        "# Optuna study and pull trials from it until the stage's budget is met. Before the time limit SLURM sends",
        "# USR1: the worker stops its trial (kept for a re-run) and the task requeues itself.",
    ]


def _check_same_study(plans: Sequence[Plan]) -> None:
    if not plans:
        raise RenderError("nothing to render: no targets selected")
    first = plans[0]
    for plan in plans[1:]:
        if plan.study != first.study or plan.stages != first.stages or plan.resources != first.resources:
            raise RenderError(f"targets {first.target!r} and {plan.target!r} differ in study, protocol or resources")
