"""Pulling Katib trials into the results layout: the same files as writing the same trials directly."""

from __future__ import annotations

import datetime as dt
import json

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from hpoctl import trial_record as rec
from hpoctl.catalog import load_study
from hpoctl.errors import BackendError, ResultsError
from hpoctl.katib.backend import KatibOptions
from hpoctl.katib.client import KatibApi
from hpoctl.katib.pull import pull_results
from hpoctl.katib.render import RenderOptions, TopKConfigs, render_experiment
from hpoctl.plan import build_plans
from hpoctl.results.layout import sqlite_url
from tests.katib.conftest import NAMESPACE

# Katib's times are UTC; Optuna keeps naive local times.
START = dt.datetime(2025, 1, 1, 2, 0, tzinfo=dt.timezone.utc).astimezone().replace(tzinfo=None)
END = dt.datetime(2025, 1, 1, 2, 10, 30, tzinfo=dt.timezone.utc).astimezone().replace(tzinfo=None)
NHITS = {
    "num_stacks": "3",
    "num_blocks": "2",
    "layer_widths": "512",
    "pooling_kernel_sizes": "[8,4,2]",
    "learning_rate": "0.001",
    "dropout": "0.1",
    "batch_size": "64",
}


def forecast_plan():
    study = load_study("forecast")
    return build_plans(study, "NHITS_Q@heat", overrides={"algorithm": {"name": "tpe"}})[0]


def create(fake_api, plan, stage="search", **options):
    item = render_experiment(plan, plan.stage(stage), RenderOptions(namespace=NAMESPACE, **options))
    fake_api.create_namespaced_custom_object("kubeflow.org", "v1beta1", NAMESPACE, "experiments", item.manifest)
    return item.name


def assigned(**changes):
    return {**NHITS, **changes}


TRIALS = [
    ("t1", "Succeeded", assigned(), {"mae": 0.30, "picp_error": 0.05, "picp": 0.75}, ""),
    (
        "t2",
        "Succeeded",
        assigned(num_stacks="4", pooling_kernel_sizes="[2,4,8]"),
        {"mae": 0.25, "picp_error": 0.10, "picp": 0.90},
        "",
    ),
    ("t3", "Succeeded", assigned(learning_rate="0.0002", batch_size="128"), {"mae": 0.40, "picp": 0.81}, ""),
    ("t4", "EarlyStopped", assigned(dropout="0.2"), {"mae": 0.50}, ""),
    ("t5", "Failed", assigned(layer_widths="1024"), {}, "Job has reached the specified backoff limit"),
    ("t6", "Killed", assigned(num_blocks="1"), {}, ""),
    ("t7", "MetricsUnavailable", assigned(num_blocks="3"), {"mae": "unavailable"}, ""),
    ("t8", "Running", assigned(num_stacks="5"), {"mae": 0.2}, ""),
    ("t9", "Succeeded", assigned(num_stacks="2"), {"mae": "unavailable", "picp": 0.8}, ""),
]


def add_forecast_trials(fake_api, name):
    fake_api.add_trials(
        NAMESPACE,
        name,
        [
            {
                "name": f"{name}-{trial}",
                "condition": condition,
                "assignments": assignments,
                "metrics": metrics,
                "message": message,
                "created": f"2025-01-01T01:0{i}:00Z",
            }
            for i, (trial, condition, assignments, metrics, message) in enumerate(TRIALS)
        ],
    )


