"""hpoctl-optuna's settings both ways, the Optuna view of a request (states, conditions, exact values), and the
wiring: which Experiments `hpoctl render` and `hpoctl launch` put on hpoctl-optuna, with what warm start."""

from __future__ import annotations

import base64
import gzip
import json
import logging

import pytest
import yaml
from kubeflow.katib import katib_api_pb2 as pb
from optuna.trial import TrialState

from hpoctl.catalog import load_study
from hpoctl.katib import names
from hpoctl.katib.backend import KatibOptions
from hpoctl.katib.errors import KatibUnsupported
from hpoctl.katib.suggestion_request import experiment_context, from_text, request_records, to_text
from hpoctl.katib.suggestion_settings import (
    Objective,
    SettingsError,
    WarmTrial,
    decode_warm_start,
    encode_warm_start,
    parse_settings,
    plan_settings,
)
from hpoctl.plan import build_plans
from tests.katib.conftest import NAMESPACE, render
from tests.katib.test_backend import finish
from tests.katib.test_render import render_spec, spec
from tests.katib.test_suggestion_service import katib_experiment, katib_trial, toy_experiment

MINIMISE = [Objective("loss", "minimize")]


def settings_of(manifest: dict) -> dict[str, str]:
    return {s["name"]: s["value"] for s in manifest["spec"]["algorithm"].get("algorithmSettings") or []}


def test_parse_settings_reads_katib_text_and_reports_every_problem():
    settings = parse_settings(
        [("sampler", "tpe"), ("n_startup_trials", "12"), ("constant_liar", "true"), ("objectives", "a:maximize")]
    )
    assert settings.options == {"n_startup_trials": 12, "constant_liar": True}
    assert settings.objectives == (Objective("a", "maximize"),)
    cmaes = parse_settings([("sampler", "cmaes"), ("restart_strategy", "ipop"), ("sigma0", "0.5")])
    assert cmaes.options == {"restart_strategy": "ipop", "sigma0": 0.5}
    with pytest.raises(SettingsError) as caught:
        parse_settings([("n_startup_trials", "1.5"), ("population_size", "4"), ("objectives", "a:up")])
    assert len(caught.value.problems) == 3
    assert "setting 'population_size'" in caught.value.problems[1] and "valid: sampler" in caught.value.problems[1]


@pytest.mark.parametrize("study", ["everest", "forecast", "csi", "mlp", "transfer"])
def test_plan_settings_are_what_the_service_reads(study):
    plan = build_plans(load_study(study), next(iter(load_study(study).spec.targets)))[0]
    settings = plan_settings(plan)
    assert all(isinstance(v, str) for v in settings.values())
    parsed = parse_settings(settings.items())
    assert parsed.sampler == plan.algorithm.name and parsed.seed == plan.algorithm.settings.get("seed", plan.seed)
    assert [o.direction for o in parsed.objectives] == [o.optimised_direction for o in plan.objectives]


def test_plan_settings_carry_targets_and_conditions():
    forecast = build_plans(load_study("forecast"), "NHITS_Q@heat")[0]
    assert plan_settings(forecast)["objectives"] == "mae:minimize,picp_error:minimize"
    assert plan_settings(forecast, scalarise=True)["objectives"] == "mae:minimize"
    csi = build_plans(load_study("csi"), "default")[0]
    assert json.loads(plan_settings(csi, seed=3)["conditions"]) == {
        "weight_decay": {"optimizer": ["adamw", "sgd"]},
        "momentum": {"optimizer": ["sgd"]},
    }
    assert plan_settings(csi, seed=3)["seed"] == "3"


def test_warm_start_round_trip_and_size_limit():
    trials = [WarmTrial({"x": str(i), "y": "[8,4,2]"}, (float((i * 37) % 101),)) for i in range(400)]
    warm = encode_warm_start(MINIMISE, ["x", "y", "z"], trials)
    assert warm.kept == warm.offered == 400
    assert warm.text == encode_warm_start(MINIMISE, ["x", "y", "z"], trials).text  # deterministic (golden-safe)
    decoded = decode_warm_start(warm.text, MINIMISE)
    assert sorted(decoded, key=lambda t: t.values) == sorted(trials, key=lambda t: t.values)
    assert all("z" not in t.assignments for t in decoded)
    small = encode_warm_start(MINIMISE, ["x", "y", "z"], trials, limit=600)
    assert 0 < small.kept < 400 and len(small.text) <= 600
    kept = decode_warm_start(small.text, MINIMISE)
    assert max(t.values[0] for t in kept) <= min(t.values[0] for t in decoded if t not in kept)  # the best kept


def test_warm_start_cut_keeps_the_pareto_fronts_first():
    objectives = [Objective("a", "minimize"), Objective("b", "maximize")]
    front = [WarmTrial({"x": str(i)}, (float(i), float(i))) for i in range(5)]  # all non-dominated
    dominated = [WarmTrial({"x": str(10 + i)}, (10.0 + i, -1.0 - i)) for i in range(200)]
    warm = encode_warm_start(objectives, ["x"], dominated + front, limit=200)
    kept = decode_warm_start(warm.text, objectives)
    assert warm.kept >= 5 and list(kept[:5]) == front


