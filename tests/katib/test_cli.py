"""The Katib commands on the command line: delete, budget, and the pull command for `hpoctl results pull`."""

from __future__ import annotations

import pytest

from hpoctl.katib.backend import KatibOptions
from hpoctl.katib.client import Connection
from tests.katib.conftest import NAMESPACE
from tests.katib.test_backend import finish


@pytest.fixture
def cluster(monkeypatch, fake_api, fake_core):
    monkeypatch.setattr("hpoctl.katib.backend.connect", lambda *a: Connection(fake_api, fake_core, NAMESPACE, "test"))
    return fake_api


def test_delete_asks_unless_yes(cli, cluster):
    result = cli("delete", "everest", "--target", "M_24h", "--backend", "katib")
    assert result.code == 2 and "pass --yes when not at a terminal" in result.err


def test_launch_budget_status_and_delete_from_the_command_line(cli, cluster, tmp_path, no_plots):
    from hpoctl.catalog import load_study
    from hpoctl.katib.backend import KatibBackend
    from hpoctl.plan import build_plans

    plans = build_plans(load_study("everest"), "M_24h", presets=["quick"])
    KatibBackend().launch(plans, KatibOptions(namespace=NAMESPACE))
    result = cli(
        "katib", "budget", "everest", "--target", "M_24h", "--preset", "quick", "--max-trials", "12", "--parallel", "3"
    )
    assert result.code == 0, result.err
    assert "maxTrialCount 8 -> 12, parallelTrialCount 2 -> 3" in result.err
    finish(cluster, "everest-m-24h-exploration")
    result = cli(
        "delete",
        "everest",
        "-t",
        "M_24h",
        "-b",
        "katib",
        "--preset",
        "quick",
        "--yes",
        "--results",
        str(tmp_path / "r"),
    )
    assert result.code == 0, result.err
    assert "pulled 12 trials" in result.err and "deleted hpo/everest-m-24h-exploration" in result.err
    assert (tmp_path / "r" / "everest" / "M_24h" / "trials.csv").exists()


def test_results_pull_on_the_katib_backend(cli, cluster, tmp_path, no_plots):
    from hpoctl.catalog import load_study
    from hpoctl.katib.backend import KatibBackend
    from hpoctl.plan import build_plans

    plans = build_plans(load_study("mlp"), "default", presets=["quick"])
    KatibBackend().launch(plans, KatibOptions(namespace=NAMESPACE))
    finish(cluster, "mlp-default-search", condition="Succeeded")
    result = cli(
        "results", "pull", "mlp", "--target", "default", "-b", "katib", "--preset", "quick", "--results", str(tmp_path)
    )
    assert result.code == 0, result.err
    assert "mlp/default: pulled 8 trials" in result.err


def test_the_local_backend_refuses_delete_and_katib_options(cli):
    result = cli("delete", "everest", "--target", "M_24h", "--yes")
    assert result.code == 2
    assert result.err == "error: the local backend does not delete anything; its results folder is yours to remove\n"
    result = cli("status", "everest", "-n", "hpo")
    assert result.code == 2 and "the local backend does not take --namespace" in result.err
