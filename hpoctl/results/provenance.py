"""provenance.json: what produced a set of results (versions, code revision, machine, seeds, times).
Deliberately no environment variables, so no secret ends up in a results folder."""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import socket
import subprocess
import sys
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from hpoctl.plan import Plan
from hpoctl.spec.study import Trainer


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
        **study_provenance(plan),
        "platform": platform.platform(),
        "python_executable": sys.executable,
    }


def study_provenance(plan: Plan) -> dict[str, Any]:
    """What a study records about what produced it (user attribute `provenance`, and in provenance.json): hpoctl's
    version, the trainer's code (module or command, its package version and git commit, the image and its digest
    when the reference pins one), the SHA-256 of the resolved plan, and the host and accelerator that wrote it."""
    return {
        "hpoctl": _version("hpoctl"),
        "trainer": trainer_code(plan.trainer),
        "spec_sha256": hashlib.sha256(json.dumps(plan.to_data(), sort_keys=True).encode()).hexdigest(),
        "hostname": socket.gethostname(),
        "accelerator": accelerator(),
    }


def trainer_code(trainer: Trainer) -> dict[str, Any]:
    """The trainer's source as this machine has it: a module's distribution version and the git commit of the
    folder it is imported from; a command's script's git commit. No module is imported to find them."""
    digest = trainer.image.partition("@")[2] or None
    code: dict[str, Any] = {"image": trainer.image, "image_digest": digest}
    if trainer.module:
        top = trainer.module.split(".")[0]
        found = importlib.util.find_spec(top)
        folder = Path(found.origin).parent if found and found.origin else None
        dists = importlib.metadata.packages_distributions().get(top, [])
        code.update(module=trainer.module, version=_version(dists[0]) if dists else None)
    else:
        script = next((Path(w) for w in (trainer.command or [])[1:] if Path(w).is_file()), None)
        folder = script.resolve().parent if script else None
        code.update(command=list(trainer.command or []), version=None)
    code["git"] = git_revision(str(folder)) if folder and folder.is_dir() else None
    return code


def accelerator() -> str:
    """The NVIDIA GPUs this machine's driver lists (models, from /proc; no CUDA call), else `cpu`."""
    models = []
    for info in sorted(Path("/proc/driver/nvidia/gpus").glob("*/information")):
        with contextlib.suppress(OSError):
            line = next((ln for ln in info.read_text().splitlines() if ln.startswith("Model:")), "")
            models.append(line.partition(":")[2].strip() or "NVIDIA GPU")
    return ", ".join(models) if models else "cpu"


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
