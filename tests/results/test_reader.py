"""Reading results back, and the one-line errors when they are missing or corrupt."""

from __future__ import annotations

import pytest

from hpoctl.errors import ResultsError
from hpoctl.results import list_targets, load_results, target_dir
from tests.results.synthetic import everest_params


def test_round_trip(everest_results):
    loaded = load_results(everest_results.out_dir)
    assert loaded.best["best_trial_number"] == 13 and loaded.pareto is None and not loaded.multi_objective
    first = loaded.top[0]
    assert first["number"] == 6 and first["rank"] == 1 and first["stage"] == "exploration"
    assert first["values"] == {"tss": 0.7}
    assert first["metrics"] == {"tss": 0.7, "val_loss": 0.3}
    assert first["params"] == everest_params(6)
    assert list_targets(everest_results.root, "everest") == ["M_24h"]


def test_round_trip_several_objectives(forecast_results):
    loaded = load_results(forecast_results.out_dir)
    assert loaded.multi_objective and loaded.pareto["balanced"]["number"] == 3


def test_missing_results_say_what_to_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ResultsError) as error:
        load_results(target_dir("results", "everest", "M_24h"))
    assert str(error.value) == (
        "no results for everest/M_24h in results/: run `hpoctl launch everest --target M_24h` first"
    )


def test_corrupt_results_name_the_file(tmp_path):
    out = tmp_path / "results" / "everest" / "M_24h"
    out.mkdir(parents=True)
    (out / "best_params.json").write_text('{"study": "everest",')
    with pytest.raises(ResultsError, match=r"best_params.json: not valid JSON \(line 1"):
        load_results(out)
    (out / "best_params.json").write_text("[]")
    with pytest.raises(ResultsError, match=r"not a best_params\.json written by hpoctl"):
        load_results(out)