def direct_study(plan, name) -> optuna.Study:
    """The same trials, recorded by hand as hpoctl/trial_record.py says (no hpoctl.katib code)."""
    distributions = {
        "num_stacks": IntDistribution(2, 5),
        "num_blocks": IntDistribution(1, 3),
        "layer_widths": CategoricalDistribution([256, 512, 1024]),
        "pooling_kernel_sizes": CategoricalDistribution(["[2,2,2]", "[4,4,4]", "[8,8,8]", "[8,4,2]", "[2,4,8]"]),
        "learning_rate": FloatDistribution(1e-5, 1e-2, log=True),
        "dropout": FloatDistribution(0.0, 0.3),
        "batch_size": CategoricalDistribution([32, 64, 128]),
    }

    def params(**changes):
        base = {
            "num_stacks": 3,
            "num_blocks": 2,
            "layer_widths": 512,
            "pooling_kernel_sizes": "[8,4,2]",
            "learning_rate": 0.001,
            "dropout": 0.1,
            "batch_size": 64,
        }
        return {**base, **changes}

    def attrs(trial, metrics, failure=None):
        found = {
            rec.STAGE: "search",
            rec.METRICS: metrics,
            rec.BACKEND: "katib",
            rec.KATIB_TRIAL: f"{name}-{trial}",
            rec.EPOCHS: 30,
            rec.SEED: 42,
            rec.DURATION: 630.0,
        }
        if failure:
            found[rec.FAILURE] = failure
        return found

    rows = [
        (TrialState.COMPLETE, [0.30, 0.05], params(), attrs("t1", {"mae": 0.30, "picp_error": 0.05, "picp": 0.75})),
        (
            TrialState.COMPLETE,
            [0.25, 0.10],
            params(num_stacks=4, pooling_kernel_sizes="[2,4,8]"),
            attrs("t2", {"mae": 0.25, "picp_error": 0.10, "picp": 0.90}),
        ),
        (
            TrialState.COMPLETE,
            [0.40, abs(0.81 - 0.80)],
            params(learning_rate=0.0002, batch_size=128),
            attrs("t3", {"mae": 0.40, "picp": 0.81}),
        ),
        (TrialState.PRUNED, None, params(dropout=0.2), attrs("t4", {"mae": 0.50})),
        (
            TrialState.FAIL,
            None,
            params(layer_widths=1024),
            attrs("t5", {}, "the trial's Job failed: Job has reached the specified backoff limit"),
        ),
        (
            TrialState.FAIL,
            None,
            params(num_blocks=1),
            attrs("t6", {}, "killed by Katib (its Experiment ended, was cancelled or deleted)"),
        ),
        (
            TrialState.FAIL,
            None,
            params(num_blocks=3),
            attrs("t7", {}, "the trial ended but Katib collected none of its objective metric"),
        ),
        (
            TrialState.FAIL,
            None,
            params(num_stacks=2),
            attrs("t9", {"picp": 0.8}, "trainer reported no value for the objective metric (Katib observed none)"),
        ),
    ]
    study = optuna.create_study(
        study_name=rec.optuna_study_name(plan.study, plan.target), directions=["minimize", "minimize"]
    )
    for state, values, chosen, user_attrs in rows:
        trial = optuna.trial.create_trial(
            state=state, values=values, params=chosen, distributions=distributions, user_attrs=user_attrs
        )
        trial.datetime_start, trial.datetime_complete = START, END
        study.add_trial(trial)
    return study


def test_pull_gives_the_same_files_as_writing_the_trials_directly(fake_api, tmp_path, no_plots):
    from hpoctl.results import write_results

    plan = forecast_plan()
    name = create(fake_api, plan, scalarise=True)
    add_forecast_trials(fake_api, name)
    summary = pull_results(plan, tmp_path / "pulled", api=KatibApi(fake_api), namespace=NAMESPACE)
    assert summary.counts == {"complete": 3, "pruned": 1, "fail": 4} and summary.skipped == 1
    assert "pulled 8 trials (complete 3, pruned 1, fail 4, 1 still running (not pulled))" in summary.line()
    direct = tmp_path / "direct" / "forecast" / "NHITS_Q@heat"
    direct.mkdir(parents=True)
    write_results(direct_study(plan, name), plan, direct, {"backend": "katib"})
    pulled = tmp_path / "pulled" / "forecast" / "NHITS_Q@heat"
    for filename in ("best_params.json", "trials.csv", "pareto.json"):
        assert (pulled / filename).read_text() == (direct / filename).read_text(), filename
    provenance = json.loads((pulled / "provenance.json").read_text())
    assert provenance["backend"] == "katib" and provenance["katib"]["experiments"] == [name]
    stored = optuna.load_study(study_name="forecast.NHITS_Q@heat", storage=sqlite_url(pulled))
    assert stored.user_attrs[rec.STUDY_ATTR_PROVENANCE]["spec_sha256"] == provenance["spec_sha256"]
    assert [t.user_attrs[rec.KATIB_TRIAL][-2:] for t in stored.trials] == [
        "t1",
        "t2",
        "t3",
        "t4",
        "t5",
        "t6",
        "t7",
        "t9",
    ]


def test_pull_again_replaces_the_pulled_study_and_keeps_others(fake_api, tmp_path, no_plots):
    plan = forecast_plan()
    name = create(fake_api, plan, scalarise=True)
    add_forecast_trials(fake_api, name)
    api = KatibApi(fake_api)
    pull_results(plan, tmp_path, api=api, namespace=NAMESPACE)
    summary = pull_results(plan, tmp_path, api=api, namespace=NAMESPACE, include_running=True)
    assert summary.counts["running"] == 1 and sum(summary.counts.values()) == 9
    out_dir = tmp_path / "forecast" / "NHITS_Q@heat"
    stored = optuna.load_study(study_name="forecast.NHITS_Q@heat", storage=sqlite_url(out_dir))
    stored.add_trial(optuna.trial.create_trial(state=TrialState.FAIL, user_attrs={rec.BACKEND: "local"}))
    with pytest.raises(ResultsError, match="holds 1 trials not pulled from Katib; pull into another --results"):
        pull_results(plan, tmp_path, api=api, namespace=NAMESPACE)


