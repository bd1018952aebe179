"""The real Kubernetes tier (a plugin of the root conftest, shared by tests/kube and the backend contract test): a
kube-apiserver with etcd, RBAC, Pod Security Admission and Katib v0.19.0's own admission webhooks
(scripts/kube-testenv.sh), started once per session from the binaries scripts/build-kube-tools.sh builds, and
stopped by the PIDs it started. Each test gets its own namespace, set up as a Katib user's: labelled for Katib's
metrics collector, Pod Security `restricted` enforced, the claims hpoctl mounts, and the default ServiceAccount (no
controller-manager runs to create it)."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.kube_tools import TESTENV

_namespaces = itertools.count(1)


@dataclass
class KubeEnv:
    root: Path
    tools: Path
    kubeconfig: Path

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [str(self.tools / "bin" / "kubectl"), "--kubeconfig", str(self.kubeconfig), *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)}: {done.stderr}")
        return done

    def restart_katib(self) -> None:
        env = {**os.environ, "KUBE_TESTENV_ROOT": str(self.root), "KUBE_TOOLS": str(self.tools)}
        done = subprocess.run(
            ["bash", str(TESTENV), "restart-katib"], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr

    def get(self, *args: str) -> Any:
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def namespace(
        self, prefix: str = "hpo", *, katib: bool = True, claims: bool = True, pod_security: str = "restricted"
    ) -> str:
        name = f"{prefix}-{next(_namespaces)}"
        labels = {
            "pod-security.kubernetes.io/enforce": pod_security,
            "pod-security.kubernetes.io/enforce-version": "latest",
        }
        if katib:
            labels["katib.kubeflow.org/metrics-collector-injection"] = "enabled"
        claims = [
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {"name": claim, "namespace": name},
                "spec": {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": "1Gi"}}},
            }
            for claim in ("hpoctl-data", "hpoctl-cache")
            if claims
        ]
        objects = [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}},
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": name}},
            *claims,
        ]
        self.kubectl("create", "-f", "-", input="\n---\n".join(json.dumps(o) for o in objects))
        return name


@pytest.fixture(scope="session")
def kube(kube_tools) -> Iterator[KubeEnv]:
    root = Path(tempfile.mkdtemp(prefix="hpoctl-kube-", dir="/tmp"))
    env = {**os.environ, "KUBE_TESTENV_ROOT": str(root), "KUBE_TOOLS": str(kube_tools)}
    try:
        done = subprocess.run(["bash", str(TESTENV), "up"], env=env, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            logs = "\n".join(f"{p}: {p.read_text()[-3000:]}" for p in sorted((root / "log").glob("*")))
            pytest.fail(f"could not start the real API server:\n{done.stdout}{done.stderr}\n{logs}")
        yield KubeEnv(root, kube_tools, root / "kubeconfig")
    finally:
        subprocess.run(["bash", str(TESTENV), "down"], env=env, capture_output=True, timeout=120)


@pytest.fixture(scope="session")
def registered(kube) -> KubeEnv:
    """hpoctl-optuna added to the real katib-config with `hpoctl katib register`, as a user does once, then
    Katib restarted so that it reads the config (the command's own advice)."""
    from hpoctl.cli.app import main

    assert main(["katib", "register", "--kubeconfig", str(kube.kubeconfig)]) == 0
    kube.restart_katib()
    return kube


@pytest.fixture
def user(registered, monkeypatch, tmp_path) -> KubeEnv:
    """A Katib user's shell: the test cluster's kubeconfig, no configuration file of the developer's, results
    under the test's folder."""
    monkeypatch.setenv("KUBECONFIG", str(registered.kubeconfig))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    for name in ("HPOCTL_CONFIG", "HPOCTL_BACKEND", "HPOCTL_RESULTS", "KUBERNETES_SERVICE_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return registered
