"""Models out of the built-in trainers: `--save-model` keeps the weights of the epoch the strategy picks, and
`--evaluate-model` loads them back and scores exactly what the trial reported for that epoch. Four trainers, one per
kind of validation (classifier logits, TSS over thresholds, a walk-forward forecast, transfer's stage-2 refit); csi
is a classifier like mlp, through the same code, and left out for the suite's time."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from hpoctl.models import evaluate_command
from hpoctl.trainers.common.exit_codes import ExitCode

# Small runs of each trainer (the trainers' own tests use the same sizes), 3 epochs.
RUNS = {
    "mlp": ("--target", "default", "--n-samples", "600", "--hidden_sizes=[32,32]", "--threads", "1"),
    "everest": ("--target", "M_24h", "--n-samples", "400", "--embed_dim=16", "--num_blocks=1", "--batch_size=64",
                "--threads", "1"),
    "forecast": ("--target", "NHITS_Q@heat", "--n-days", "60", "--input-size", "48", "--max-train-batches", "8",
                 "--threads", "1", "--layer_widths=64", "--num_stacks=2"),
    "transfer": ("--target", "default", "--n-dft", "2000", "--n-exp", "90", "--stage2-epochs", "3", "--cv-folds",
                 "3", "--threads", "1", "--encoder_hidden_dims=64_32", "--encoder_latent_dim=16"),
}  # fmt: skip
SAVE_BY = {"mlp": "val_loss:min", "everest": "tss:max", "forecast": "val_loss:latest", "transfer": None}


def _pick(history: list[dict], metric: str, strategy: str) -> dict:
    entries = [e for e in history if metric in e]
    if strategy == "latest":
        return entries[-1]
    best = max if strategy == "max" else min
    value = best(e[metric] for e in entries)
    return next(e for e in entries if e[metric] == value)  # the first epoch reaching it


@pytest.fixture(scope="module")
def saved(trainers) -> dict:
    runs = {}
    for name, args in RUNS.items():
        save_by = ["--save-by", SAVE_BY[name]] if SAVE_BY[name] else []
        model = trainers.root / f"{name}-model"
        runs[name] = (name, ["--epochs", "3", "--seed", "5", *args, "--save-model", str(model), *save_by])
    return trainers.run_all(runs)


@pytest.fixture(scope="module")
def scored(saved, trainers) -> dict:
    """Each saved model scored by its trainer's --evaluate-model, side by side."""
    runs = {}
    for name in RUNS:
        assert saved[name].rc == 0, saved[name].explain()
        argv = evaluate_command(trainers.root / f"{name}-model")
        runs[name] = (name, argv[3:])
    return trainers.run_all(runs)


@pytest.mark.parametrize("name", list(RUNS))
def test_the_strategy_epoch_is_saved_and_scores_the_same_when_loaded(name, saved, scored, trainers):
    done = saved[name]
    assert done.rc == 0, done.explain()
    model = trainers.root / f"{name}-model"
    info = json.loads((model / "model.json").read_text())
    history = done.metrics()["history"]
    metric, strategy = info["metric"], info["strategy"]
    summary = done.metrics()
    default = f"{summary['primary_metric']}:{'max' if summary['direction'] == 'maximize' else 'min'}"
    assert f"{metric}:{strategy}" == (SAVE_BY[name] or default)
    picked = _pick(history, metric, strategy)
    assert info["epoch"] == picked["epoch"] and info["value"] == picked[metric]
    checkpoint = torch.load(model / "model.ckpt", map_location="cpu", weights_only=False)
    assert checkpoint["state_dict"] and "pytorch-lightning_version" in checkpoint
    assert (model / "hyperparameters.yaml").read_text() == (done.output / "hyperparameters.yaml").read_text()

    argv = evaluate_command(model)
    assert argv[argv.index("--evaluate-model") + 1] == str(model)
    done = scored[name]
    assert done.rc == 0, done.explain()
    line = done.metrics()["history"]
    evaluated = {k: v for entry in line for k, v in entry.items() if k != "epoch"}
    assert line[0]["epoch"] == info["epoch"]
    assert evaluated[metric] == info["value"], f"{metric}: scored {evaluated[metric]}, saved {info['value']}"
    for key, value in evaluated.items():
        if key in picked and key != "train_loss":
            assert value == pytest.approx(picked[key], rel=1e-6, abs=1e-9), key


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--save-by", "tss:max"], "--save-by needs --save-model FOLDER"),
        (["--save-model", "m", "--save-by", "accuracy:max"], "give METRIC:STRATEGY with a metric of everest"),
        (["--save-model", "m", "--save-by", "tss:best"], "a strategy of max, min, latest"),
        (["--save-model", "m", "--evaluate-model", "m"], "--save-model and --evaluate-model exclude each other"),
    ],
)
def test_bad_model_flags_are_one_usage_line(trainers, args, fragment):
    done = trainers.run("everest", "--target", "M_24h", *args)
    assert done.rc == ExitCode.USAGE
    done.assert_one_stderr_line(fragment)


def test_evaluating_a_folder_without_a_model_is_one_line(trainers, tmp_path: Path):
    done = trainers.run("mlp", "--n-samples", "200", "--threads", "1", "--evaluate-model", str(tmp_path))
    assert done.rc == ExitCode.USAGE
    done.assert_one_stderr_line("no model.ckpt there")