def test_pull_of_nothing_says_where_it_looked(fake_api, tmp_path):
    with pytest.raises(BackendError, match=r"no Experiments of forecast/NHITS_Q@heat in namespace hpo \(kubectl get"):
        pull_results(forecast_plan(), tmp_path, api=KatibApi(fake_api), namespace=NAMESPACE)


def test_top_k_trials_record_their_source_and_inactive_parameters_are_left_out(fake_api, tmp_path, no_plots):
    raw_plans = build_plans(load_study("csi"), "default", presets=["quick"])
    plan = raw_plans[0]
    search = create(fake_api, plan)
    base = {
        "architecture": "ResNet50",
        "optimizer": "adam",
        "learning_rate": "0.001",
        "weight_decay": "0.0001",
        "momentum": "0.9",
        "batch_size": "32",
        "patience": "10",
        "unknown_weight": "0.5",
    }
    fake_api.add_trials(
        NAMESPACE,
        search,
        [
            {"name": "s-0", "condition": "Succeeded", "assignments": base, "metrics": {"val_f1": 0.5}},
            {
                "name": "s-1",
                "condition": "Succeeded",
                "assignments": {**base, "optimizer": "sgd"},
                "metrics": {"val_f1": {"min": "0.1", "max": "0.7", "latest": "0.6"}},
            },
        ],
    )
    summary = pull_results(plan, tmp_path, api=KatibApi(fake_api), namespace=NAMESPACE)
    assert summary.counts == {"complete": 2}
    stored = optuna.load_study(study_name="csi.default", storage=sqlite_url(tmp_path / "csi" / "default"))
    first, second = stored.trials
    assert "momentum" not in first.params and "weight_decay" not in first.params  # adam: both inactive
    assert second.params["momentum"] == 0.9 and second.params["weight_decay"] == 0.0001
    assert second.values == [0.7]  # val_f1's strategy is max
    assert second.user_attrs[rec.METRICS]["val_f1"] == 0.7


def test_pull_of_a_top_k_stage(fake_api, tmp_path, no_plots):
    plan = build_plans(load_study("everest"), "M_24h", presets=["quick"])[0]
    configs = [
        {
            "embed_dim": 128,
            "num_blocks": 6,
            "dropout": 0.2,
            "focal_gamma": 1.0,
            "learning_rate": 0.0003,
            "batch_size": 512,
        }
    ]
    exploration = create(fake_api, plan, stage="exploration")
    fake_api.add_trials(
        NAMESPACE,
        exploration,
        [
            {
                "name": "e-0",
                "condition": "Succeeded",
                "metrics": {"tss": 0.6},
                "assignments": {
                    "embed_dim": "128",
                    "num_blocks": "6",
                    "dropout": "0.2",
                    "focal_gamma": "1.0",
                    "learning_rate": "0.0003",
                    "batch_size": "512",
                },
            }
        ],
    )
    refinement = create(fake_api, plan, stage="refinement")
    fake_api.add_trials(
        NAMESPACE,
        refinement,
        [
            {
                "name": "r-0",
                "condition": "Succeeded",
                "metrics": {"tss": 0.65},
                "assignments": {
                    "embed_dim": "128",
                    "num_blocks": "6",
                    "dropout": "0.2",
                    "focal_gamma": "1.0",
                    "learning_rate": "0.0003",
                    "batch_size": "512",
                },
            }
        ],
    )
    confirmation = create(fake_api, plan, stage="confirmation", top_k={"confirmation": TopKConfigs(configs, ["r-0"])})
    value = fake_api.objects[("experiments", NAMESPACE, confirmation)]["spec"]["parameters"][0]["feasibleSpace"][
        "list"
    ][0]
    fake_api.add_trials(
        NAMESPACE,
        confirmation,
        [{"name": "c-0", "condition": "Succeeded", "assignments": {"config": value}, "metrics": {"tss": 0.7}}],
    )
    pull_results(plan, tmp_path, api=KatibApi(fake_api), namespace=NAMESPACE)
    stored = optuna.load_study(study_name="everest.M_24h", storage=sqlite_url(tmp_path / "everest" / "M_24h"))
    assert [t.user_attrs[rec.STAGE] for t in stored.trials] == ["exploration", "refinement", "confirmation"]
    top = stored.trials[2]
    assert top.params == stored.trials[1].params and top.user_attrs[rec.SOURCE_TRIAL] == 1
    assert top.user_attrs[rec.EPOCHS] == 8
    best = json.loads((tmp_path / "everest" / "M_24h" / "best_params.json").read_text())
    assert best["stage"] == "confirmation" and best["best_params"]["embed_dim"] == 128