def test_bad_warm_starts_name_the_problem():
    good = encode_warm_start(MINIMISE, ["x"], [WarmTrial({"x": "1"}, (1.0,))]).text
    with pytest.raises(ValueError, match=r"objectives \['loss:minimize'\] differ from the setting objectives"):
        decode_warm_start(good, [Objective("loss", "maximize")])
    bomb = base64.b64encode(gzip.compress(b"[" + b" " * (40 * 1024 * 1024) + b"]")).decode()
    with pytest.raises(ValueError, match="decompresses to more than"):
        decode_warm_start(bomb, None)
    wrong = base64.b64encode(
        gzip.compress(
            json.dumps({"v": 1, "objectives": [], "parameters": ["x"], "trials": [[["1"], [float("nan")]]]}).encode()
        )
    ).decode()
    with pytest.raises(ValueError, match=r"not JSON inside|trials\[0\] must be"):
        decode_warm_start(wrong, None)


def context(parameters, settings=None, **options):
    return experiment_context(toy_experiment(parameters, settings or {"seed": "1"}, **options))


def test_request_states_become_optuna_states(caplog):
    ctx = context([("x", "double", {"min": "0", "max": "1"})], objective="f1", additional=["f2"])
    trials = [
        katib_trial("ok", {"x": "0.5"}, metrics={"f1": 0.2}, second=3),
        katib_trial("stopped", {"x": "0.25"}, "EarlyStopped", metrics={"f1": 0.9}, second=1),
        katib_trial("running", {"x": "0.75"}, "Running"),
        katib_trial("created", {"x": "0.7"}, "Created"),
        katib_trial("failed", {"x": "0.1"}, "Failed"),
        katib_trial("killed", {"x": "0.1"}, "Killed"),
        katib_trial("no-metric", {"x": "0.3"}, metrics={"f2": 1}),
        katib_trial("unavailable", {"x": "0.3"}, metrics={"f1": "unavailable"}),
        katib_trial("nan", {"x": "0.3"}, metrics={"f1": "nan"}),
        katib_trial("outside", {"x": "1.5"}, metrics={"f1": 0.1}),
        katib_trial("ok", {"x": "0.5"}, metrics={"f1": 0.2}),  # Katib never repeats a name; the first counts
    ]
    with caplog.at_level(logging.INFO, logger="hpoctl.katib.suggestion"):
        records = request_records(ctx, trials)
    states = {r.name: r.state for r in records}
    assert states == {
        "stopped": TrialState.PRUNED,
        "ok": TrialState.COMPLETE,
        "running": TrialState.RUNNING,
        "created": TrialState.RUNNING,
    }
    assert [r.name for r in records][:2] == ["stopped", "ok"]  # in the order they finished
    logged = caplog.text
    assert "trial no-metric left out: it succeeded without metric 'f1'" in logged
    assert "trial unavailable left out: metric f1='unavailable' is not a number" in logged
    assert "trial nan left out: metric f1='nan' is not finite" in logged
    assert "trial outside left out: parameter x: 1.5 is outside [0.0, 1.0]" in logged


def test_inactive_parameters_stay_out_of_the_optuna_trial():
    item = render("csi", "default", algorithm="hpoctl-optuna")[0]
    ctx = experiment_context(katib_experiment(item.manifest))
    base = {"architecture": "ResNet50", "learning_rate": "0.001", "weight_decay": "0.0001", "momentum": "0.9"}
    base |= {"batch_size": "32", "patience": "10", "unknown_weight": "0.5"}
    adam, sgd = (katib_trial(o, {**base, "optimizer": o}, metrics={"val_f1": 0.5}) for o in ("adam", "sgd"))
    records = {r.name: r.params for r in request_records(ctx, [adam, sgd])}
    assert "momentum" not in records["adam"] and "weight_decay" not in records["adam"]
    assert records["sgd"]["momentum"] == 0.9 and records["sgd"]["weight_decay"] == 0.0001


def test_values_are_exactly_on_katibs_grid():
    ctx = context(
        [
            ("d", "double", {"min": "0.1", "max": "0.52", "step": "0.05"}),
            ("n", "int", {"min": "2", "max": "11", "step": "3"}),
            ("lr", "double", {"min": "1e-05", "max": "0.01", "distribution": "logUniform"}),
        ]
    )
    d, n = ctx.space["d"], ctx.space["n"]
    assert (d.high, n.high) == (0.5, 11)  # Katib's last grid points
    assert [to_text(d, v) for v in (0.15000000000000002, 0.1, 0.5, 0.29999)] == ["0.15", "0.1", "0.5", "0.3"]
    assert from_text(d, "0.15") == 0.15 and from_text(n, "8") == 8
    for bad, param in (("0.17", d), ("7", n), ("abc", n), ("inf", d)):
        with pytest.raises(ValueError):
            from_text(param, bad)
    assert ctx.space["lr"].log and to_text(ctx.space["lr"], 1e-05) == "1e-05"


