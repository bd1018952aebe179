"""Several objectives: pareto.json holds exactly the non-dominated complete trials, and the picks
(best per objective, balanced) are the ones a person would make by hand."""

from __future__ import annotations

import csv
import json
import random

import numpy as np
import pytest

from hpoctl.results import pareto
from tests.results.synthetic import build_forecast, write

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def dominates(a, b, directions):
    """a dominates b: at least as good on every objective, better on one (brute force, no numpy)."""
    better = [(x < y) if d == "minimize" else (x > y) for x, y, d in zip(a, b, directions, strict=True)]
    worse = [(x > y) if d == "minimize" else (x < y) for x, y, d in zip(a, b, directions, strict=True)]
    return any(better) and not any(worse)


def brute_force_front(points, directions):
    return {n for n, p in points.items() if not any(dominates(q, p, directions) for m, q in points.items() if m != n)}


def test_hand_made_front_and_picks(forecast_results):
    data = json.loads((forecast_results.out_dir / "pareto.json").read_text())
    # By hand: 4 is dominated by 1, 8 by 0; 3 and 9 have equal values, so both stay; 7 failed.
    assert [t["number"] for t in data["front"]] == [0, 1, 2, 3, 5, 6, 9]
    assert data["size"] == 7 and data["stage"] == "search"
    assert data["best_per_objective"]["mae"]["number"] == 2
    assert data["best_per_objective"]["picp"]["number"] == 6  # PICP 0.80 exactly
    # Normalised over the front (MAE 8..15, |PICP-0.80| 0..0.30): trial 3 at (3/7, 1/3) is closest to
    # (0, 0); 9 ties with it and loses on trial number.
    assert data["balanced"]["number"] == 3
    assert data["balanced"]["distance_to_ideal"] == pytest.approx(np.hypot(3 / 7, 1 / 3))
    entry = data["front"][0]
    assert set(entry) >= {"number", "values", "metrics", "params", "stage"}
    assert entry["metrics"] == {"mae": 10.0, "picp": 0.65}
    assert entry["values"]["picp"] == pytest.approx(0.15)


def test_best_params_points_to_the_balanced_pick(forecast_results):
    best = json.loads((forecast_results.out_dir / "best_params.json").read_text())
    assert best["multi_objective"] is True and "best_value" not in best
    assert best["best_trial_number"] == 3
    assert best["pareto"] == {"file": "pareto.json", "size": 7, "stage": "search"}
    assert [o["direction"] for o in best["objectives"]] == ["minimize", "minimize"]
    assert best["objectives"][1]["stored_as"] == "|picp - 0.8|"


def test_top_trials_rank_the_front_first(forecast_results):
    with (forecast_results.out_dir / "top_trials.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    numbers = [int(r["number"]) for r in rows]
    assert numbers[0] == 3  # the balanced pick
    assert set(numbers[:7]) == {0, 1, 2, 3, 5, 6, 9} and set(numbers[7:]) == {4, 8}
    assert "7" not in [r["number"] for r in rows]  # failed


def test_pareto_plots(forecast_results):
    plots = forecast_results.out_dir / "plots"
    for name in ["pareto_front", "optimization_history_mae", "optimization_history_picp", "slice_picp"]:
        data = (plots / f"{name}.png").read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 10_000, name
        assert (plots / f"{name}.html").is_file()
    assert forecast_results.summary.notes == []


def test_front_matches_brute_force_on_a_random_study(tmp_path):
    rng = random.Random(7)
    # Rounded values make ties and duplicates likely; None is a failed trial.
    points = [
        None if rng.random() < 0.1 else (round(rng.uniform(5, 15), 0), round(rng.uniform(0.5, 1.0), 1))
        for _ in range(80)
    ]
    study, plan = build_forecast(tmp_path, points=points, sqlite=False)
    written = write(tmp_path, study, plan, plots=False)
    data = json.loads((written.out_dir / "pareto.json").read_text())
    complete = {t.number: t.values for t in study.trials if t.values is not None}
    expected = brute_force_front(complete, ["minimize", "minimize"])
    assert {t["number"] for t in data["front"]} == expected
    assert {t.number for t in study.best_trials} == expected


@pytest.mark.parametrize("seed", range(5))
def test_pareto_module_against_brute_force(seed):
    rng = np.random.default_rng(seed)
    directions = ["minimize", "maximize", "minimize"]
    values = rng.integers(0, 6, size=(60, 3)).astype(float)
    loss = values * np.array([1.0, -1.0, 1.0])
    points = dict(enumerate(map(tuple, values)))
    assert set(np.flatnonzero(pareto.non_dominated(loss))) == brute_force_front(points, directions)
    ranks = pareto.nondomination_ranks(loss)
    for i in range(len(values)):
        dominated_by = [j for j in range(len(values)) if dominates(values[j], values[i], directions)]
        assert all(ranks[j] < ranks[i] for j in dominated_by)
        assert ranks[i] == 0 or any(ranks[j] == ranks[i] - 1 for j in dominated_by)


def test_balanced_pick_ignores_the_scale_of_each_objective():
    front = np.array([[0.0, 1.0], [0.4, 0.4], [1.0, 0.0], [0.45, 0.3]])
    distances = pareto.ideal_distances(front, front)
    scaled = pareto.ideal_distances(front * [1000.0, 1.0], front * [1000.0, 1.0])
    assert np.argmin(distances) == np.argmin(scaled) == 3
    assert scaled == pytest.approx(distances)
