"""The SLURM commands the backend runs (sbatch, squeue, sacct, scancel), each failure one actionable line."""

from __future__ import annotations

import logging
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from hpoctl.errors import BackendError

log = logging.getLogger("hpoctl.slurm")

TIMEOUT_S = 60
ACTIVE_STATES = frozenset(
    {
        "PENDING",
        "RUNNING",
        "REQUEUED",
        "REQUEUE_HOLD",
        "REQUEUE_FED",
        "RESIZING",
        "SUSPENDED",
        "COMPLETING",
        "CONFIGURING",
        "SIGNALING",
        "STAGE_OUT",
        "STOPPED",
        "RESV_DEL_HOLD",
    }
)


@dataclass(frozen=True)
class TaskState:
    """One array task as squeue or sacct shows it."""

    job_id: str  # the array job's id
    task: int
    state: str  # RUNNING, PENDING, COMPLETED, FAILED, CANCELLED, TIMEOUT, ...
    reason: str = ""
    exit_code: str = ""

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def ref(self) -> str:
        return f"{self.job_id}_{self.task}"


def require(command: str) -> str:
    path = shutil.which(command)
    if path is None:
        raise BackendError(
            f"{command} not found on PATH: run hpoctl with --backend slurm on a login node of the cluster (or "
            f"`module load slurm` first)"
        )
    return path


def _run(argv: Sequence[str], what: str) -> subprocess.CompletedProcess[str]:
    require(argv[0])
    log.info("slurm: %s", shlex.join(argv))
    try:
        return subprocess.run(list(argv), capture_output=True, text=True, timeout=TIMEOUT_S, env=os.environ.copy())
    except subprocess.TimeoutExpired as e:
        raise BackendError(
            f"{argv[0]} did not answer within {TIMEOUT_S}s ({what}): is slurmctld up? check `scontrol ping`"
        ) from e


def explain(command: str, stderr: str, what: str) -> BackendError:
    """SLURM's error text as one line that says what to do."""
    text = " ".join(line.strip() for line in stderr.strip().splitlines() if line.strip())
    lowered = text.lower()
    if "unable to contact slurm controller" in lowered or "connection refused" in lowered or "fetch_config" in lowered:
        return BackendError(
            f"{command} cannot reach the SLURM controller (slurmctld) for {what}: check `scontrol ping`, "
            f"SLURM_CONF and that you are on a login node ({_last(text)})"
        )
    if "invalid partition" in lowered:
        return BackendError(
            f"{command} rejected {what}: invalid partition; set slurm.partition (or slurm.cpu_partition) in hpoctl's "
            f"configuration to one that `sinfo -s` lists ({_last(text)})"
        )
    if "invalid account" in lowered or "invalid qos" in lowered:
        return BackendError(
            f"{command} rejected {what}: {_last(text)}; set slurm.account and slurm.qos to ones "
            f"`sacctmgr show assoc user=$USER` lists"
        )
    return BackendError(f"{command} failed for {what}: {_last(text) or 'no message'}")


def _last(text: str) -> str:
    parts = [p.strip() for p in re.split(r"(?:sbatch|squeue|sacct|scancel): error: ", text) if p.strip()]
    return parts[-1] if parts else text


def sbatch(script: Path, *, dependency: Sequence[str] = (), what: str = "the job") -> str:
    """Submit a script; returns the job id (`sbatch --parsable`)."""
    argv = ["sbatch", "--parsable"]
    if dependency:
        argv.append(f"--dependency=afterok:{':'.join(dependency)}")
    argv.append(str(script))
    done = _run(argv, what)
    if done.returncode != 0:
        raise explain("sbatch", done.stderr, what)
    job = done.stdout.strip().split(";")[0]
    if not job.isdigit():
        raise BackendError(f"sbatch answered {done.stdout.strip()!r} for {what}, not a job id")
    return job


def scancel(refs: Iterable[str], what: str) -> None:
    refs = list(refs)
    if not refs:
        return
    done = _run(["scancel", *refs], what)
    if done.returncode != 0 and "already completing or completed" not in done.stderr.lower():
        raise explain("scancel", done.stderr, what)


def task_states(job_ids: Sequence[str], *, accounting: bool = True) -> dict[str, dict[int, TaskState]]:
    """{array job id: {task: state}} from sacct (finished tasks, when accounting is on) overlaid by squeue (the
    controller's live view). Jobs neither knows are missing."""
    states: dict[str, dict[int, TaskState]] = {}
    if not job_ids:
        return states
    if accounting and shutil.which("sacct"):
        for item in _sacct(job_ids):
            states.setdefault(item.job_id, {})[item.task] = item
    for item in _squeue(job_ids):
        states.setdefault(item.job_id, {})[item.task] = item
    return states


def _squeue(job_ids: Sequence[str]) -> list[TaskState]:
    done = _run(["squeue", "-h", "-r", "-t", "all", "-o", "%i|%T|%r", "-j", ",".join(job_ids)], "squeue")
    if done.returncode != 0:
        if "invalid job id" in done.stderr.lower():
            return []
        raise explain("squeue", done.stderr, "the jobs' states")
    return [t for line in done.stdout.splitlines() for t in _parse(line.split("|"), reason=True)]


def _sacct(job_ids: Sequence[str]) -> list[TaskState]:
    done = _run(["sacct", "-n", "-X", "-P", "-o", "JobID,State,ExitCode", "-j", ",".join(job_ids)], "sacct")
    if done.returncode != 0:
        return []  # accounting off or slurmdbd down: squeue still answers for live jobs
    return [t for line in done.stdout.splitlines() for t in _parse(line.split("|"), reason=False)]


def _parse(cells: list[str], *, reason: bool) -> list[TaskState]:
    """`123_4|RUNNING|None` (or `123_[5-9%2]|PENDING|...` for tasks not started) as TaskStates."""
    if len(cells) < 3:
        return []
    ref, state, third = cells[0].strip(), cells[1].strip().split(" ")[0], cells[2].strip()
    match = re.fullmatch(r"(\d+)_(\d+|\[[^\]]*\])", ref)
    if match is None:
        return []
    job, tasks = match.groups()
    extra = {"reason": "" if third == "None" else third} if reason else {"exit_code": third}
    return [TaskState(job, task, state, **extra) for task in _expand(tasks)]


def _expand(tasks: str) -> list[int]:
    if tasks.isdigit():
        return [int(tasks)]
    found: list[int] = []
    for part in tasks.strip("[]").split("%")[0].split(","):
        low, _, high = part.partition("-")
        if low.isdigit():
            found += list(range(int(low), int(high or low) + 1))
    return found
