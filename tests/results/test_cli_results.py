"""`hpoctl results show|compare` in-process: tables, JSON, the model x dataset pivot, one-line errors."""

from __future__ import annotations

import json

import pytest

from tests.results.synthetic import build_everest, build_forecast, write

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_show_single_objective_table(cli, everest_results):
    result = cli("results", "show", "everest", "--target", "M_24h", "--results", str(everest_results.root))
    assert result.code == 0, result.err
    assert "everest / M_24h" in result.out and "10 complete, 2 pruned, 2 failed" in result.out
    assert "confirmation" in result.out and "0.64" in result.out and "embed_dim" in result.out
    assert "top 5" in result.out


def test_show_json(cli, everest_results):
    result = cli(
        "results", "show", "everest", "-t", "M_24h", "--results", str(everest_results.root), "--top", "3", "-o", "json"
    )
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["best"]["number"] == 13 and data["stage"] == "confirmation"
    assert [t["number"] for t in data["top"]] == [6, 9, 13]
    assert data["counts"]["failed"] == 2


def test_show_reads_hpoctl_results_from_the_environment(cli, everest_results, monkeypatch):
    monkeypatch.setenv("HPOCTL_RESULTS", str(everest_results.root))
    result = cli("results", "show", "everest", "-t", "M_24h", "-o", "yaml")
    assert result.code == 0, result.err and "best:" in result.out


def test_show_pareto_picks(cli, forecast_results):
    args = ["results", "show", "forecast", "-t", "NHITS_Q@heat", "--results", str(forecast_results.root)]
    result = cli(*args)
    assert result.code == 0, result.err
    assert "balanced" in result.out and "best mae" in result.out and "best picp" in result.out
    assert "7 trials on the Pareto front" in result.out
    data = json.loads(cli(*args, "-o", "json").out)
    assert data["pareto"]["balanced"]["number"] == 3
    assert data["pareto"]["best_per_objective"]["picp"]["metrics"]["picp"] == 0.8


def test_show_missing_results_is_one_line(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HPOCTL_RESULTS", raising=False)
    result = cli("results", "show", "everest", "--target", "M_24h")
    assert result.code == 1
    assert (
        result.err
        == "error: no results for everest/M_24h in results/: run `hpoctl launch everest --target M_24h` first\n"
    )
    assert result.out == "" and "Traceback" not in result.err


def test_show_unknown_study(cli, tmp_path):
    result = cli("results", "show", "nosuch", "--target", "x", "--results", str(tmp_path))
    assert result.code == 1 and "unknown study 'nosuch'" in result.err


@pytest.fixture(scope="module")
def everest_two_targets(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare") / "results"
    for target in ["M_24h", "X_72h"]:
        write(root, *build_everest(root, target), plots=False)
    return root


def test_compare_targets(cli, everest_two_targets):
    result = cli("results", "compare", "everest", "--results", str(everest_two_targets))
    assert result.code == 0, result.err
    assert "M_24h" in result.out and "X_72h" in result.out and "0.64" in result.out
    assert "model x dataset" not in result.out
    png = everest_two_targets / "everest" / "compare" / "best_per_target.png"
    assert png.read_bytes().startswith(PNG_MAGIC) and png.stat().st_size > 10_000
    assert (png.parent / "best_per_target.html").is_file() and (png.parent / "plotly.min.js").is_file()
    assert "best_per_target.png" in result.err  # where the chart went, on stderr


def test_compare_json(cli, everest_two_targets):
    result = cli("results", "compare", "everest", "--results", str(everest_two_targets), "-o", "json")
    data = json.loads(result.out)
    assert [(row["target"], row["tss"], row["complete"], row["pruned"], row["failed"]) for row in data["targets"]] == [
        ("M_24h", 0.64, 10, 2, 2),
        ("X_72h", 0.64, 10, 2, 2),
    ]
    assert "model_x_dataset" not in data


def test_compare_model_x_dataset_pivot(cli, tmp_path):
    root = tmp_path / "results"
    cells = {
        "NHITS_Q@heat": None,  # the hand-made front: balanced pick MAE 11, PICP 0.70
        "NHITS_Q@water_centrum": [(4.0, 0.79), (3.0, 0.60)],
        "TFT_Q@heat": [(20.0, 0.81)],
    }
    for target, points in cells.items():
        write(root, *build_forecast(root, target, points), plots=False)
    result = cli("results", "compare", "forecast", "--results", str(root))
    assert result.code == 0, result.err
    assert "model x dataset" in result.out
    assert "NHITS_Q" in result.out and "TFT_Q" in result.out and "water_centrum" in result.out
    assert "mae 11 · picp 0.7" in result.out and "mae 20 · picp 0.81" in result.out
    data = json.loads(cli("results", "compare", "forecast", "--results", str(root), "-o", "json").out)
    pivot = data["model_x_dataset"]
    assert pivot["mae"]["NHITS_Q"] == {"heat": 11.0, "water_centrum": 4.0}
    assert pivot["picp"]["NHITS_Q"] == {"heat": 0.70, "water_centrum": 0.79}
    assert pivot["mae"]["TFT_Q"] == {"heat": 20.0}


def test_compare_without_results(cli, tmp_path):
    result = cli("results", "compare", "everest", "--results", str(tmp_path / "results"))
    assert result.code == 1
    assert result.err.count("\n") == 1
    assert "no results for everest in" in result.err and "hpoctl launch everest --target all" in result.err