def test_backend_pull_lines(backend, fake_api, tmp_path, no_plots):
    plan = forecast_plan()
    name = create(fake_api, plan, scalarise=True)
    add_forecast_trials(fake_api, name)
    lines = backend.results([plan], KatibOptions(results_dir=tmp_path, scalarise=True))
    assert lines[0].startswith("forecast/NHITS_Q@heat: pulled 8 trials")


def test_pull_writes_the_whole_results_folder(fake_api, tmp_path):
    plan = build_plans(load_study("mlp"), "default", presets=["quick"])[0]
    name = create(fake_api, plan)
    fake_api.add_trials(
        NAMESPACE,
        name,
        [
            {
                "name": f"m-{i}",
                "condition": "Succeeded",
                "metrics": {"validation_error": 0.5 - 0.01 * i},
                "assignments": {"lr": str(0.001 * (i + 1)), "hidden_sizes": "[64,64]", "dropout": "0.1"},
            }
            for i in range(4)
        ],
    )
    summary = pull_results(plan, tmp_path, api=KatibApi(fake_api), namespace=NAMESPACE)
    files = {p.name for p in summary.out_dir.iterdir()}
    assert {
        "study.db",
        "best_params.json",
        "trials.csv",
        "top_trials.csv",
        "report.md",
        "spec.yaml",
        "provenance.json",
    } <= files
    best = json.loads((summary.out_dir / "best_params.json").read_text())
    assert best["best_params"] == {"lr": 0.004, "hidden_sizes": "[64,64]", "dropout": 0.1}


def test_trials_of_a_deleted_experiment_survive_the_next_pull(fake_api, tmp_path, no_plots):
    plan = build_plans(load_study("everest"), "M_24h", presets=["quick"])[0]
    config = {
        "embed_dim": "128",
        "num_blocks": "6",
        "dropout": "0.2",
        "focal_gamma": "1.0",
        "learning_rate": "0.0003",
        "batch_size": "512",
    }
    exploration = create(fake_api, plan, stage="exploration")
    fake_api.add_trials(
        NAMESPACE,
        exploration,
        [
            {"name": "e-0", "condition": "Succeeded", "metrics": {"tss": 0.6}, "assignments": config},
            {"name": "e-1", "condition": "Failed", "metrics": {}, "assignments": config},
        ],
    )
    refinement = create(fake_api, plan, stage="refinement")
    fake_api.add_trials(
        NAMESPACE,
        refinement,
        [{"name": "r-0", "condition": "Succeeded", "metrics": {"tss": 0.65}, "assignments": config}],
    )
    configs = [{k: float(v) if "." in v else int(v) for k, v in config.items()}]
    confirmation = create(fake_api, plan, stage="confirmation", top_k={"confirmation": TopKConfigs(configs, ["r-0"])})
    value = fake_api.objects[("experiments", NAMESPACE, confirmation)]["spec"]["parameters"][0]["feasibleSpace"][
        "list"
    ][0]
    fake_api.add_trials(
        NAMESPACE,
        confirmation,
        [{"name": "c-0", "condition": "Running", "assignments": {"config": value}, "metrics": {}}],
    )
    api = KatibApi(fake_api)
    pull_results(plan, tmp_path, api=api, namespace=NAMESPACE)
    fake_api.delete_namespaced_custom_object("kubeflow.org", "v1beta1", NAMESPACE, "experiments", exploration)
    fake_api.delete_namespaced_custom_object("kubeflow.org", "v1beta1", NAMESPACE, "experiments", refinement)
    fake_api.add_trials(
        NAMESPACE,
        confirmation,
        [{"name": "c-0", "condition": "Succeeded", "assignments": {"config": value}, "metrics": {"tss": 0.7}}],
    )
    summary = pull_results(plan, tmp_path, api=api, namespace=NAMESPACE)
    assert summary.counts == {"complete": 3, "fail": 1}
    stored = optuna.load_study(study_name="everest.M_24h", storage=sqlite_url(tmp_path / "everest" / "M_24h"))
    assert [t.user_attrs[rec.KATIB_TRIAL] for t in stored.trials] == ["e-0", "e-1", "r-0", "c-0"]
    assert stored.trials[3].user_attrs[rec.SOURCE_TRIAL] == 2
