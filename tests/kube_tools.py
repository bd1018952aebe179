"""The real Kubernetes tier's binaries (scripts/build-kube-tools.sh: kube-apiserver, etcd, kubectl and
katib-admission built from their Go modules), found or built once per session. Without Go the tests that
need them skip with the reason; with HPOCTL_REQUIRE_KUBE=1 (CI) that is a failure instead."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BUILD = REPO / "scripts" / "build-kube-tools.sh"
TESTENV = REPO / "scripts" / "kube-testenv.sh"
KATIB_CONFIG = "katib/katib-config.yaml"


def require(reason: str) -> None:
    if os.environ.get("HPOCTL_REQUIRE_KUBE") == "1":
        pytest.fail(f"HPOCTL_REQUIRE_KUBE=1 but {reason}")
    pytest.skip(reason)


def find_tools() -> Path:
    """The tools folder; skips (or fails under HPOCTL_REQUIRE_KUBE=1) when it cannot be had."""
    if os.environ.get("KUBE_TOOLS"):
        folder = Path(os.environ["KUBE_TOOLS"])
    else:
        if shutil.which("go") is None:
            require(
                "no Go toolchain: the real Kubernetes tier (kube-apiserver, Katib's admission code) is built "
                "from Go modules; install Go >= 1.24 and run `make test`"
            )
        done = subprocess.run(["bash", str(BUILD)], capture_output=True, text=True, timeout=3000)
        if done.returncode != 0 or not done.stdout.strip():
            require(f"scripts/build-kube-tools.sh failed: {done.stderr[-2000:]}")
        folder = Path(done.stdout.strip().splitlines()[-1])
    if not (folder / "bin" / "katib-admission").is_file():
        require(f"{folder} holds no built tools (run scripts/build-kube-tools.sh)")
    return folder
