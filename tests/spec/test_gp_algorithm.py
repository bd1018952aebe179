"""`algorithm: gp`, Optuna's GPSampler: one objective, torch required (the `train` extra), checked before a study
starts; on Katib it is skopt's `bayesianoptimization` with a GP, since hpoctl-optuna's image has no torch."""

from __future__ import annotations

import optuna
import pytest
import yaml

from hpoctl.errors import BackendError
from hpoctl.katib.errors import KatibUnsupported
from hpoctl.katib.validate import validate_experiment
from hpoctl.search import samplers
from hpoctl.search.samplers import build_sampler
from tests.katib.test_render import render_spec, settings_of, spec
from tests.local.conftest import toy_spec
from tests.test_dedupe import TINY, plan_for


def test_gp_models_after_its_start_up_trials_and_stays_in_bounds():
    plan = plan_for({"x": {"type": "float", "low": -2.0, "high": 2.0, "default": 0.0}}, {"name": "gp"})
    sampler = build_sampler(plan.algorithm, plan.parameters, seed=1)
    assert isinstance(sampler.base, optuna.samplers.GPSampler)
    study = optuna.create_study(sampler=sampler)
    study.optimize(lambda t: (t.suggest_float("x", -2.0, 2.0) - 1.0) ** 2, n_trials=14)
    assert all(-2.0 <= t.params["x"] <= 2.0 for t in study.trials)
    # past the 10 random start-up trials the GP's proposals come near the minimum at 1
    assert min(abs(t.params["x"] - 1.0) for t in study.trials[10:]) < 0.3


def test_without_torch_gp_is_refused_before_any_trial(monkeypatch):
    found = samplers.importlib.util.find_spec
    monkeypatch.setattr(samplers.importlib.util, "find_spec", lambda name: None if name == "torch" else found(name))
    plan = plan_for(TINY, {"name": "gp"})
    with pytest.raises(BackendError, match=r"algorithm gp needs torch.*hpoctl\[train\]"):
        build_sampler(plan.algorithm, plan.parameters)


def test_a_local_launch_with_gp_runs_its_trials(tmp_path, cli):
    path = tmp_path / "toy.yaml"
    raw = toy_spec(
        algorithm={"name": "gp", "settings": {"n_startup_trials": 2, "seed": 4}},
        protocol=[{"name": "explore", "trials": 4, "epochs": 1}],
    )
    path.write_text(yaml.safe_dump(raw))
    result = cli("launch", str(path), "-t", "small", "--results", str(tmp_path / "r"))
    assert result.code == 0, result.err
    storage = f"sqlite:///{tmp_path / 'r' / 'toy' / 'small' / 'study.db'}"
    study = optuna.load_study(study_name="toy.small", storage=storage)
    assert len(study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))) == 4


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"deterministic_objective": "yes"}, "settings.deterministic_objective must be true or false"),
        ({"population_size": 4}, "takes no setting 'population_size'"),
    ],
)
def test_gp_settings_are_checked(tmp_path, cli, settings, message):
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(toy_spec(algorithm={"name": "gp", "settings": settings})))
    result = cli("validate", str(path))
    assert result.code == 1 and message in result.err, result.err


def test_gp_takes_one_objective(tmp_path, cli):
    path = tmp_path / "toy.yaml"
    two = [{"metric": "loss", "direction": "minimize"}, {"metric": "time", "direction": "minimize"}]
    path.write_text(yaml.safe_dump(toy_spec(algorithm={"name": "gp"}, objectives=two)))
    result = cli("validate", str(path))
    assert result.code == 1 and "algorithm.name" in result.err and "gp" in result.err, result.err


def test_on_katib_gp_is_skopt_bayesian_optimization_with_a_gp():
    item = render_spec(spec(algorithm={"name": "gp", "settings": {"n_startup_trials": 6, "seed": 2}}))[0]
    algorithm = item.manifest["spec"]["algorithm"]
    assert algorithm["algorithmName"] == "bayesianoptimization"
    assert settings_of(algorithm) == {"base_estimator": "GP", "n_initial_points": "6", "random_state": "2"}
    assert validate_experiment(item.manifest) == []
    # the settings skopt's own ValidateAlgorithmSettings refuses are refused before anything is sent
    algorithm["algorithmSettings"] = [{"name": "base_estimator", "value": "SVM"}, {"name": "acq_func", "value": "UCB"}]
    problems = validate_experiment(item.manifest)
    assert len(problems) == 2 and "must be GP, RF, ET or GBRT" in problems[0], problems


def test_on_katib_what_skopt_cannot_honour_is_refused():
    with pytest.raises(KatibUnsupported, match="deterministic_objective has no Katib equivalent"):
        render_spec(spec(algorithm={"name": "gp", "settings": {"deterministic_objective": True}}))
    with pytest.raises(KatibUnsupported, match="'gp' does not run on hpoctl-optuna"):
        render_spec(spec(algorithm={"name": "gp", "settings": {}}), algorithm="hpoctl-optuna")
    continued = [{"name": "a", "trials": 4, "epochs": 1}, {"name": "b", "trials": 4, "epochs": 2}]
    with pytest.raises(KatibUnsupported, match="stage 'b' continues 'a', and only hpoctl-optuna can warm-start"):
        render_spec(spec(algorithm={"name": "gp"}, protocol=continued))


def test_a_local_launch_without_torch_stops_with_one_line_before_any_trial(tmp_path, cli, monkeypatch):
    found = samplers.importlib.util.find_spec
    monkeypatch.setattr(samplers.importlib.util, "find_spec", lambda name: None if name == "torch" else found(name))
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(toy_spec(algorithm={"name": "gp"})))
    result = cli("launch", str(path), "-t", "small", "--results", str(tmp_path / "r"))
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert result.code == 1 and len(lines) == 1 and "algorithm gp needs torch" in lines[0], result.err
    db = tmp_path / "r" / "toy" / "small" / "study.db"
    assert not db.exists() or not optuna.load_study(study_name="toy.small", storage=f"sqlite:///{db}").trials
