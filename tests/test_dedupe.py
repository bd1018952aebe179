"""No wasted trials: a suggestion repeating a configuration already evaluated or running is replaced by a fresh one,
in the sampler every backend builds (hpoctl.search), the local runner and hpoctl-optuna's propose."""

from __future__ import annotations

import csv

import optuna
import pytest
import yaml
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState, create_trial

from hpoctl import trial_record as rec
from hpoctl.catalog import LoadedStudy
from hpoctl.katib.suggestion_request import experiment_context, optuna_view, propose, request_records
from hpoctl.plan import Plan, build_plans
from hpoctl.search.samplers import build_sampler
from hpoctl.search.space import config_key, suggest
from hpoctl.spec.loader import validate_spec
from tests.katib.test_suggestion_service import katib_trial, suggestions_request, toy_experiment
from tests.local.conftest import toy_spec

#: Six configurations: x in {0, 0.5, 1} (a stepped float) by kind in {a, b}; more trials than that repeat one.
TINY = {
    "x": {"type": "float", "low": 0.0, "high": 1.0, "step": 0.5, "default": 0.5},
    "kind": {"type": "categorical", "choices": ["a", "b"], "default": "a"},
}
#: A conditional space: momentum only for sgd. A grid over it repeats configurations (adam with either momentum).
CONDITIONAL = {
    "optimizer": {"type": "categorical", "choices": ["adam", "sgd"], "default": "adam"},
    "momentum": {"type": "float", "low": 0.5, "high": 0.9, "step": 0.4, "default": 0.9, "when": {"optimizer": ["sgd"]}},
    "depth": {"type": "int", "low": 1, "high": 2, "default": 1},
}


def plan_for(parameters: dict, algorithm: dict, objectives: int = 1) -> Plan:
    raw = {
        "name": "tiny",
        "targets": {"t": {}},
        "parameters": parameters,
        "objectives": [{"metric": f"m{i}", "direction": "minimize"} for i in range(objectives)],
        "algorithm": algorithm,
        "protocol": [{"name": "s", "trials": 6, "epochs": 1}],
        "trainer": {"command": ["true"]},
    }
    return build_plans(LoadedStudy(raw, validate_spec(raw, "tiny"), "tiny"), "t")[0]


def run(plan: Plan, trials: int, *, dedupe: bool = True, objectives: int = 1) -> optuna.Study:
    study = optuna.create_study(
        directions=["minimize"] * objectives,
        sampler=build_sampler(plan.algorithm, plan.parameters, seed=5, dedupe=dedupe),
    )
    for _ in range(trials):
        trial = study.ask()
        params = suggest(trial, plan.parameters)
        value = float(sum(ord(c) for c in repr(sorted(params.items()))) % 7)
        study.tell(trial, [value, -value][:objectives] if objectives > 1 else value)
    return study


def keys(study: optuna.Study, plan: Plan) -> list[tuple]:
    return [config_key(plan.parameters, t.params) for t in study.trials]


@pytest.mark.parametrize(
    ("algorithm", "objectives"),
    [
        ({"name": "random", "settings": {"seed": 1}}, 1),
        ({"name": "tpe", "settings": {"n_startup_trials": 2}}, 1),
        ({"name": "multivariate-tpe"}, 1),
        ({"name": "cmaes"}, 1),
        ({"name": "qmc"}, 1),
        ({"name": "gp", "settings": {"n_startup_trials": 2}}, 1),
        ({"name": "nsga2", "settings": {"population_size": 2}}, 2),
        ({"name": "tpe"}, 2),
    ],
)
def test_every_sampler_suggests_each_configuration_once(algorithm, objectives):
    plan = plan_for(TINY, algorithm, objectives)
    bare = run(plan, 6, dedupe=False, objectives=objectives)
    study = run(plan, 6, objectives=objectives)
    assert len(set(keys(study, plan))) == 6, keys(study, plan)
    replaced = [t.number for t in study.trials if t.user_attrs.get(rec.DUPLICATE_REPLACED)]
    if len(set(keys(bare, plan))) < 6:  # the bare sampler repeated itself: the wrapped one replaced those
        assert replaced
    assert all(not t.user_attrs.get(rec.DUPLICATE_REPLACED) for t in study.trials if t.number not in replaced)


def test_a_grid_over_a_conditional_space_runs_each_distinct_configuration_once():
    plan = plan_for(CONDITIONAL, {"name": "grid", "settings": {"seed": 0}})
    # 2 x 2 x 2 grid points, 6 distinct configurations: adam with momentum 0.5 or 0.9 is one configuration.
    bare = run(plan, 6, dedupe=False)
    assert len(set(keys(bare, plan))) < 6
    study = run(plan, 6)
    assert len(set(keys(study, plan))) == 6
    assert any(t.user_attrs.get(rec.DUPLICATE_REPLACED) for t in study.trials)
    run(plan, 8)  # the grid done: GridSampler's study.stop() is for study.optimize, not ask-and-tell


