"""The Python API: a study whose objective is a function runs in this process through the same stage runner and
results layout as `hpoctl launch`, and `hpoctl.load` reads any target's results back as the CLI does."""

from __future__ import annotations

import json
import math

import pytest

import hpoctl
from hpoctl.errors import UsageError

SPEC = {
    "name": "quadratic",
    "seed": 1,
    "parameters": {
        "x": {"type": "float", "low": 0.0, "high": 1.0, "default": 0.5},
        "kind": {"type": "categorical", "choices": ["a", "b"], "default": "a"},
    },
    "targets": {"default": {}},
    "objectives": [{"metric": "loss", "direction": "minimize", "strategy": "min"}],
    "algorithm": {"name": "tpe", "settings": {"n_startup_trials": 6, "seed": 3}},
    "early_stopping": {"name": "median", "settings": {"warmup_steps": 1, "min_trials": 4}},
    "protocol": [{"name": "search", "trials": 20, "epochs": 5}],
    "limits": {"parallelism": 2, "max_failed_trials": 20},
}


def quadratic(params, report):
    """Improves each epoch towards (x - 0.3)^2, plus 0.1 for kind b."""
    base = (params["x"] - 0.3) ** 2 + (0.1 if params["kind"] == "b" else 0.0)
    for epoch in range(1, report.epochs + 1):
        report(epoch, loss=base + 1.0 / epoch, x_seen=params["x"])


@pytest.fixture(scope="module")
def optimized(tmp_path_factory):
    results = tmp_path_factory.mktemp("api") / "results"
    return hpoctl.optimize(SPEC, quadratic, target="default", results=results), results


def test_a_function_is_tuned_in_process_and_read_back(optimized):
    found, _ = optimized
    trials = found.trials
    assert len(trials) == 20 and set(trials["state"]) <= {"complete", "pruned"}
    assert (trials["state"] == "pruned").any(), "the spec's median rule prunes through report()"
    complete = trials[trials["state"] == "complete"]
    assert found.best_value == pytest.approx(complete["value_loss"].min())
    best = complete.loc[complete["value_loss"].idxmin()]
    assert found.best_params["x"] == pytest.approx(best["params_x"])
    assert found.best_value == pytest.approx(min((x - 0.3) ** 2 for x in complete["params_x"]) + 0.2, abs=0.11)
    assert "optimization_history" in found.plots and found.plots["optimization_history"].is_file()
    again = hpoctl.load(found.folder)  # a results folder: the plan comes from its spec.yaml
    assert again.best_params == found.best_params and len(again.trials) == 20
    assert len(found.study.trials) == 20 and found.pareto is None


def test_load_by_study_and_target_is_what_results_show_gives(optimized, tmp_path, cli):
    _, results = optimized
    spec = tmp_path / "quadratic.yaml"
    spec.write_text(json.dumps({**SPEC, "trainer": {"command": ["python", "-c", "pass"]}}))
    loaded = hpoctl.load(str(spec), "default", results=results)
    shown = json.loads(cli("results", "show", str(spec), "-t", "default", "--results", str(results), "-o", "json").out)
    assert loaded.best_trial == shown["best"] and loaded.best_value == shown["best"]["values"]["loss"]


def test_a_function_that_raises_or_gives_nan_fails_its_trial_and_loses_none(tmp_path):
    def fragile(params, report):
        if params["x"] > 0.7:
            raise RuntimeError("diverged on purpose")
        for epoch in range(1, report.epochs + 1):
            report(epoch, loss=math.nan if params["x"] < 0.2 else params["x"])

    spec = {**SPEC, "early_stopping": {"name": "none"}, "algorithm": {"name": "random", "settings": {"seed": 5}}}
    found = hpoctl.optimize(spec, fragile, target="default", results=tmp_path / "r")
    trials = found.trials
    assert len(trials) == 20, "every trial is recorded"
    failed = trials[trials["state"] == "failed"]
    raised = failed[failed["params_x"] > 0.7]
    assert len(raised) and all("RuntimeError: diverged on purpose (at fragile:" in r for r in raised["failure_reason"])
    nan = failed[failed["params_x"] < 0.2]
    assert len(nan) and all("nan" in r for r in nan["failure_reason"])
    assert (trials["state"] == "complete").sum() == 20 - len(failed)


def test_api_mistakes_are_one_usage_line(tmp_path):
    with pytest.raises(UsageError, match="on the local backend"):
        hpoctl.optimize(SPEC, quadratic, backend="katib")
    with pytest.raises(UsageError, match="objective must be a function"):
        hpoctl.optimize(SPEC, 42)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="give a target, or a target's results folder"):
        hpoctl.load(tmp_path)
    with pytest.raises(UsageError, match=r"hpoctl\.load takes one target"):
        hpoctl.load("everest", "M_*")
