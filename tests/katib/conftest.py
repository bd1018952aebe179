"""Fixtures of the Katib backend's tests: no configuration file of the developer's, a fake cluster."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpoctl.catalog import load_study
from hpoctl.config import HpoctlConfig
from hpoctl.katib.backend import KatibBackend
from hpoctl.katib.render import RenderOptions, render_experiments
from hpoctl.plan import build_plans
from tests.katib.fake_kube import FakeCoreApi, FakeKubeApi

NAMESPACE = "hpo"
REFERENCE = Path("/work/shared/katib-reference")


@pytest.fixture(autouse=True)
def _no_user_config(monkeypatch, tmp_path):
    """Tests never read the developer's hpoctl.yaml or kubeconfig."""
    monkeypatch.delenv("HPOCTL_CONFIG", raising=False)
    monkeypatch.delenv("HPOCTL_BACKEND", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.chdir(tmp_path)


def render(study: str, target: str = "all", *, stage: str | None = None, presets=(), overrides=None, **options):
    plans = build_plans(load_study(study), target, stage=stage, presets=presets, overrides=overrides)
    options.setdefault("namespace", NAMESPACE)
    options.setdefault("config", HpoctlConfig())
    return render_experiments(plans, RenderOptions(**options))


@pytest.fixture
def fake_api() -> FakeKubeApi:
    return FakeKubeApi()


@pytest.fixture
def fake_core() -> FakeCoreApi:
    return FakeCoreApi({(NAMESPACE, "hpoctl-data"), (NAMESPACE, "hpoctl-cache")})


class Echo(list):
    def __call__(self, line: str) -> None:
        self.append(line)


@pytest.fixture
def echo() -> Echo:
    return Echo()


@pytest.fixture
def backend(fake_api, fake_core, echo) -> KatibBackend:
    return KatibBackend(
        fake_api, fake_core, config=HpoctlConfig(), namespace=NAMESPACE, echo=echo, sleep=lambda s: None
    )


@pytest.fixture
def no_plots(monkeypatch):
    """Results without plots: matplotlib and plotly take seconds, and these tests read the data files."""
    from hpoctl.results.plots import PlotSet

    monkeypatch.setattr("hpoctl.results.writer.write_plots", lambda *args, **kwargs: PlotSet())
