"""results/<study>/slurm_jobs.json: every job `hpoctl launch --backend slurm` submitted for a study, so that
launching again resumes rather than duplicates, and status, logs and cancel find the array tasks of a target."""

from __future__ import annotations

import contextlib
import fcntl
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hpoctl import atomic as _atomic
from hpoctl.errors import BackendError
from hpoctl.slurm.layout import jobs_file

LAUNCH_LOCK = ".slurm-launch.lock"


@dataclass(frozen=True)
class JobRecord:
    """One submitted job array: stage `stage` for `targets`, `workers` array tasks per target."""

    job_id: str
    stage: str
    targets: list[str]
    workers: int
    script: str  # the script it ran, relative to results/<study>/
    submitted_at: str
    dependency: list[str] = field(default_factory=list)

    def task_ids(self, target: str) -> list[int]:
        start = self.targets.index(target) * self.workers
        return list(range(start, start + self.workers))

    def task_of(self, task: int) -> tuple[str, int]:
        return self.targets[task // self.workers], task % self.workers


@dataclass
class JobBook:
    """The jobs of one study, oldest first."""

    study: str
    jobs: list[JobRecord] = field(default_factory=list)

    def for_target(self, target: str, stage: str | None = None) -> list[JobRecord]:
        return [j for j in self.jobs if target in j.targets and (stage is None or j.stage == stage)]

    def to_data(self) -> dict[str, Any]:
        return {"study": self.study, "jobs": [asdict(j) for j in self.jobs]}


def read_jobs(results_dir: Path, study: str) -> JobBook:
    path = jobs_file(results_dir, study)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return JobBook(study)
    except (OSError, ValueError) as e:
        raise BackendError(f"{path} is unreadable ({e}); move it away to start the study's job record afresh") from e
    try:
        return JobBook(study, [JobRecord(**item) for item in data.get("jobs", [])])
    except TypeError as e:
        raise BackendError(f"{path} is not a job record written by hpoctl ({e})") from e


def write_jobs(results_dir: Path, book: JobBook) -> Path:
    path = jobs_file(results_dir, book.study)
    _atomic.write_json(path, book.to_data())
    return path


@contextlib.contextmanager
def launch_lock(results_dir: Path, study: str) -> Iterator[None]:
    """One `hpoctl launch --backend slurm` of a study at a time (two would both submit the same stage)."""
    folder = Path(results_dir) / study
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / LAUNCH_LOCK, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            raise BackendError(f"another hpoctl launch of {study!r} is submitting jobs in {folder}; wait for it") from e
        except OSError:
            pass  # no flock on this file system: go on unlocked
        yield
