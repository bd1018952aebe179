"""A confirmation stage that confirms: each of the top configurations is trained again with `repeats` fresh seeds
(never the search's), and the stage is ranked on the mean, its spread shown wherever results are."""

from __future__ import annotations

import json
import statistics

import optuna
import pytest

from hpoctl import trial_record as rec
from hpoctl.results import layout

SEED = 3  # toy_spec's


@pytest.fixture
def confirmed(write_spec, tmp_path, cli, monkeypatch):
    monkeypatch.setenv("TOY_SEED_NOISE", "1")
    spec = write_spec(
        protocol=[
            {"name": "explore", "trials": 6, "epochs": 2},
            {"name": "confirm", "mode": "top-k", "top_k": 2, "repeats": 3, "epochs": 3},
        ]
    )
    results = tmp_path / "results"
    done = cli("launch", spec, "-t", "small", "--results", str(results))
    assert done.code == 0, done.err
    assert "confirm 6/6" in done.err
    return spec, results, results / "toy" / "small"


def test_each_configuration_runs_with_fresh_seeds_and_ranks_on_the_mean(confirmed):
    _, _, folder = confirmed
    study = layout.load_folder_study(folder)
    confirm = [t for t in study.get_trials(deepcopy=False) if t.user_attrs.get(rec.STAGE) == "confirm"]
    by_source: dict[int, list[optuna.trial.FrozenTrial]] = {}
    for trial in confirm:
        by_source.setdefault(trial.user_attrs[rec.SOURCE_TRIAL], []).append(trial)
    assert len(by_source) == 2
    for runs in by_source.values():
        assert sorted(t.user_attrs[rec.SEED] for t in runs) == [SEED + 1, SEED + 2, SEED + 3]
        assert sorted(t.user_attrs[rec.REPEAT] for t in runs) == [0, 1, 2]
        assert len({t.value for t in runs}) == 3, "fresh seeds give different curves"
    means = {source: statistics.fmean(t.value for t in runs) for source, runs in by_source.items()}
    winner = min(means, key=means.get)
    best = json.loads((folder / "best_params.json").read_text())
    assert best["stage"] == "confirm" and best["best_value"] == pytest.approx(means[winner])
    repeats = best["best_trial"]["repeats"]
    assert repeats["complete"] == 3 and repeats["seeds"] == [SEED + 1, SEED + 2, SEED + 3]
    assert repeats["std"][0] == pytest.approx(statistics.stdev(t.value for t in by_source[winner]))
    assert best["best_params"] == by_source[winner][0].params


def test_the_spread_is_shown_by_results_show_and_the_report(confirmed, cli):
    spec, results, folder = confirmed
    shown = cli("results", "show", spec, "-t", "small", "--results", str(results))
    assert shown.code == 0 and "(3 seeds)" in shown.out and " ± " in shown.out, shown.out
    report = (folder / "report.md").read_text()
    assert "(3 seeds)" in report and " ± " in report
    top = json.loads(cli("results", "show", spec, "-t", "small", "--results", str(results), "-o", "json").out)
    assert top["best"]["repeats"]["complete"] == 3
    ranked = [t for t in top["top"] if t["stage"] == "confirm"]
    best = json.loads((folder / "best_params.json").read_text())
    assert ranked and ranked[0]["values"]["loss"] == pytest.approx(best["best_value"]), "top trials rank on the mean"


def test_repeats_belong_to_top_k_stages_and_multiply_their_budget(write_spec, cli):
    plan = json.loads(cli("plan", write_spec(), "-t", "small", "-o", "json").out)
    confirm = plan["stages"][-1]
    assert (confirm["top_k"], confirm["repeats"], confirm["trials"]) == (2, 3, 6), "3 fresh seeds by default"
    bad = write_spec(protocol=[{"name": "explore", "trials": 3, "epochs": 1, "repeats": 2}])
    done = cli("validate", bad)
    assert done.code == 1 and "repeats needs mode: top-k" in done.err
