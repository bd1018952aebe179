"""Settings hpoctl fills in when a spec leaves them out are resolved in the plan, so every backend builds the
same sampler."""

from __future__ import annotations

import optuna
import pytest

from hpoctl.catalog import LoadedStudy, load_study
from hpoctl.plan import build_plans
from hpoctl.search.samplers import build_sampler
from hpoctl.spec.loader import validate_spec


def two_objective_study(algorithm: dict, protocol: list[dict]) -> LoadedStudy:
    raw = {
        "name": "toy",
        "targets": {"t": {}},
        "parameters": {"x": {"type": "float", "low": 0.0, "high": 1.0, "default": 0.5}},
        "objectives": [{"metric": "loss", "direction": "minimize"}, {"metric": "time", "direction": "minimize"}],
        "algorithm": algorithm,
        "protocol": protocol,
        "trainer": {"command": ["true"]},
    }
    return LoadedStudy(raw, validate_spec(raw, "toy"), "toy")


@pytest.mark.parametrize(
    ("trials", "population"),
    [([200], 40), ([50], 10), ([20], 10), ([400], 50), ([100, 100], 40)],
)
def test_nsga2_population_is_a_fifth_of_the_searched_trials(trials, population):
    protocol = [{"name": f"s{i}", "trials": n, "epochs": 1} for i, n in enumerate(trials)]
    protocol.append({"name": "confirm", "mode": "top-k", "top_k": 2, "epochs": 2})
    (plan,) = build_plans(two_objective_study({"name": "nsga2"}, protocol), "t")
    assert plan.algorithm.settings == {"population_size": population}
    sampler = build_sampler(plan.algorithm, plan.parameters, seed=0)
    assert isinstance(sampler.base, optuna.samplers.NSGAIISampler)
    assert sampler.base._population_size == population


def test_a_population_the_spec_sets_is_kept_and_one_stage_keeps_the_study_s_population():
    protocol = [{"name": "a", "trials": 200, "epochs": 1}, {"name": "b", "trials": 50, "epochs": 1}]
    (plan,) = build_plans(two_objective_study({"name": "nsga2", "settings": {"population_size": 8}}, protocol), "t")
    assert plan.algorithm.settings == {"population_size": 8}
    (plan,) = build_plans(two_objective_study({"name": "nsga2"}, protocol), "t", stage="b")
    assert plan.algorithm.settings == {"population_size": 50}


def test_the_forecast_study_s_auto_is_tpe_for_its_continuous_parameters():
    for plan in build_plans(load_study("forecast"), "all"):
        assert (plan.algorithm.name, plan.algorithm.settings) == ("tpe", {"seed": 42})
        assert plan.algorithm_choice == "auto -> tpe {seed: 42} (2 objectives, a continuous parameter)"
