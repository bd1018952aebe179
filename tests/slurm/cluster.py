"""A real single-node SLURM cluster (slurmctld, slurmd, munge, slurmdbd with MariaDB) started once per test session
by scripts/slurm-cluster.sh under its own folder in /tmp, and stopped by the PIDs it started, even when tests fail.
A plugin of the root conftest, so that the SLURM tests and the backend contract test share one cluster."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CLUSTER_SCRIPT = REPO / "scripts" / "slurm-cluster.sh"
DAEMONS = ("munged", "mariadbd", "mariadb-install-db", "slurmdbd", "slurmctld", "slurmd", "sbatch", "sacct")


def why_no_cluster() -> str | None:
    if os.geteuid() != 0:
        return "the SLURM integration tests start a single-node cluster as root (SlurmdUser=root); run them as root"
    missing = [d for d in DAEMONS if shutil.which(d) is None]
    if missing:
        return (
            f"SLURM packages are missing ({', '.join(missing)}): run scripts/system-deps.sh as root (`make test` does)"
        )
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Cluster:
    root: Path
    conf: Path

    def squeue(self, job: str) -> str:
        return subprocess.run(
            ["squeue", "-h", "-r", "-t", "all", "-j", job, "-o", "%i %T %r"], capture_output=True, text=True
        ).stdout

    def states(self, job: str) -> dict[str, str]:
        """{array task: state} of a job, e.g. {"12_0": "COMPLETED"}."""
        return {line.split()[0]: line.split()[1] for line in self.squeue(job).splitlines() if line.strip()}

    def wait(self, job: str, timeout: float = 120.0) -> dict[str, str]:
        """Wait until no task of the job is pending or running; returns the tasks' final states."""
        active = {"PENDING", "RUNNING", "REQUEUED", "COMPLETING", "CONFIGURING", "SUSPENDED", "RESIZING"}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = self.states(job)
            if states and not active & set(states.values()):
                return states
            time.sleep(0.5)
        raise AssertionError(f"job {job} still active after {timeout}s: {self.states(job)}")

    def sacct(self, job: str) -> dict[str, str]:
        """{array task: state} from the accounting database (slurmdbd), waiting for it to catch up."""
        for _ in range(50):
            done = subprocess.run(
                ["sacct", "-n", "-X", "-P", "-j", job, "-o", "JobID,State"], capture_output=True, text=True
            )
            states = dict(line.split("|", 1) for line in done.stdout.splitlines() if "|" in line)
            if states and all(" " not in s and s not in ("RUNNING", "PENDING") for s in states.values()):
                return states
            time.sleep(0.2)
        return states


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[Cluster]:
    reason = why_no_cluster()
    if reason and os.environ.get("HPOCTL_REQUIRE_SLURM"):
        pytest.fail(f"HPOCTL_REQUIRE_SLURM is set but {reason}")
    if reason:
        pytest.skip(reason)
    root = Path(tempfile.mkdtemp(prefix="hpoctl-slurm-", dir="/tmp"))
    env = {
        **os.environ,
        "SLURM_ROOT": str(root),
        "SLURMCTLD_PORT": str(free_port()),
        "SLURMD_PORT": str(free_port()),
        "SLURMDBD_PORT": str(free_port()),
    }
    previous = os.environ.get("SLURM_CONF")
    try:
        done = subprocess.run(["bash", str(CLUSTER_SCRIPT), "up"], env=env, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            logs = "\n".join(f"{p}: {p.read_text()[-2000:]}" for p in sorted((root / "log").glob("*")))
            pytest.fail(f"could not start the test cluster:\n{done.stdout}{done.stderr}\n{logs}")
        conf = root / "etc" / "slurm.conf"
        os.environ["SLURM_CONF"] = str(conf)
        yield Cluster(root, conf)
    finally:
        subprocess.run(["bash", str(CLUSTER_SCRIPT), "down"], env=env, capture_output=True, timeout=120)
        if previous is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = previous
        with contextlib.suppress(OSError):
            shutil.rmtree(root)
