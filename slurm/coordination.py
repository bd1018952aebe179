"""How the workers of one study tell each other's trials apart: each trial records the process that runs it
(SLURM job, array task, restart, host, pid), and a RUNNING trial whose process is gone is failed as
interrupted, so the stage re-runs it. Implements the runner's `SharedStudy`."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from hpoctl.runner import fail_interrupted

WORKER_ATTR = "worker"  # trial user attr: the Owner (as a dict) of the process running the trial
LOST = "its worker stopped before the trial finished (job ended or requeued, or process gone); re-run"
# Job states in which the job's processes may still run; any other state (or none: gone) means they are dead.
ALIVE_STATES = frozenset({"RUNNING", "COMPLETING", "CONFIGURING", "SUSPENDED", "STOPPED", "SIGNALING", "STAGE_OUT"})

JobStates = Callable[[Sequence[str]], "Mapping[str, str] | None"]


@dataclass(frozen=True)
class Owner:
    """The process that runs a trial."""

    host: str
    pid: int
    job_id: str | None = None  # SLURM_JOB_ID: an array task's own job id
    array_job_id: str | None = None
    array_task_id: int | None = None
    restart: int = 0  # SLURM_RESTART_COUNT: a requeued task runs again under the same job id

    @classmethod
    def current(cls, environ: Mapping[str, str] | None = None) -> Owner:
        env = os.environ if environ is None else environ
        task = env.get("SLURM_ARRAY_TASK_ID")
        return cls(
            host=socket.gethostname(),
            pid=os.getpid(),
            job_id=env.get("SLURM_JOB_ID") or None,
            array_job_id=env.get("SLURM_ARRAY_JOB_ID") or None,
            array_task_id=int(task) if task and task.isdigit() else None,
            restart=int(env.get("SLURM_RESTART_COUNT") or 0),
        )

    def to_attr(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_attr(cls, value: Any) -> Owner | None:
        if not isinstance(value, dict):
            return None
        try:
            return cls(**value)
        except TypeError:
            return None


def squeue_states(job_ids: Sequence[str]) -> dict[str, str] | None:
    """{job id: state} of jobs the controller still knows (`squeue -t all`), None when squeue cannot answer."""
    if not job_ids:
        return {}
    try:
        done = subprocess.run(
            ["squeue", "-h", "-t", "all", "-o", "%A|%T", "-j", ",".join(job_ids)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        # Asked only about jobs the controller has forgotten; anything else (unreachable, ...) is no answer.
        return {} if "Invalid job id" in done.stderr else None
    states = {}
    for line in done.stdout.splitlines():
        job, _, state = line.strip().partition("|")
        if job:
            states[job] = state
    return states


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        return "Z" not in Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    return True


class SharedStudyCoordinator:
    """The SLURM worker's side of the runner's SharedStudy."""

    def __init__(
        self,
        lock_path: Path,
        *,
        owner: Owner | None = None,
        poll_s: float = 10.0,
        job_states: JobStates = squeue_states,
        orphan_after_s: float = 600.0,
    ):
        self.lock_path = Path(lock_path)
        self.owner = owner or Owner.current()
        self.poll_s = poll_s
        self.job_states = job_states
        self.orphan_after_s = orphan_after_s
        self._states: dict[str, str] | None = None
        self._asked_at = 0.0
        self._asked_for: set[str] = set()

    def owner_attrs(self) -> dict[str, Any]:
        return {WORKER_ATTR: self.owner.to_attr()}

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """The journal's own open-lock on a side file: O_EXCL creation works on network file systems, and a lock
        left by a killed process is broken after Optuna's grace period."""
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        lock = optuna.storages.journal.JournalFileOpenLock(str(self.lock_path))
        lock.acquire()
        try:
            yield
        finally:
            lock.release()

    def reap(self, study: optuna.Study) -> int:
        running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if not running:
            return 0
        owners = {t.number: Owner.from_attr(t.user_attrs.get(WORKER_ATTR)) for t in running}
        jobs = sorted({o.job_id for o in owners.values() if o and o.job_id and o.job_id != self.owner.job_id})
        states = self._job_states(jobs)
        return fail_interrupted(study, LOST, only=lambda t: self.is_dead(t, owners.get(t.number), states))

    def is_dead(self, trial: FrozenTrial, owner: Owner | None, states: Mapping[str, str] | None) -> bool:
        """Whether the process running `trial` is gone; when unsure (controller unreachable, another host
        outside SLURM), it is taken as alive."""
        me = self.owner
        if owner is None:
            started = trial.datetime_start
            if started is None:
                return False
            age = dt.datetime.now() - started  # Optuna keeps naive local times
            return age.total_seconds() > self.orphan_after_s
        if owner == me:
            return False
        if owner.job_id and owner.job_id == me.job_id:
            return True  # this task's earlier run (requeued) or another process of it that is not this one
        if owner.job_id:
            if states is None:
                return False
            return states.get(owner.job_id) not in ALIVE_STATES
        if owner.host == me.host:
            return not pid_alive(owner.pid)
        return False

    def _job_states(self, jobs: Sequence[str]) -> Mapping[str, str] | None:
        if not jobs:
            return {}
        fresh = time.monotonic() - self._asked_at < self.poll_s
        if self._states is not None and fresh and set(jobs) <= self._asked_for:
            return self._states
        self._states = self.job_states(jobs)
        self._asked_at, self._asked_for = time.monotonic(), set(jobs)
        return self._states