def test_render_puts_continued_stages_and_several_objectives_on_hpoctl_optuna():
    everest = {r.stage.name: r for r in render("everest", "M_24h")}
    assert everest["exploration"].manifest["spec"]["algorithm"]["algorithmName"] == "multivariate-tpe"
    refinement = everest["refinement"]
    assert refinement.manifest["spec"]["algorithm"]["algorithmName"] == "hpoctl-optuna"
    assert refinement.wants_warm_start and "warm_start" not in settings_of(refinement.manifest)
    assert any("its warm start (the trials of 'exploration'" in n for n in refinement.notes)
    assert everest["confirmation"].manifest["spec"]["algorithm"]["algorithmName"] == "grid"

    forecast = render("forecast", "TFT_Q@heat")[0]
    assert settings_of(forecast.manifest)["objectives"] == "mae:minimize,picp_error:minimize"
    objective = forecast.manifest["spec"]["objective"]
    assert objective["objectiveMetricName"] == "mae" and "picp_error" in objective["additionalMetricNames"]

    forced = render("mlp", "default", algorithm="hpoctl-optuna")[0]
    assert settings_of(forced.manifest) == {"sampler": "random", "seed": "0", "objectives": "validation_error:minimize"}
    katib_only = {r.stage.name: r for r in render("everest", "M_24h", algorithm="katib")}
    assert katib_only["refinement"].manifest["spec"]["algorithm"]["algorithmName"] == "multivariate-tpe"


def test_render_with_a_warm_start_and_what_cannot_run_there():
    warm = encode_warm_start([Objective("tss", "maximize")], ["dropout"], [WarmTrial({"dropout": "0.2"}, (0.7,))])
    refinement = render("everest", "M_24h", stage="refinement", warm_start={"refinement": warm})[0]
    assert settings_of(refinement.manifest)["warm_start"] == warm.text and not refinement.wants_warm_start
    grid = spec(
        parameters={"layers": {"type": "int", "low": 1, "high": 4, "default": 2}},
        algorithm={"name": "grid"},
        protocol=[{"name": "a", "trials": 4, "epochs": 1}, {"name": "b", "trials": 4, "epochs": 2}],
    )
    assert [r.manifest["spec"]["algorithm"]["algorithmName"] for r in render_spec(grid)] == ["grid", "grid"]
    with pytest.raises(KatibUnsupported, match=r"algorithm 'grid' does not run on hpoctl-optuna"):
        render_spec(grid, algorithm="hpoctl-optuna")


def test_cli_render_algorithm_option(cli):
    result = cli("render", "mlp", "--target", "default", "--algorithm", "hpoctl-optuna")
    assert result.code == 0, result.err
    (doc,) = [d for d in yaml.safe_load_all(result.out) if d]
    assert doc["spec"]["algorithm"]["algorithmName"] == "hpoctl-optuna" and "hpoctl katib register" in result.err
    result = cli("render", "mlp", "--target", "default", "--algorithm", "optuna")
    assert result.code == 2 and "--algorithm" in result.err


def test_launch_warm_starts_a_continued_stage_from_the_pulled_trials(backend, fake_api, echo):
    target = build_plans(load_study("everest"), "M_24h", presets=["quick"])
    backend.launch(target, KatibOptions())
    finish(fake_api, "everest-m-24h-exploration")  # trial i reported tss 0.1*i
    lines = backend.launch(target, KatibOptions()).lines()
    assert "created refinement" in lines[0]
    refinement = fake_api.experiments()["everest-m-24h-refinement"]
    settings = settings_of(refinement)
    assert refinement["spec"]["algorithm"]["algorithmName"] == "hpoctl-optuna"
    warm = decode_warm_start(settings["warm_start"], [Objective("tss", "maximize")])
    exploration = fake_api.experiments()["everest-m-24h-exploration"]
    assert len(warm) == exploration["spec"]["maxTrialCount"]
    assert warm[0].values == (max(t.values[0] for t in warm),)  # best first
    assert set(warm[0].assignments) == set(target[0].parameters)
    assert any(f"refinement is warm-started with {len(warm)} trials" in line for line in echo)
    # The service reads the warm start the launch wrote.
    ctx = experiment_context(katib_experiment(refinement))
    assert len(ctx.warm_trials) == len(warm) and ctx.objectives == (Objective("tss", "maximize"),)


def test_launch_algorithm_option_reaches_the_experiment(backend, fake_api):
    target = build_plans(load_study("mlp"), "default", presets=["quick"])
    backend.launch(target, KatibOptions(algorithm="hpoctl-optuna"))
    (experiment,) = fake_api.experiments(NAMESPACE).values()
    assert experiment["spec"]["algorithm"]["algorithmName"] == "hpoctl-optuna"
    assert experiment["metadata"]["labels"][names.LABEL_STUDY] == "mlp"


def test_protobuf_parameter_types_cover_katibs():
    assert {pb.INT, pb.DOUBLE, pb.CATEGORICAL, pb.DISCRETE} <= set(pb.ParameterType.values())
    discrete = context([("k", "discrete", {"list": ["1", "2", "4"]})])
    assert list(discrete.space["k"].choices) == ["1", "2", "4"]
