"""The CSI trainer: metric, early stopping, optimizers, networks and data as pure functions, then the trainer as a
subprocess, the way every backend runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from hpoctl.trainers.common.cli import parse_command_line
from hpoctl.trainers.common.errors import DataError, UsageError
from hpoctl.trainers.common.exit_codes import ExitCode
from hpoctl.trainers.csi.config import CLASSES, SPEC, CsiHparams, ignored_hyperparameters
from hpoctl.trainers.csi.data import TRAIN, VAL, prepare, read_folder, synthesize
from hpoctl.trainers.csi.metrics import macro_f1
from hpoctl.trainers.csi.model import Bottleneck, DenseLayer, build_network
from hpoctl.trainers.csi.module import EarlyStopping, build_optimizer, class_weights
from hpoctl.trainers.csi.train import TrainingBatches

TINY = ("--n-images", "150", "--base-width", "4", "--threads", "1", "--architecture=Custom_1")
METRICS = SPEC.metrics


def test_macro_f1() -> None:
    assert macro_f1(np.array([0, 1, 2, 4]), np.array([0, 1, 2, 4])) == 1.0
    # class 0: TP 1, FP 1, FN 0 -> 2/3; class 1: TP 0, FN 1 -> 0; class 4: TP 1 -> 1
    assert macro_f1(np.array([0, 0, 4]), np.array([0, 1, 4])) == pytest.approx((2 / 3 + 0 + 1) / 3)
    assert macro_f1(np.zeros(10, dtype=int), np.arange(10) % 5) == pytest.approx((2 * 2 / (2 * 2 + 8)) / 5)


def test_early_stopping_waits_patience_epochs_without_improvement() -> None:
    rule = EarlyStopping(patience=2)
    assert [rule.update(epoch, value) for epoch, value in enumerate([0.3, 0.5, 0.5, 0.6, 0.4, 0.6], 1)] == [
        False, False, False, False, False, True,
    ]  # fmt: skip
    assert rule.stopped == {"epoch": 6, "best_epoch": 4, "best_val_f1": 0.6, "patience": 2}


def test_optimizers_take_their_hyperparameters() -> None:
    params = [torch.nn.Parameter(torch.zeros(2))]
    adam = build_optimizer(CsiHparams(optimizer="adam", weight_decay=0.1), params)
    adamw = build_optimizer(CsiHparams(optimizer="adamw", weight_decay=0.01), params)
    sgd = build_optimizer(CsiHparams(optimizer="sgd", weight_decay=0.001, momentum=0.7, learning_rate=0.1), params)
    assert type(adam) is torch.optim.Adam and adam.defaults["weight_decay"] == 0
    assert type(adamw) is torch.optim.AdamW and adamw.defaults["weight_decay"] == 0.01
    assert type(sgd) is torch.optim.SGD and (sgd.defaults["momentum"], sgd.defaults["weight_decay"]) == (0.7, 0.001)
    given = parse_command_line(SPEC, ["--optimizer=adam", "--weight_decay=1e-3", "--momentum=0.9"]).hparams
    assert ignored_hyperparameters(given) == ["weight_decay", "momentum"]
    assert ignored_hyperparameters(parse_command_line(SPEC, ["--optimizer=sgd", "--momentum=0.9"]).hparams) == []
    assert ignored_hyperparameters(CsiHparams(optimizer="adam")) == []  # defaults are not "given"
    assert class_weights(0.25).tolist() == [1, 1, 1, 1, 0.25]


@pytest.mark.parametrize(("n", "batch"), [(33, 16), (32, 16), (17, 16), (1, 16), (5, 2)])
def test_training_batches_never_hold_a_single_image(n: int, batch: int) -> None:
    batches = TrainingBatches((torch.arange(n),), batch, shuffle=True, seed=0)
    sizes = [len(b[0]) for b in batches]
    assert len(sizes) == len(batches)
    assert all(size > 1 for size in sizes) or n == 1
    assert sum(sizes) >= n - 1


@pytest.mark.parametrize("architecture", ["ResNet50", "CheXNet", "Custom_1"])
def test_networks_keep_their_families_shapes(architecture: str) -> None:
    net = build_network(architecture, width=8, n_classes=len(CLASSES))
    out = net(torch.randn(2, 1, 32, 32))
    assert out.shape == (2, 5)
    if architecture == "ResNet50":
        assert sum(isinstance(m, Bottleneck) for m in net.modules()) == 3 + 4 + 6 + 3
        assert net[-1].in_features == 8 * 8 * Bottleneck.expansion
    if architecture == "CheXNet":
        assert sum(isinstance(m, DenseLayer) for m in net.modules()) == 6 + 12 + 24 + 16


def test_synthetic_images_are_deterministic_balanced_and_separable() -> None:
    raw = synthesize(500, 32, 0)
    assert np.array_equal(raw["images"], synthesize(500, 32, 0)["images"])
    assert raw["images"].shape == (500, 32, 32) and raw["images"].dtype == np.uint8
    assert np.bincount(raw["labels"]).tolist() == [100] * 5
    assert (raw["split"] == VAL).sum() == 100
    lung = raw["images"][:, 11:21, 19:25].astype(float) / 255  # inside the right lung field
    brightness = [lung[raw["labels"] == c].mean() for c in range(5)]
    roughness = [sum(np.abs(np.diff(lung[raw["labels"] == c], axis=axis)).mean() for axis in (1, 2)) for c in range(5)]
    assert brightness[:4] == sorted(brightness[:4]) and roughness[:4] == sorted(roughness[:4])  # grow with grade
    assert roughness[4] > roughness[1]  # the unknown class's artefacts


def test_image_folder_and_npz_formats(tmp_path: Path) -> None:
    from PIL import Image

    raw = synthesize(60, 16, 1)
    for i, (image, label) in enumerate(zip(raw["images"], raw["labels"], strict=True)):
        folder = tmp_path / "png" / CLASSES[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.kron(image, np.ones((2, 2), dtype=np.uint8))).convert("RGB").save(folder / f"{i}.png")
    read = read_folder(tmp_path / "png", 16)
    assert sorted(read["labels"].tolist()) == sorted(raw["labels"].tolist()) and read["images"].shape == (60, 16, 16)
    prepared = prepare(read, 16, data_seed=0)
    assert prepared["images"].shape == (60, 1, 16, 16) and prepared["images"].dtype == np.float32
    assert abs(float(prepared["images"][prepared["split"] == TRAIN].mean())) < 1e-4
    named = prepare({"images": raw["images"], "labels": np.array(CLASSES)[raw["labels"]]}, 16, 0)
    assert np.array_equal(named["labels"], raw["labels"])
    (tmp_path / "png" / "severe").mkdir()
    with pytest.raises(DataError, match="class folders are 0, 1, 2, 3, unknown"):
        read_folder(tmp_path / "png", 16)
    with pytest.raises(DataError, match="labels must be 0-3"):
        prepare({"images": raw["images"], "labels": raw["labels"] + 3}, 16, 0)


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--architecture=VGG16"], "--architecture='VGG16'"),
        (["--optimizer=rmsprop"], "--optimizer='rmsprop'"),
        (["--patience=0"], "--patience='0'"),
        (["--data", "x", "--n-images", "300"], "--n-images: for synthetic data only"),
    ],
)
def test_bad_csi_arguments_are_one_line(argv: list[str], fragment: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_command_line(SPEC, argv)
    assert fragment in str(info.value) and "\n" not in str(info.value)


@pytest.fixture(scope="module")
def runs(trainers) -> dict:
    """Independent runs, concurrently: a fresh-cache trial, a diverging one, the F1 comparison, early stopping."""
    comparison = ("--epochs", "3", "--seed", "0", "--n-images", "600", "--base-width", "8", "--threads", "1",
                  "--architecture=Custom_1", "--batch_size=16")  # fmt: skip
    first = trainers.run_all(
        {
            "first": ("csi", ["--target", "default", "--epochs", "2", "--seed", "4", "--base-width", "4",
                              "--threads", "1", "--architecture=ResNet50", "--optimizer=sgd", "--learning_rate=0.05",
                              "--max-train-batches", "10"]),
            "diverged": ("csi", ["--epochs", "2", *TINY, "--optimizer=sgd", "--learning_rate=1e30"]),
            "good": ("csi", [*comparison, "--optimizer=adam", "--learning_rate=3e-3"]),
            "degenerate": ("csi", [*comparison, "--optimizer=sgd", "--learning_rate=1e-6", "--momentum=0.5"]),
        }
    )  # fmt: skip
    first |= trainers.run_all(
        {
            "second": ("csi", ["--target", "default", "--epochs", "2", "--seed", "4", "--base-width", "4",
                               "--threads", "1", "--architecture=ResNet50", "--optimizer=sgd",
                               "--learning_rate=0.05", "--max-train-batches", "10"]),
            "early": ("csi", ["--epochs", "6", *TINY, "--optimizer=sgd", "--learning_rate=1e-12", "--patience=1"]),
            "ignored": ("csi", ["--epochs", "1", *TINY, "--optimizer=adam", "--momentum=0.9",
                                "--architecture=CheXNet"]),
        }
    )  # fmt: skip
    return first


@pytest.mark.slow
def test_metric_lines_metrics_json_and_hyperparameters_yaml(runs: dict) -> None:
    first = runs["first"]
    assert first.rc == ExitCode.OK, first.explain()
    first.assert_metric_lines(epochs=2, metrics=METRICS)
    assert first.stderr_lines == [], first.stderr
    metrics = first.metrics()
    assert metrics["status"] == "completed" and metrics["early_stopped"] is None
    assert metrics["primary_metric"] == "val_f1" and metrics["direction"] == "maximize"
    assert metrics["best"]["val_f1"] == max(e["val_f1"] for e in metrics["history"]) and metrics["cache_hit"] is False
    document = first.hyperparameters()
    assert document["target"] == "default" and document["target_args"] == {}
    assert (
        document["hyperparameters"]
        == CsiHparams(architecture="ResNet50", optimizer="sgd", learning_rate=0.05).model_dump()
    )


@pytest.mark.slow
def test_same_seed_same_metrics_and_a_cheap_cached_data_prep(runs: dict) -> None:
    first, second = runs["first"], runs["second"]
    assert second.rc == ExitCode.OK, second.explain()
    assert second.stdout == first.stdout
    assert second.metrics()["cache_hit"] is True
    # seed 002's cache: the next trial's data preparation is a small fraction of the first's
    assert second.metrics()["data_prep_seconds"] < 0.2 * first.metrics()["data_prep_seconds"]


@pytest.mark.slow
def test_diverging_learning_rate_exits_3(runs: dict) -> None:
    diverged = runs["diverged"]
    assert diverged.rc == ExitCode.DIVERGED, diverged.explain()
    diverged.assert_one_stderr_line("trial failed: ", "became", "(learning_rate=1e+30 diverged)")
    assert diverged.metrics()["status"] == "failed"


@pytest.mark.slow
def test_trained_classifier_beats_a_degenerate_learning_rate(runs: dict) -> None:
    good, degenerate = runs["good"], runs["degenerate"]
    assert good.rc == degenerate.rc == ExitCode.OK, good.explain() + degenerate.explain()
    good_f1, degenerate_f1 = good.metrics()["best"]["val_f1"], degenerate.metrics()["best"]["val_f1"]
    assert good_f1 >= degenerate_f1 + 0.3, (good_f1, degenerate_f1)


@pytest.mark.slow
def test_early_stopping_prints_the_last_epoch_and_says_so(runs: dict) -> None:
    early = runs["early"]
    assert early.rc == ExitCode.OK, early.explain()
    metrics = early.metrics()
    stopped = metrics["early_stopped"]
    assert stopped is not None and stopped["patience"] == 1, metrics
    assert stopped["epoch"] - stopped["best_epoch"] == 1 and stopped["epoch"] < 6
    assert metrics["status"] == "completed" and metrics["epochs_completed"] == stopped["epoch"]
    early.assert_metric_lines(epochs=stopped["epoch"], metrics=METRICS)


@pytest.mark.slow
def test_inactive_hyperparameters_are_accepted_with_a_note(runs: dict) -> None:
    ignored = runs["ignored"]
    assert ignored.rc == ExitCode.OK, ignored.explain()
    ignored.assert_one_stderr_line("note: --momentum ignored: optimizer adam does not use it")
    ignored.assert_metric_lines(epochs=1, metrics=METRICS)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--architecture=VGG16"], "--architecture='VGG16'"),
        (["--unknown_weight=0"], "--unknown_weight='0'"),
        (["--target", "M_24h"], "--target='M_24h' is not a target of csi; allowed: default"),
        (["--batch-size=32"], "did you mean --batch_size?"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(trainers, args: list[str], fragment: str) -> None:
    finished = trainers.run("csi", *args)
    assert finished.rc == ExitCode.USAGE, finished.explain()
    finished.assert_one_stderr_line(fragment)
    assert finished.stdout == "" and not finished.output.exists()


@pytest.mark.slow
def test_user_image_folder_and_a_broken_npz(trainers, tmp_path: Path) -> None:
    from PIL import Image

    raw = synthesize(100, 16, 2)
    for split_name, split_value in (("train", TRAIN), ("val", VAL)):
        for i in np.flatnonzero(raw["split"] == split_value):
            folder = tmp_path / "images" / split_name / CLASSES[raw["labels"][i]]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(raw["images"][i]).save(folder / f"{i}.png")
    np.savez(tmp_path / "bad.npz", images=raw["images"], labels=raw["labels"][:10])
    args = ["--epochs", "1", "--image-size", "16", "--base-width", "4", "--threads", "1", "--architecture=Custom_1"]
    results = trainers.run_all(
        {
            "png": ("csi", ["--data", str(tmp_path / "images"), *args]),
            "bad": ("csi", ["--data", str(tmp_path / "bad.npz"), *args]),
        }
    )
    assert results["png"].rc == ExitCode.OK, results["png"].explain()
    results["png"].assert_metric_lines(epochs=1, metrics=METRICS)
    assert results["bad"].rc == ExitCode.DATA, results["bad"].explain()
    results["bad"].assert_one_stderr_line("trial failed: --data: need images [N, H, W] and labels [N]")


def test_config_does_not_import_torch() -> None:
    code = "import sys, hpoctl.trainers.csi, hpoctl.trainers.csi.data;print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
