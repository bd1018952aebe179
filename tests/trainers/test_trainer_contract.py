"""The trainer contract's pure parts, in-process and without torch: arguments, metric lines, exit codes,
the data cache, TSS, the synthetic data."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hpoctl.trainers.common import signals
from hpoctl.trainers.common.args import decode_value
from hpoctl.trainers.common.cache import DataCache, cache_key
from hpoctl.trainers.common.cli import parse_command_line
from hpoctl.trainers.common.errors import DataError, DivergedError, TrialInterrupted, UsageError
from hpoctl.trainers.common.exit_codes import ExitCode, TrialStatus
from hpoctl.trainers.common.metrics_io import KATIB_STDOUT_REGEX, format_metric_line, format_number
from hpoctl.trainers.common.report import Reporter, katib_push
from hpoctl.trainers.common.runner import classify
from hpoctl.trainers.everest.config import SPEC as EVEREST
from hpoctl.trainers.everest.data import prepare, synthesize, target_split
from hpoctl.trainers.everest.metrics import best_tss
from hpoctl.trainers.mlp.config import SPEC as MLP


def test_exit_codes_are_the_contract() -> None:
    assert [int(c) for c in ExitCode] == [0, 1, 2, 3, 4, 5, 143]
    assert TrialStatus.for_exit_code(0) is TrialStatus.COMPLETED
    assert TrialStatus.for_exit_code(143) is TrialStatus.INTERRUPTED
    assert TrialStatus.for_exit_code(3) is TrialStatus.FAILED


@pytest.mark.parametrize(
    ("error", "code", "status"),
    [
        (TrialInterrupted(15), 143, "interrupted"),
        (DivergedError("loss became nan at epoch 1 batch 4 (lr=1000.0 diverged)"), 3, "failed"),
        (DataError("--data: x.npz does not exist"), 4, "failed"),
        (MemoryError(), 5, "failed"),
        (RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"), 5, "failed"),
        (ValueError("something\nunexpected"), 1, "failed"),
    ],
)
def test_classify_maps_errors_to_exit_codes(error: BaseException, code: int, status: str) -> None:
    got_code, got_status, reason = classify(error)
    assert (got_code, got_status.value) == (code, status)
    assert "\n" not in reason


@pytest.mark.parametrize(
    ("raw", "value"),
    [("128", 128), ("3e-4", 3e-4), ("[64,64]", [64, 64]), ("[64, 64]", [64, 64]), ("M", "M"),
     ("abc", "abc"), ("true", "true"), ("null", "null"), ('"x"', "x")],
)  # fmt: skip
def test_decode_value(raw: str, value: object) -> None:
    assert decode_value(raw) == value


def test_textual_fields_stay_raw() -> None:
    assert decode_value("2024", Path | None) == "2024"


def test_target_fixes_its_arguments() -> None:
    parsed = parse_command_line(EVEREST, ["--target", "X_72h", "--epochs", "3", "--embed_dim=64"])
    assert parsed.run.target == "X_72h" and parsed.run.epochs == 3
    assert (parsed.data.flare_class, parsed.data.window) == ("X", 72)
    assert parsed.hparams.embed_dim == 64 and parsed.hparams.batch_size == 512
    derived = parse_command_line(EVEREST, ["--flare-class", "C", "--window", "48"])
    assert derived.run.target == "C_48h"
    same = parse_command_line(EVEREST, ["--target", "M_24h", "--flare-class", "M", "--window", "24"])
    assert same.run.target == "M_24h"
    assert parse_command_line(EVEREST, []).run.target == "M_24h"


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--target", "M_24h", "--flare-class", "X"], "--flare-class=X contradicts --target=M_24h"),
        (["--window", "48"], "give --target, or both --flare-class and --window"),
        (["--embed_dim=big", "--dropout=true"], "--embed_dim='big': Input should be a valid integer"),
        (["--learning_rate=nan"], "--learning_rate='nan'"),
        (["--learning_rate=-1"], "greater than 0"),
        (["--num-blocks=4"], "did you mean --num_blocks?"),
        (["--embed"], "unrecognized arguments: --embed"),
        (["--epochs", "0"], "--epochs='0': Input should be greater than or equal to 1"),
    ],
)
def test_bad_everest_arguments_are_one_line(argv: list[str], fragment: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_command_line(EVEREST, argv)
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_every_problem_is_named_at_once() -> None:
    with pytest.raises(UsageError, match=r"--embed_dim='big'.*; --dropout='true'"):
        parse_command_line(EVEREST, ["--embed_dim=big", "--dropout=true"])


@pytest.mark.parametrize("value", ["[256,256]", "256,256", "[256, 256]"])
def test_mlp_hidden_sizes_spellings(value: str) -> None:
    assert parse_command_line(MLP, [f"--hidden_sizes={value}"]).hparams.hidden_sizes == [256, 256]


def test_metric_line_is_katib_readable() -> None:
    line = format_metric_line({"epoch": 3, "tss": 0.6123456789012, "val_loss": 1e-7, "delta": -2.5, "big": 1.5e20})
    assert line == "epoch=3 tss=0.6123456789 val_loss=1e-07 delta=-2.5 big=1.5e+20"
    for pair in line.split():
        assert KATIB_STDOUT_REGEX.fullmatch(pair), pair
    assert [m[0] for m in KATIB_STDOUT_REGEX.findall(line)] == ["epoch", "tss", "val_loss", "delta", "big"]


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_metrics_are_never_printed(value: float) -> None:
    with pytest.raises(ValueError):
        format_number(value)


def test_reporter_rewrites_metrics_json_and_refuses_nan(tmp_path: Path) -> None:
    stream = _Stream()
    reporter = Reporter(MLP, "default", 3, tmp_path, stream)
    reporter.data_prepared(0.5, cache_hit=False)
    reporter.epoch_end(1, {"validation_error": 0.3, "val_loss": 0.9, "train_loss": 1.0})
    reporter.epoch_end(2, {"validation_error": 0.2, "val_loss": 0.8, "train_loss": 0.7})
    written = json.loads((tmp_path / "metrics.json").read_text())
    assert written["status"] == "running" and written["epochs_completed"] == 2
    assert written["best"]["epoch"] == 2 and written["final"]["epoch"] == 2
    with pytest.raises(DivergedError, match="val_loss became nan at epoch 3"):
        reporter.epoch_end(3, {"validation_error": 0.2, "val_loss": math.nan, "train_loss": 0.7})
    reporter.finish(TrialStatus.FAILED, "val_loss became nan at epoch 3")
    written = json.loads((tmp_path / "metrics.json").read_text())
    assert written["status"] == "failed" and len(written["history"]) == 2
    assert stream.text.splitlines() == [
        "epoch=1 validation_error=0.3 val_loss=0.9 train_loss=1",
        "epoch=2 validation_error=0.2 val_loss=0.8 train_loss=0.7",
    ]
    assert list(tmp_path.glob("*.tmp")) == []


def test_katib_push_only_inside_a_trial(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.delenv("KATIB_TRIAL_NAME", raising=False)
    assert katib_push("stdout") is None
    assert katib_push("push") is None
    assert "KATIB_TRIAL_NAME" in capsys.readouterr().err

    import kubeflow.katib

    pushed: list[dict] = []
    monkeypatch.setenv("KATIB_TRIAL_NAME", "everest-m24h-abc")
    monkeypatch.setattr(kubeflow.katib, "report_metrics", lambda metrics: pushed.append(metrics))
    push = katib_push("push")
    assert push is not None
    push({"epoch": 1, "tss": 0.5})
    assert pushed == [{"epoch": 1, "tss": 0.5}]

    def unreachable(metrics: dict) -> None:
        raise RuntimeError("Unable to push metrics to Katib DB")

    monkeypatch.setattr(kubeflow.katib, "report_metrics", unreachable)
    push = katib_push("push")
    assert push is not None
    push({"epoch": 1})
    push({"epoch": 2})
    assert capsys.readouterr().err.count("pushing metrics to Katib failed") == 1


def test_cache_miss_then_hit(tmp_path: Path) -> None:
    cache = DataCache(tmp_path / "cache")
    calls: list[int] = []

    def prepare_arrays() -> dict[str, np.ndarray]:
        calls.append(1)
        return {"X": np.arange(12, dtype=np.float32).reshape(3, 4), "names": np.array(["a", "b", "c"])}

    first = cache.load_or_prepare("everest", "synthetic", {"n": 3}, prepare_arrays)
    second = cache.load_or_prepare("everest", "synthetic", {"n": 3}, prepare_arrays)
    assert (first.cache_hit, second.cache_hit, len(calls)) == (False, True, 1)
    assert np.array_equal(first.arrays["X"], second.arrays["X"])
    assert list(second.arrays["names"]) == ["a", "b", "c"]
    other = cache.load_or_prepare("everest", "synthetic", {"n": 4}, prepare_arrays)
    assert other.cache_hit is False and len(calls) == 2
    assert sorted(p.suffix for p in (tmp_path / "cache").iterdir()) == [".npz", ".npz"]


def test_corrupt_cache_entry_is_prepared_again(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    cache = DataCache(tmp_path)
    path = cache.path_for("mlp", cache_key("mlp", "synthetic", {}))
    path.write_bytes(b"not a zip file")
    result = cache.load_or_prepare("mlp", "synthetic", {}, lambda: {"y": np.ones(2)})
    assert result.cache_hit is False and "unreadable cache entry" in capsys.readouterr().err
    assert cache.load_or_prepare("mlp", "synthetic", {}, lambda: {"y": np.zeros(2)}).cache_hit is True


def test_unwritable_cache_only_costs_speed(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = DataCache(blocker / "cache").load_or_prepare("mlp", "synthetic", {}, lambda: {"y": np.ones(2)})
    assert result.cache_hit is False and result.path is None
    assert "not caching prepared data" in capsys.readouterr().err


def test_cache_key_depends_on_source_and_every_argument() -> None:
    base = cache_key("everest", "synthetic", {"n": 1, "seq": 2})
    assert base == cache_key("everest", "synthetic", {"seq": 2, "n": 1})
    assert base != cache_key("everest", "synthetic", {"n": 1, "seq": 3})
    assert base != cache_key("everest", {"path": "/d", "size": 1, "mtime_ns": 2}, {"n": 1, "seq": 2})
    assert base != cache_key("mlp", "synthetic", {"n": 1, "seq": 2})


def test_tss_at_the_best_threshold() -> None:
    assert best_tss(np.array([0.9, 0.8, 0.3, 0.2]), np.array([1, 1, 0, 0])) == (1.0, 0.8)
    tss, threshold = best_tss(np.array([0.9, 0.6, 0.5, 0.1]), np.array([1, 0, 1, 0]))
    assert tss == pytest.approx(0.5) and threshold == 0.9
    tss, threshold = best_tss(np.array([0.1, 0.9]), np.array([1, 0]))  # anti-correlated: forecast nothing
    assert tss == 0.0 and threshold > 0.9
    assert best_tss(np.full(4, 0.5), np.array([1, 0, 1, 0]))[0] == 0.0  # ties stay together


def test_synthetic_flares_have_realistic_imbalance() -> None:
    prepared = prepare(synthesize(2000, 12, 12, data_seed=0, signal_strength=1.0), None, None)
    rate = {name[2:]: float(y.mean()) for name, y in prepared.items() if name.startswith("y_")}
    for window in (24, 48, 72):
        assert rate[f"C_{window}h"] > rate[f"M_{window}h"] > rate[f"X_{window}h"] > 0
    for flare_class in "CMX":
        assert rate[f"{flare_class}_24h"] < rate[f"{flare_class}_48h"] < rate[f"{flare_class}_72h"]
    assert 0.2 < rate["C_24h"] < 0.5 and rate["X_24h"] < 0.05
    assert prepared["X"].dtype == np.float32 and prepared["X"].shape[1:] == (12, 12)
    assert np.isfinite(prepared["X"]).all()


def test_synthetic_data_is_deterministic_and_seeded() -> None:
    a, b = synthesize(300, 8, 4, 5, 1.0), synthesize(300, 8, 4, 5, 1.0)
    assert all(np.array_equal(a[k], b[k], equal_nan=a[k].dtype.kind == "f") for k in a)
    assert not np.array_equal(a["X"], synthesize(300, 8, 4, 6, 1.0)["X"], equal_nan=True)


def test_target_without_labels_is_a_data_error() -> None:
    raw = synthesize(400, 8, 4, 3, 1.0)
    prepared = prepare({"X": raw["X"], "split": raw["split"], "y_M_24h": raw["max_class_24h"] >= 2}, None, None)
    assert len(target_split(prepared, "M_24h")) == 4
    with pytest.raises(DataError, match="no labels for target X_72h"):
        target_split(prepared, "X_72h")


def test_signal_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    signals.reset()
    signals.check()
    signals._handler(15, None)
    with pytest.raises(TrialInterrupted) as info:
        signals.check()
    assert info.value.exit_code == 143
    signals.reset()


class _Stream:
    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> int:
        self.text += text
        return len(text)

    def flush(self) -> None:
        pass


def test_common_package_does_not_import_torch() -> None:
    """--help, usage errors and the backends reading ExitCode must not pay for importing torch."""
    code = (
        "import sys, hpoctl.trainers.common, hpoctl.trainers.everest, hpoctl.trainers.mlp;print('torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
