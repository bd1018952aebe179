"""The transfer trainer: the folds, the objective, the staged reporting and the data as pure functions, then the
trainer as a subprocess, the way every backend runs it."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hpoctl.catalog import load_study
from hpoctl.search.objectives import objective_value
from hpoctl.spec.expression import evaluate_expression
from hpoctl.trainers.common.cli import parse_command_line
from hpoctl.trainers.common.errors import DataError, UsageError
from hpoctl.trainers.common.exit_codes import ExitCode, TrialStatus
from hpoctl.trainers.common.report import Reporter
from hpoctl.trainers.transfer.config import FINAL_METRICS, SPEC, STAGE1_METRICS, TransferHparams, transfer_objective
from hpoctl.trainers.transfer.data import kfold_indices, prepare, read_csv_pair, synthesize
from hpoctl.trainers.transfer.stage2 import final_metrics, solubility_scores
from hpoctl.trainers.transfer.train import StagedReporter

TINY = ("--n-dft", "2000", "--n-exp", "90", "--stage2-epochs", "3", "--cv-folds", "3", "--threads", "1",
        "--encoder_hidden_dims=64_32", "--encoder_latent_dim=16")  # fmt: skip


@pytest.mark.parametrize(("n", "k"), [(10, 2), (90, 3), (400, 5), (7, 7), (23, 5)])
@pytest.mark.parametrize("stratified", [False, True])
def test_every_example_is_validated_exactly_once(n: int, k: int, stratified: bool) -> None:
    labels = (np.arange(n) % 4 == 0).astype(int) if stratified else None
    folds = kfold_indices(n, k, seed=3, labels=labels)
    assert len(folds) == k
    validated = np.concatenate([val for _, val in folds])
    assert sorted(validated.tolist()) == list(range(n))  # each example once
    for train, val in folds:
        assert np.intersect1d(train, val).size == 0 and len(train) + len(val) == n  # trained on all the others
    sizes = [len(val) for _, val in folds]
    assert max(sizes) - min(sizes) <= 1
    if labels is not None:
        positives = [int(labels[val].sum()) for _, val in folds]
        assert max(positives) - min(positives) <= 1  # each class spread evenly
    again = kfold_indices(n, k, seed=3, labels=labels)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, again, strict=True))


def test_folds_need_two_to_n() -> None:
    with pytest.raises(ValueError, match="2 <= folds <= examples"):
        kfold_indices(4, 5, 0)
    with pytest.raises(ValueError, match="2 <= folds <= examples"):
        kfold_indices(4, 1, 0)


def test_objective_is_the_catalogs_expression() -> None:
    expression = load_study("transfer").spec.objectives[0].expression
    metrics = {"exp_mae": 0.21, "sol_f1": 0.6, "sol_recall": 0.75, "stage1_mae": 0.13}
    assert transfer_objective(**metrics) == pytest.approx(evaluate_expression(expression, metrics))
    assert transfer_objective(0.0, 1.0, 1.0, 0.0) == 0.0
    assert final_metrics(0.13, {"exp_mae": 0.21, "sol_f1": 0.6, "sol_recall": 0.75, "sol_precision": 0.5})[
        "objective"
    ] == pytest.approx(1.5 * 0.21 + 2.0 * 0.4 + 1.5 * 0.25 + 0.1 * 0.13)


def test_solubility_scores() -> None:
    scores = solubility_scores(np.array([0.9, 0.6, 0.2, 0.7, 0.1]), np.array([1, 0, 1, 1, 0]))
    assert scores == pytest.approx({"sol_f1": 2 * 2 / (3 + 3), "sol_recall": 2 / 3, "sol_precision": 2 / 3})
    assert solubility_scores(np.zeros(4), np.array([1, 0, 0, 0])) == {
        "sol_f1": 0.0, "sol_recall": 0.0, "sol_precision": 0.0,
    }  # fmt: skip


def test_staged_lines_and_what_the_local_backend_makes_of_them(tmp_path: Path) -> None:
    """Stage-1 lines hold stage-1 metrics, the last line all of them; the backend's `latest` strategy then finds
    the objective on the last line, and metrics.json's best is that line."""
    stream = io.StringIO()
    reporter = StagedReporter.adopt(Reporter(SPEC, "default", 2, tmp_path, stream))
    reporter.epoch_end(1, {"stage1_mae": 0.3, "stage1_val_loss": 0.2, "train_loss": 0.4})
    reporter.epoch_end(2, {"stage1_mae": 0.2, "stage1_val_loss": 0.1, "train_loss": 0.3})
    assert json.loads((tmp_path / "metrics.json").read_text())["best"] is None
    reporter.stage_metrics = FINAL_METRICS
    final = final_metrics(0.2, {"exp_mae": 0.3, "sol_f1": 0.5, "sol_recall": 0.8, "sol_precision": 0.4})
    reporter.epoch_end(2, final)
    reporter.finish(TrialStatus.COMPLETED, None)
    lines = stream.getvalue().splitlines()
    assert [line.split()[0] for line in lines] == ["epoch=1", "epoch=2", "epoch=2"]
    assert [[pair.split("=")[0] for pair in line.split()[1:]] for line in lines] == [
        list(STAGE1_METRICS),
        list(STAGE1_METRICS),
        list(FINAL_METRICS),
    ]
    written = json.loads((tmp_path / "metrics.json").read_text())
    assert written["best"] == written["final"] == written["history"][-1]
    assert written["epochs_completed"] == 2 and written["primary_metric"] == "objective"
    objective = load_study("transfer").spec.objectives[0]
    assert objective_value(objective, written["history"]) == pytest.approx(final["objective"])


