"""The one interface every backend implements: launch, status, results, cancel.

Launch is idempotent: launching what already exists resumes or reports it, never duplicates it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpoctl.plan import Plan


@dataclass(frozen=True)
class LaunchOptions:
    """What the `launch` command passes to every backend; a backend ignores what it has no use for."""

    results_dir: Path = Path("results")
    stage: str | None = None
    n_jobs: int | None = None
    timeout: int | None = None
    seed: int | None = None
    study_name: str | None = None
    resume: bool = True
    dry_run: bool = False
    follow: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class TargetStatus:
    """One row of `hpoctl status`: a target (and stage) of a study on a backend."""

    study: str
    target: str
    stage: str | None
    state: str  # e.g. running, done, queued, failed, not started
    trials_done: int
    trials_budget: int
    running: int = 0
    failed: int = 0
    pruned: int = 0
    best: float | list[float] | None = None
    detail: str = ""

    def as_row(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Backend(ABC):
    name: str

    @abstractmethod
    def launch(self, plans: list[Plan], options: LaunchOptions) -> list[str]:
        """Start (or resume) each plan's stages; returns one line per target saying what happened."""

    @abstractmethod
    def status(self, plans: list[Plan], options: LaunchOptions) -> list[TargetStatus]:
        """What is running or done for each plan."""

    @abstractmethod
    def cancel(self, plans: list[Plan], options: LaunchOptions) -> list[str]:
        """Stop what runs for each plan, keeping every completed trial."""
