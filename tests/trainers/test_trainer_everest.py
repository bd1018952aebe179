"""The EVEREST trainer as a subprocess, the way every backend runs it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hpoctl.trainers.common.exit_codes import ExitCode
from hpoctl.trainers.everest.config import SPEC, EverestHparams
from hpoctl.trainers.everest.data import synthesize

TINY = ("--n-samples", "400", "--embed_dim=16", "--num_blocks=1", "--batch_size=64", "--threads", "1")
METRICS = SPEC.metrics


@pytest.fixture(scope="module")
def runs(trainers) -> dict:
    """Independent runs, concurrently: a fresh-cache trial, a diverging one, and the TSS comparison."""
    comparison = ("--target", "C_24h", "--epochs", "3", "--seed", "0", "--threads", "1",
                  "--embed_dim=32", "--num_blocks=2", "--batch_size=64")  # fmt: skip
    first = trainers.run_all(
        {
            "first": ("everest", ["--target", "X_48h", "--epochs", "2", "--seed", "7", *TINY]),
            "diverged": ("everest", ["--epochs", "2", *TINY, "--data-seed", "1", "--learning_rate=1000"]),
            "good": ("everest", [*comparison, "--learning_rate=1e-3"]),
            "degenerate": ("everest", [*comparison, "--learning_rate=1e-7"]),
        }
    )
    # Same seed and arguments again, now that the first trial filled the cache.
    first["second"] = trainers.run("everest", "--target", "X_48h", "--epochs", "2", "--seed", "7", *TINY)
    return first


@pytest.mark.slow
def test_metric_lines_are_katib_readable(runs: dict) -> None:
    first = runs["first"]
    assert first.rc == ExitCode.OK, first.explain()
    first.assert_metric_lines(epochs=2, metrics=METRICS)
    assert first.stderr_lines == [], first.stderr


@pytest.mark.slow
def test_metrics_json_and_hyperparameters_yaml(runs: dict) -> None:
    first = runs["first"]
    metrics = first.metrics()
    assert metrics["status"] == "completed" and metrics["reason"] is None
    assert metrics["target"] == "X_48h" and metrics["primary_metric"] == "tss"
    assert [entry["epoch"] for entry in metrics["history"]] == [1, 2]
    assert metrics["final"] == metrics["history"][-1]
    assert metrics["best"]["tss"] == max(entry["tss"] for entry in metrics["history"])
    assert metrics["epochs_completed"] == 2 and metrics["cache_hit"] is False
    assert metrics["data_prep_seconds"] > 0 and metrics["train_seconds"] > 0
    printed = [dict(pair.split("=") for pair in line.split()) for line in first.stdout_lines]
    for line, entry in zip(printed, metrics["history"], strict=True):
        assert {k: float(v) for k, v in line.items()} == pytest.approx({k: float(v) for k, v in entry.items()})

    document = first.hyperparameters()
    assert document["target"] == "X_48h"
    assert document["target_args"] == {"flare_class": "X", "window": 48}
    assert document["seed"] == 7 and document["epochs"] == 2
    assert document["hyperparameters"] == EverestHparams(embed_dim=16, num_blocks=1, batch_size=64).model_dump()


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
    line = diverged.assert_one_stderr_line("trial failed: ", "loss became", "learning_rate=1000.0 diverged")
    assert "nan" in line or "inf" in line
    metrics = diverged.metrics()
    assert metrics["status"] == "failed" and metrics["reason"] in line


@pytest.mark.slow
def test_trained_model_beats_degenerate_learning_rate(runs: dict) -> None:
    good, degenerate = runs["good"], runs["degenerate"]
    assert good.rc == degenerate.rc == ExitCode.OK, good.explain() + degenerate.explain()
    good_tss, degenerate_tss = good.metrics()["best"]["tss"], degenerate.metrics()["best"]["tss"]
    assert good_tss >= degenerate_tss + 0.15, (good_tss, degenerate_tss)


@pytest.mark.slow
def test_sigterm_mid_epoch_leaves_partial_history(trainers) -> None:
    # An epoch of ~280 one-sample batches lasts long enough for the signal to land inside epoch 2.
    finished, first_line = trainers.interrupt_during_epoch_2("everest", "--epochs", "3", *TINY, "--batch_size=1")
    assert first_line.startswith("epoch=1 "), finished.explain()
    assert finished.rc == ExitCode.INTERRUPTED, finished.explain()
    finished.assert_one_stderr_line("trial interrupted", "SIGTERM")
    metrics = finished.metrics()
    assert metrics["status"] == "interrupted"
    assert metrics["epochs_completed"] == 1 and [e["epoch"] for e in metrics["history"]] == [1]
    assert finished.stdout_lines == [first_line.strip()]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--bogus=1"], "unrecognized arguments: --bogus=1"),
        (["--embed-dim=64"], "did you mean --embed_dim?"),
        (["--dropout=abc"], "--dropout='abc'"),
        (["--batch_size=12.5"], "--batch_size='12.5'"),
        (["--target", "M_12h"], "--target='M_12h'"),
        (["--target", "M_24h", "--window", "72"], "--window=72 contradicts --target=M_24h"),
        (["--data", "somewhere", "--n-samples", "300"], "--n-samples"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(trainers, args: list[str], fragment: str) -> None:
    finished = trainers.run("everest", *args)
    assert finished.rc == ExitCode.USAGE, finished.explain()
    finished.assert_one_stderr_line(fragment)
    assert finished.stdout == "" and not finished.output.exists()


def test_help_lists_every_hyperparameter(trainers) -> None:
    finished = trainers.run("everest", "--help")
    assert finished.rc == 0, finished.explain()
    for flag in [f"--{name}" for name in EverestHparams.model_fields] + ["--flare-class", "--window", "--epochs"]:
        assert flag in finished.stdout


@pytest.mark.slow
def test_user_data_file_and_malformed_data(trainers, tmp_path: Path) -> None:
    raw = synthesize(n_samples=400, seq_len=8, n_features=5, data_seed=3, signal_strength=1.0)
    good = tmp_path / "good"
    good.mkdir()
    np.savez(good / "everest.npz", X=raw["X"], split=raw["split"], max_class_24h=raw["max_class_24h"])
    bad = tmp_path / "bad.npz"
    np.savez(bad, X=raw["X"][:, :, 0], split=raw["split"])
    results = trainers.run_all(
        {
            "good": ("everest", ["--data", str(good), "--target", "C_24h", "--epochs", "1", *TINY[2:]]),
            "bad": ("everest", ["--data", str(bad), "--epochs", "1", *TINY[2:]]),
        }
    )
    assert results["good"].rc == ExitCode.OK, results["good"].explain()
    results["good"].assert_metric_lines(epochs=1, metrics=METRICS)
    assert results["good"].hyperparameters()["data"] == str(good)
    assert results["bad"].rc == ExitCode.DATA, results["bad"].explain()
    results["bad"].assert_one_stderr_line("trial failed: --data: X must be a numeric [N, T, F] array")
    assert results["bad"].metrics()["status"] == "failed"
