"""provenance.json: what produced a set of results (versions, code revision, machine, seeds, times).
Deliberately no environment variables, so no secret ends up in a results folder."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from hpoctl.plan import Plan


def collect_provenance(
    plan: Plan, started_at: datetime | float | None, ended_at: datetime | float | None, seeds: Any
) -> dict[str, Any]:
    """Versions of hpoctl, Optuna, torch (read from package metadata: torch is never imported here)
    and Python, the git commit of the working directory, host, platform, seeds and start/end times
    (ISO-8601, UTC). Times are datetimes (naive ones are local time) or POSIX timestamps."""
    return {
        "study": plan.study,
        "target": plan.target,
        "started_at": iso_utc(started_at),
        "ended_at": iso_utc(ended_at),
        "seeds": seeds,
        "versions": package_versions(),
        "git": git_revision(os.getcwd()),
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "python_executable": sys.executable,
    }


def package_versions() -> dict[str, str | None]:
    return {
        "hpoctl": _version("hpoctl"),
        "optuna": _version("optuna"),
        "torch": _version("torch"),
        "python": platform.python_version(),
    }


def iso_utc(moment: datetime | float | None) -> str | None:
    if moment is None:
        return None
    if isinstance(moment, (int, float)):
        moment = datetime.fromtimestamp(moment, tz=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def git_revision(cwd: str) -> dict[str, Any] | None:
    """{"commit", "dirty"} of the git repository holding `cwd`; None outside one or without git.
    Untracked files do not make it dirty (a results folder inside the repository would)."""
    commit = _git(cwd, "rev-parse", "HEAD")
    if commit is None:
        return None
    status = _git(cwd, "status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def _git(cwd: str, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None