def test_hidden_dims_spelling() -> None:
    assert TransferHparams(encoder_hidden_dims="1024_512_256").hidden_dims == [1024, 512, 256]
    parsed = parse_command_line(SPEC, ["--encoder_hidden_dims=256", "--freeze-encoder-stage2=false"])
    assert parsed.hparams.hidden_dims == [256] and parsed.data.freeze_encoder_stage2 is False
    for bad in ("512-256", "0_128", "wide"):
        with pytest.raises(UsageError, match="joined by underscores"):
            parse_command_line(SPEC, [f"--encoder_hidden_dims={bad}"])


def test_catalog_arguments_parse() -> None:
    """The catalog's fixed stage-2 arguments, as the plan spells them, are this trainer's arguments."""
    from hpoctl.plan import build_plans

    plan = build_plans(load_study("transfer"), "default")[0]
    parsed = parse_command_line(SPEC, plan.trainer_args({}, epochs=3, seed=0))
    assert (parsed.data.stage2_epochs, parsed.data.cv_folds, parsed.data.freeze_encoder_stage2) == (20, 5, True)
    assert (parsed.data.lambda_exp, parsed.data.lambda_sol, parsed.data.class_weight_pos) == (3.0, 1.0, 5.0)


def test_synthetic_sets_and_the_csv_format(tmp_path: Path) -> None:
    raw = synthesize(3000, 200, 0)
    assert np.array_equal(raw["exp_X"], synthesize(3000, 200, 0)["exp_X"])
    assert raw["dft_X"].shape == (3000, 64) and raw["exp_X"].shape == (200, 64)
    assert 0.15 < raw["exp_soluble"].mean() < 0.35  # the positive class is the minority
    assert np.corrcoef(raw["exp_chi"], raw["exp_soluble"])[0, 1] < -0.5  # soluble: low chi
    names = [f"f{i}" for i in range(64)]
    sets = {
        "dft": (raw["dft_X"][:50], {"chi": raw["dft_chi"][:50]}),
        "exp": (raw["exp_X"], {"chi": raw["exp_chi"], "soluble": raw["exp_soluble"]}),
    }
    for name, (x, extra) in sets.items():
        rows = [",".join([*names, *extra])]
        rows += [",".join(f"{v:.6g}" for v in [*x[i], *(c[i] for c in extra.values())]) for i in range(len(x))]
        (tmp_path / f"{name}.csv").write_text("\n".join(rows) + "\n")
    read = read_csv_pair(tmp_path)
    assert read["dft_X"].shape == (50, 64) and np.allclose(read["exp_chi"], raw["exp_chi"], atol=1e-5)
    prepared = prepare(read, data_seed=0)
    assert prepared["exp_x"].dtype == np.float32 and (prepared["dft_split"] == 1).sum() == 5
    with pytest.raises(DataError, match="exp_soluble must be 0/1 with both classes"):
        prepare({**read, "exp_soluble": np.zeros(200)}, 0)


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--cv-folds", "1"], "--cv-folds='1'"),
        (["--freeze-encoder-stage2=maybe"], "--freeze-encoder-stage2='maybe'"),
        (["--data", "x", "--n-exp", "50"], "--n-exp: for synthetic data only"),
    ],
)
def test_bad_transfer_arguments_are_one_line(argv: list[str], fragment: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_command_line(SPEC, argv)
    assert fragment in str(info.value) and "\n" not in str(info.value)


STAGE1_LINES = [(1, STAGE1_METRICS), (2, STAGE1_METRICS), (2, FINAL_METRICS)]


@pytest.fixture(scope="module")
def runs(trainers) -> dict:
    """Independent runs, concurrently: a fresh-cache trial, a diverging one, the objective comparison."""
    comparison = ("--epochs", "2", "--seed", "0", "--n-dft", "6000", "--n-exp", "200", "--stage2-epochs", "10",
                  "--cv-folds", "4", "--threads", "1", "--encoder_hidden_dims=256_128",
                  "--encoder_latent_dim=64")  # fmt: skip
    first = trainers.run_all(
        {
            "first": ("transfer", ["--target", "default", "--epochs", "2", "--seed", "2", *TINY,
                                   "--freeze-encoder-stage2=true", "--lambda-exp=3.0", "--class-weight-pos=5.0"]),
            "diverged": ("transfer", ["--epochs", "2", *TINY, "--lr_pretrain=1e3"]),
            "good": ("transfer", [*comparison, "--lr_pretrain=2e-3"]),
            "degenerate": ("transfer", [*comparison, "--lr_pretrain=1e-7"]),
        }
    )  # fmt: skip
    first |= trainers.run_all(
        {
            "second": ("transfer", ["--target", "default", "--epochs", "2", "--seed", "2", *TINY,
                                    "--freeze-encoder-stage2=true", "--lambda-exp=3.0", "--class-weight-pos=5.0"]),
            "unfrozen": ("transfer", ["--epochs", "2", *TINY, "--freeze-encoder-stage2=false"]),
        }
    )  # fmt: skip
    return first


@pytest.mark.slow
def test_metric_lines_metrics_json_and_hyperparameters_yaml(runs: dict) -> None:
    first = runs["first"]
    assert first.rc == ExitCode.OK, first.explain()
    first.assert_staged_metric_lines(STAGE1_LINES)
    assert first.stderr_lines == [], first.stderr
    metrics = first.metrics()
    assert metrics["status"] == "completed" and metrics["epochs_completed"] == 2
    final = metrics["final"]
    assert final == metrics["history"][-1] == metrics["best"] and final["epoch"] == 2
    assert final["stage1_mae"] == metrics["history"][1]["stage1_mae"]
    assert final["objective"] == pytest.approx(
        transfer_objective(final["exp_mae"], final["sol_f1"], final["sol_recall"], final["stage1_mae"])
    )
    assert 0 <= final["sol_f1"] <= 1 and 0 <= final["sol_recall"] <= 1 and final["exp_mae"] > 0
    document = first.hyperparameters()
    expected = TransferHparams(encoder_hidden_dims="64_32", encoder_latent_dim=16)
    assert document["hyperparameters"] == expected.model_dump()
    assert document["data_args"]["freeze_encoder_stage2"] is True and document["data_args"]["cv_folds"] == 3


@pytest.mark.slow
def test_same_seed_same_metrics_and_cache_hit(runs: dict) -> None:
    first, second = runs["first"], runs["second"]
    assert second.rc == ExitCode.OK, second.explain()
    assert second.stdout == first.stdout
    assert second.metrics()["cache_hit"] is True


@pytest.mark.slow
def test_diverging_learning_rate_exits_3(runs: dict) -> None:
    diverged = runs["diverged"]
    assert diverged.rc == ExitCode.DIVERGED, diverged.explain()
    diverged.assert_one_stderr_line("trial failed: ", "became", "(lr_pretrain=1000.0 diverged)")
    assert diverged.metrics()["status"] == "failed"


@pytest.mark.slow
def test_pretrained_encoder_transfers_better_than_an_untrained_one(runs: dict) -> None:
    good, degenerate = runs["good"], runs["degenerate"]
    assert good.rc == degenerate.rc == ExitCode.OK, good.explain() + degenerate.explain()
    good_final, degenerate_final = good.metrics()["final"], degenerate.metrics()["final"]
    assert good_final["stage1_mae"] < 0.5 * degenerate_final["stage1_mae"], (good_final, degenerate_final)
    assert good_final["exp_mae"] < degenerate_final["exp_mae"], (good_final, degenerate_final)
    assert good_final["objective"] < degenerate_final["objective"] - 0.1, (good_final, degenerate_final)


@pytest.mark.slow
def test_fine_tuning_the_encoder_too(runs: dict) -> None:
    unfrozen = runs["unfrozen"]
    assert unfrozen.rc == ExitCode.OK, unfrozen.explain()
    unfrozen.assert_staged_metric_lines(STAGE1_LINES)
    assert unfrozen.hyperparameters()["data_args"]["freeze_encoder_stage2"] is False


@pytest.mark.slow
def test_sigterm_during_stage_2_leaves_the_stage_1_history(trainers) -> None:
    # Stage 2 of 500 epochs of one-example batches lasts long enough for the signal to land inside it.
    args = ("--epochs", "1", *TINY, "--stage2-epochs", "500", "--stage2-batch-size", "1")
    finished, first_line = trainers.interrupt_during_epoch_2("transfer", *args)
    assert first_line.startswith("epoch=1 stage1_mae="), finished.explain()
    assert finished.rc == ExitCode.INTERRUPTED, finished.explain()
    finished.assert_one_stderr_line("trial interrupted", "SIGTERM")
    metrics = finished.metrics()
    assert metrics["status"] == "interrupted" and [e["epoch"] for e in metrics["history"]] == [1]
    assert metrics["best"] is None and finished.stdout_lines == [first_line.strip()]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--encoder_hidden_dims=512,256"], "--encoder_hidden_dims='512,256'"),
        (["--cv-folds", "1"], "--cv-folds='1'"),
        (["--lr-pretrain=1e-3"], "did you mean --lr_pretrain?"),
        (["--target", "stage2"], "--target='stage2' is not a target of transfer"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(trainers, args: list[str], fragment: str) -> None:
    finished = trainers.run("transfer", *args)
    assert finished.rc == ExitCode.USAGE, finished.explain()
    finished.assert_one_stderr_line(fragment)
    assert finished.stdout == "" and not finished.output.exists()


@pytest.mark.slow
def test_user_npz_and_a_missing_set(trainers, tmp_path: Path) -> None:
    raw = synthesize(1500, 90, 5)
    np.savez(tmp_path / "transfer.npz", **raw)
    np.savez(tmp_path / "half.npz", dft_X=raw["dft_X"], dft_chi=raw["dft_chi"])
    args = ["--epochs", "1", *TINY[4:]]
    results = trainers.run_all(
        {
            "npz": ("transfer", ["--data", str(tmp_path), *args]),
            "half": ("transfer", ["--data", str(tmp_path / "half.npz"), *args]),
        }
    )
    assert results["npz"].rc == ExitCode.OK, results["npz"].explain()
    results["npz"].assert_staged_metric_lines([(1, STAGE1_METRICS), (1, FINAL_METRICS)])
    assert results["half"].rc == ExitCode.DATA, results["half"].explain()
    results["half"].assert_one_stderr_line("trial failed: --data: missing exp_X, exp_chi, exp_soluble")


def test_config_does_not_import_torch() -> None:
    code = "import sys, hpoctl.trainers.transfer, hpoctl.trainers.transfer.data;print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
