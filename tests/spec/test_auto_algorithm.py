"""`algorithm: auto`, the default: resolved in the plan from the objectives and the space, shown by `hpoctl plan`,
run by every backend as the same sampler (hpoctl-optuna on Katib); bad settings and losing explicit choices get
one line from `hpoctl validate`."""

from __future__ import annotations

import optuna
import pytest
import yaml

from hpoctl.catalog import LoadedStudy
from hpoctl.katib.algorithms import katib_algorithm, uses_hpoctl_optuna
from hpoctl.plan import build_plans
from hpoctl.search.auto import choose
from hpoctl.search.dedupe import DedupSampler
from hpoctl.search.samplers import build_sampler
from hpoctl.spec.loader import validate_spec

FLOAT = {"type": "float", "low": 0.0, "high": 1.0, "default": 0.5}
SMALL_INT = {"type": "int", "low": 0, "high": 9, "default": 0}
CHOICE = {"type": "categorical", "choices": ["a", "b"], "default": "a"}
ONE = [{"metric": "loss", "direction": "minimize"}]
TWO = [*ONE, {"metric": "time", "direction": "minimize"}]


def raw(parameters: dict, objectives: list, algorithm: dict | None = None, trials: int = 100, **extra) -> dict:
    spec = {
        "name": "toy",
        "targets": {"t": {}},
        "parameters": parameters,
        "objectives": objectives,
        "protocol": [{"name": "s", "trials": trials, "epochs": 1}],
        "trainer": {"command": ["true"]},
        **extra,
    }
    if algorithm is not None:
        spec["algorithm"] = algorithm
    return spec


def plan_of(spec: dict):
    (plan,) = build_plans(LoadedStudy(spec, validate_spec(spec, "toy"), "toy"), "t")
    return plan


@pytest.mark.parametrize(
    ("parameters", "objectives", "name", "settings"),
    [
        ({"x": FLOAT, "c": CHOICE}, ONE, "multivariate-tpe", {}),
        ({"x": {**FLOAT, "when": {"c": ["a"]}}, "c": CHOICE}, ONE, "multivariate-tpe", {"group": True}),
        ({"x": FLOAT, "n": SMALL_INT}, TWO, "tpe", {}),
        ({"n": SMALL_INT, "c": CHOICE}, TWO, "nsga2", {"population_size": 20}),
        ({"n": {**SMALL_INT, "high": 100}, "c": CHOICE}, TWO, "tpe", {}),  # 101 values count as continuous
    ],
)
def test_auto_is_the_default_and_resolves_by_objectives_and_space(parameters, objectives, name, settings):
    plan = plan_of(raw(parameters, objectives))
    assert (plan.algorithm.name, plan.algorithm.settings) == (name, settings)
    assert plan.algorithm_choice.startswith(f"auto -> {name}")


def test_auto_keeps_its_settings_and_nsga2_s_population_covers_the_parallelism():
    plan = plan_of(raw({"x": FLOAT}, ONE, {"name": "auto", "settings": {"seed": 3, "n_startup_trials": 4}}))
    assert plan.algorithm.settings == {"seed": 3, "n_startup_trials": 4}
    assert choose({}, objectives=2, searched_trials=20, parallelism=16).algorithm.settings == {"population_size": 16}


def test_every_backend_builds_the_resolved_sampler_with_the_duplicate_check():
    plan = plan_of(raw({"x": FLOAT}, TWO, {"name": "auto", "settings": {"seed": 1}}))
    sampler = build_sampler(plan.algorithm, plan.parameters, parallel=True)
    assert isinstance(sampler, DedupSampler) and isinstance(sampler.base, optuna.samplers.TPESampler)
    with pytest.raises(ValueError, match="resolved in the plan"):
        build_sampler(validate_spec(raw({"x": FLOAT}, ONE), "toy").algorithm, plan.parameters)


def test_katib_runs_auto_on_hpoctl_optuna_with_the_resolved_sampler():
    plan = plan_of(raw({"x": FLOAT}, ONE))
    assert uses_hpoctl_optuna(plan, plan.stages[0]) == "algorithm auto -> multivariate-tpe (one objective)"
    assert uses_hpoctl_optuna(plan, plan.stages[0], algorithm="katib") is None
    # Forced onto Katib's own services, auto's conditional-space choice drops the group setting Katib lacks.
    plan = plan_of(raw({"x": {**FLOAT, "when": {"c": ["a"]}}, "c": CHOICE}, ONE, {"settings": {"seed": 2}}))
    assert katib_algorithm(plan).algorithm_name == "multivariate-tpe"
    assert {s.name: s.value for s in katib_algorithm(plan).algorithm_settings} == {"random_state": "2"}


def test_plan_shows_what_auto_chose(tmp_path, cli):
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(raw({"n": SMALL_INT}, TWO)))
    result = cli("plan", str(path), "--target", "t", "-o", "json")
    assert result.code == 0
    assert '"algorithm_choice": "auto -> nsga2 {population_size: 20} (2 objectives, small grids only)"' in result.out


@pytest.mark.parametrize(
    ("algorithm", "message"),
    [
        ({"settings": {"n_startup_trials": 5}}, "auto chose nsga2 (2 objectives over small grids)"),
        ({"name": "auto", "settings": {"population_size": 8}}, "algorithm 'auto' takes no setting 'population_size'"),
        ({"name": "bayes"}, "algorithm.name"),
    ],
)
def test_bad_auto_settings_and_unknown_names_get_one_line(algorithm, message, tmp_path, cli):
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(raw({"n": SMALL_INT}, TWO, algorithm)))
    result = cli("validate", str(path))
    assert result.code == 1
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], result.err


@pytest.mark.parametrize(
    ("parameters", "objectives", "algorithm", "warning"),
    [
        ({"x": FLOAT}, TWO, "nsga2", "nsga2 over continuous parameters"),
        ({"n": SMALL_INT}, TWO, "tpe", "tpe over small grids only"),
        ({"x": FLOAT}, ONE, "qmc", "qmc needs a median of"),
        ({"x": FLOAT}, ONE, "random", None),
        ({"x": FLOAT}, TWO, "tpe", None),
        ({"x": FLOAT, "n": SMALL_INT}, ONE, "gp", None),
        ({"n": SMALL_INT, "c": CHOICE}, ONE, "gp", "gp over categories and small grids only"),
        ({"x": FLOAT, "m": {**FLOAT, "when": {"c": ["a"]}}, "c": CHOICE}, ONE, "gp", "gp samples the conditional"),
    ],
)
def test_validate_warns_about_an_explicit_choice_that_loses(parameters, objectives, algorithm, warning, tmp_path, cli):
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(raw(parameters, objectives, {"name": algorithm})))
    result = cli("validate", str(path))
    assert result.code == 0
    warnings = [line for line in result.err.splitlines() if "warning" in line]
    assert [warning in line for line in warnings] == ([True] if warning else []), result.err