def test_running_and_failed_trials_take_their_configuration_but_interrupted_ones_do_not():
    plan = plan_for(TINY, {"name": "random"})
    distributions = {
        "x": optuna.distributions.FloatDistribution(0.0, 1.0, step=0.5),
        "kind": CategoricalDistribution(["a", "b"]),
    }
    configs = [{"x": x, "kind": k} for x in (0.0, 0.5, 1.0) for k in ("a", "b")]
    states = [TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.COMPLETE, TrialState.FAIL]
    for seed in range(8):
        study = optuna.create_study(sampler=build_sampler(plan.algorithm, plan.parameters, seed=seed))
        study.add_trials(
            create_trial(
                state=s,
                params=c,
                distributions=distributions,
                value=0.0 if s == TrialState.COMPLETE else None,
                # configs[4]: failed as interrupted (Ctrl-C, a killed launcher), so it is re-run
                user_attrs={rec.INTERRUPTED: True} if i == 4 else {},
            )
            for i, (s, c) in enumerate(zip(states, configs, strict=False))
        )
        running = suggest(study.ask(), plan.parameters)
        following = suggest(study.ask(), plan.parameters)
        assert sorted([running, following], key=repr) == sorted(configs[4:], key=repr)


def test_enqueued_configurations_run_as_given():
    """A top-k stage re-runs configurations on purpose, and a replayed Katib trial must keep its own."""
    plan = plan_for(TINY, {"name": "tpe", "settings": {"seed": 0}})
    study = run(plan, 3)
    again = study.trials[0].params
    study.enqueue_trial(again)
    trial = study.ask()
    assert suggest(trial, plan.parameters) == again
    assert not study._storage.get_trial_user_attrs(trial._trial_id).get(rec.DUPLICATE_REPLACED)


def test_a_space_with_every_configuration_taken_repeats_rather_than_fails():
    plan = plan_for({"kind": TINY["kind"]}, {"name": "random", "settings": {"seed": 0}})
    study = run(plan, 3)
    assert {t.params["kind"] for t in study.trials[:2]} == {"a", "b"}
    assert study.trials[2].state == TrialState.COMPLETE


def test_the_local_runner_never_runs_a_configuration_twice(tmp_path, cli):
    spec = tmp_path / "toy.yaml"
    spec.write_text(
        yaml.safe_dump(
            toy_spec(
                parameters=TINY,
                algorithm={"name": "random", "settings": {"seed": 4}},
                protocol=[{"name": "explore", "trials": 6, "epochs": 1}],
                limits={"parallelism": 2, "max_failed_trials": 2},
            )
        )
    )
    results = tmp_path / "results"
    result = cli("launch", str(spec), "-t", "small", "--results", str(results), "--n-jobs", "2")
    assert result.code == 0, result.err
    study = optuna.load_study(study_name="toy.small", storage=f"sqlite:///{results / 'toy' / 'small' / 'study.db'}")
    plan = plan_for(TINY, {"name": "random"})
    assert len(study.trials) == 6
    assert len({config_key(plan.parameters, t.params) for t in study.trials}) == 6
    replaced = sum(bool(t.user_attrs.get(rec.DUPLICATE_REPLACED)) for t in study.trials)
    assert replaced  # six random draws from six configurations repeat one (seed 4 does, twice)
    assert f"{replaced} repeated suggestions replaced" in result.out + result.err
    with (results / "toy" / "small" / "trials.csv").open() as f:
        column = [row["duplicate_replaced"] for row in csv.DictReader(f)]
    assert column.count("True") == replaced and column.count("False") == 6 - replaced


def test_hpoctl_optuna_propose_replaces_a_repeated_configuration():
    space = [
        ("a", "categorical", {"list": ["x", "y"]}),
        ("b", "categorical", {"list": ["u", "v"]}),
    ]
    done = [{"a": "x", "b": "u"}, {"a": "x", "b": "v"}, {"a": "y", "b": "u"}]
    trials = [katib_trial(f"t{i}", a, metrics={"f1": i, "f2": 0}, second=i) for i, a in enumerate(done)]
    replaced = 0
    for seed in range(8):
        experiment = toy_experiment(space, {"sampler": "tpe", "seed": str(seed)})
        context = experiment_context(experiment)
        request = suggestions_request(experiment, trials, 1)
        study = optuna_view(context, request_records(context, request.trials), seed)
        assert propose(study, context, 1) == [{"a": "y", "b": "v"}]
        replaced += bool(study.trials[-1].user_attrs.get(rec.DUPLICATE_REPLACED))
    assert replaced  # the sampler proposed a taken configuration for some seeds, and got the free one
