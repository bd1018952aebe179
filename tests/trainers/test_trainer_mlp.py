"""The MLP trainer as a subprocess, the way every backend runs it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hpoctl.trainers.common.exit_codes import ExitCode
from hpoctl.trainers.mlp.config import SPEC
from hpoctl.trainers.mlp.data import synthesize

TINY = ("--n-samples", "600", "--hidden_sizes=[32,32]", "--threads", "1")
METRICS = SPEC.metrics


@pytest.fixture(scope="module")
def runs(trainers) -> dict:
    first = trainers.run_all(
        {
            "first": ("mlp", ["--target", "default", "--epochs", "2", "--seed", "3", *TINY, "--lr=3e-3"]),
            "diverged": ("mlp", ["--epochs", "2", *TINY, "--n-classes", "4", "--batch_size=8", "--lr=1e3"]),
        }
    )
    first["second"] = trainers.run("mlp", "--target", "default", "--epochs", "2", "--seed", "3", *TINY, "--lr=3e-3")
    return first


@pytest.mark.slow
def test_contract_run(runs: dict) -> None:
    first = runs["first"]
    assert first.rc == ExitCode.OK, first.explain()
    first.assert_metric_lines(epochs=2, metrics=METRICS)
    assert first.stderr_lines == []
    metrics = first.metrics()
    assert metrics["status"] == "completed" and metrics["epochs_completed"] == 2
    assert metrics["primary_metric"] == "validation_error" and metrics["direction"] == "minimize"
    assert metrics["best"]["validation_error"] == min(e["validation_error"] for e in metrics["history"])
    assert metrics["cache_hit"] is False
    document = first.hyperparameters()
    assert document["target"] == "default" and document["target_args"] == {}
    assert document["hyperparameters"] == {"lr": 0.003, "hidden_sizes": [32, 32], "dropout": 0.1, "batch_size": 128}


@pytest.mark.slow
def test_same_seed_same_metrics_and_cache_hit(runs: dict) -> None:
    first, second = runs["first"], runs["second"]
    assert second.rc == ExitCode.OK, second.explain()
    assert second.stdout == first.stdout
    assert second.metrics()["history"] == first.metrics()["history"]
    assert second.metrics()["cache_hit"] is True


@pytest.mark.slow
def test_diverging_learning_rate_exits_3(runs: dict) -> None:
    diverged = runs["diverged"]
    assert diverged.rc == ExitCode.DIVERGED, diverged.explain()
    diverged.assert_one_stderr_line("trial failed: ", "loss became", "(lr=1000.0 diverged)")
    assert diverged.metrics()["status"] == "failed"


@pytest.mark.slow
def test_sigterm_mid_epoch_leaves_partial_history(trainers) -> None:
    # An epoch of 1600 one-sample batches lasts long enough for the signal to land inside epoch 2.
    finished, first_line = trainers.interrupt_during_epoch_2(
        "mlp", "--epochs", "3", *TINY, "--n-samples", "2000", "--batch_size=1"
    )
    assert first_line.startswith("epoch=1 "), finished.explain()
    assert finished.rc == ExitCode.INTERRUPTED, finished.explain()
    metrics = finished.metrics()
    assert metrics["status"] == "interrupted" and metrics["reason"] == "received SIGTERM"
    assert [e["epoch"] for e in metrics["history"]] == [1]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--lr=fast"], "--lr='fast'"),
        (["--hidden_sizes=[64,0]"], "every width must be >= 1"),
        (["--dropout=0.5", "--dropout_rate=0.2"], "unrecognized arguments: --dropout_rate=0.2"),
        (["--target", "M_24h"], "--target='M_24h' is not a target of mlp; allowed: default"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(trainers, args: list[str], fragment: str) -> None:
    finished = trainers.run("mlp", *args)
    assert finished.rc == ExitCode.USAGE, finished.explain()
    finished.assert_one_stderr_line(fragment)
    assert finished.stdout == ""


@pytest.mark.slow
def test_csv_data_and_missing_data(trainers, tmp_path: Path) -> None:
    raw = synthesize(n_samples=300, n_features=4, n_classes=2, data_seed=1)
    names = np.array(["cat", "dog"])[raw["y"]]
    rows = ["a,b,c,d,label,split"] + [
        ",".join([*(f"{v:.5f}" for v in x), str(label), "val" if s else "train"])
        for x, label, s in zip(raw["X"], names, raw["split"], strict=True)
    ]
    (tmp_path / "mlp.csv").write_text("\n".join(rows) + "\n")
    results = trainers.run_all(
        {
            "csv": ("mlp", ["--data", str(tmp_path), "--epochs", "1", "--threads", "1"]),
            "missing": ("mlp", ["--data", str(tmp_path / "nowhere.csv"), "--epochs", "1", "--threads", "1"]),
        }
    )
    assert results["csv"].rc == ExitCode.OK, results["csv"].explain()
    results["csv"].assert_metric_lines(epochs=1, metrics=METRICS)
    assert results["missing"].rc == ExitCode.DATA, results["missing"].explain()
    results["missing"].assert_one_stderr_line("trial failed: --data:", "nowhere.csv does not exist")
