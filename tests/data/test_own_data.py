"""A team's own data: the spec's `data:` and `--data` reach the trainer on every backend, `hpoctl data check`
reads it with the trainer's own loader and lists every problem, and a launch on bad data starts no trial."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from hpoctl.catalog import load_study
from hpoctl.plan import build_plans
from tests.local.conftest import toy_spec

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "data"


@pytest.fixture(scope="module")
def examples(tmp_path_factory) -> Path:
    """The example files as the script makes them (the committed ones must be what it makes)."""
    out = tmp_path_factory.mktemp("examples")
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "make_examples.py"), "--out", str(out)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return out


def test_the_committed_examples_are_what_the_script_makes(examples):
    made = sorted(p.relative_to(examples) for p in examples.rglob("*") if p.is_file())
    kept = sorted(p.relative_to(EXAMPLES) for p in EXAMPLES.rglob("*") if p.is_file() and p.suffix != ".py")
    assert made == kept
    for relative in made:
        assert (examples / relative).read_bytes() == (EXAMPLES / relative).read_bytes(), relative


@pytest.mark.parametrize(
    ("study", "target", "path"),
    [
        ("everest", "M_24h", "everest/everest.csv"),
        ("mlp", "default", "mlp/mlp.csv"),
        ("csi", "default", "csi"),
        ("transfer", "default", "transfer"),
    ],
)
def test_every_example_passes_its_trainers_check(study, target, path, examples, cli):
    done = cli("data", "check", study, "--target", target, str(examples / path))
    assert done.code == 0, done.err
    assert f"{study}/{target}: {examples / path}: " in done.out


def test_a_forecast_series_may_have_any_name(examples):
    argv = [sys.executable, "-m", "hpoctl.trainers.forecast", "--target", "NHITS_Q@my_site", "--check-data"]
    done = subprocess.run([*argv, "--data", str(examples / "forecast")], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.startswith("data ok: "), done.stderr
    synthetic = subprocess.run([*argv[:-1], "--epochs", "1"], capture_output=True, text=True)
    assert synthetic.returncode == 2 and "give --data with my_site.csv or .parquet" in synthetic.stderr


def _broken_sharp(examples: Path, tmp_path: Path) -> Path:
    rows = list(csv.reader((examples / "everest" / "everest.csv").read_text().splitlines()))
    header = rows[0]
    rows[5][header.index("TOTUSJZ")] = "abc"
    rows[7][header.index("T_REC")] = "yesterday"
    rows[9][header.index("max_class_24h")] = "Q"
    rows[11][2:18] = [""] * 16  # a row without any keyword
    path = tmp_path / "broken.csv"
    with path.open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    return path


def test_every_problem_of_a_sharp_csv_is_one_line(examples, tmp_path, cli):
    done = cli("data", "check", "everest", "--target", "M_24h", str(_broken_sharp(examples, tmp_path)))
    lines = done.err.splitlines()
    assert done.code == 1 and len(lines) == 4 and all(line.startswith("error: ") for line in lines), done.err
    for expected in (
        "column TOTUSJZ is not numeric: 1 value(s) such as 'abc' (line 6)",
        "column T_REC: 1 value(s) are not a time, such as 'yesterday' (line 8)",
        "column max_class_24h: 1 value(s) such as 'Q' (line 10)",
        "1 row(s) have no keyword value at all",
    ):
        assert expected in done.err, done.err


def test_a_split_without_positives_and_missing_columns(examples, tmp_path, cli):
    rows = list(csv.reader((examples / "everest" / "everest.csv").read_text().splitlines()))
    header = rows[0]
    for row in rows[1:]:
        if row[header.index("split")] == "val":
            row[header.index("max_class_24h")] = ""
    path = tmp_path / "no-val-flares.csv"
    with path.open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    done = cli("data", "check", "everest", "--target", "M_24h", str(path))
    assert done.code == 1 and "M_24h: the val split has no positives of M_24h among 349 samples" in done.err
    assert cli("data", "check", "everest", "--target", "M_72h", str(path)).code == 0, "other windows are fine"
    (tmp_path / "bare.csv").write_text("USFLUX,TOTUSJH\n1,2\n")
    bare = cli("data", "check", "everest", "--target", "M_24h", str(tmp_path / "bare.csv"))
    assert bare.code == 1 and "missing column(s) HARPNUM, T_REC" in bare.err and "no label column" in bare.err


def test_every_problem_of_an_npz_is_one_line(tmp_path, cli):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 8, 4))
    x[3] = np.nan
    x[4, 0, 0] = np.inf
    x[:, :, 2][np.arange(60) < 40] = np.nan  # parameter 2: nothing in training
    split = np.array([0] * 40 + [1] * 10 + [2] * 10)
    y = np.zeros(60, dtype=int)
    y[:5] = 1  # positives in training only
    np.savez(tmp_path / "everest.npz", X=x, split=split, y_M_24h=y)
    done = cli("data", "check", "everest", "--target", "M_24h", str(tmp_path))
    assert done.code == 1, done.err
    for expected in (
        "1 sample(s) hold an infinite value",
        "1 sample(s) are NaN throughout",
        "parameter(s) f2 have no finite value in the training split",
        "the val split has no positives of M_24h among 10 samples",
    ):
        assert expected in done.err, done.err
    other = cli("data", "check", "everest", "--target", "X_24h", str(tmp_path))
    assert "no labels for target X_24h (need y_X_24h or max_class_24h)" in other.err


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("missing.csv", None, "missing.csv does not exist"),
        ("notes.txt", "hello\n", "is neither SHARP CSV (.csv) nor arrays (.npz)"),
        ("empty-folder", "", "holds neither everest.csv nor everest.npz"),
        ("garbage.npz", "not a zip", "cannot read"),
    ],
)
def test_a_path_that_is_not_data(name, content, expected, tmp_path, cli):
    path = tmp_path / name
    if content == "":
        path.mkdir()
    elif content is not None:
        path.write_text(content)
    done = cli("data", "check", "everest", "--target", "M_24h", str(path))
    assert done.code == 1 and done.err.count("\n") == 1 and expected in done.err, done.err


def test_check_needs_data_and_a_trainer_that_checks(tmp_path, cli):
    nothing = cli("data", "check", "everest", "--target", "M_24h")
    assert nothing.code == 1 and "no data to check" in nothing.err
    spec = toy_spec(trainer={"command": [sys.executable, "-c", "import sys; sys.exit(0)"]})
    (tmp_path / "toy.yaml").write_text(yaml.safe_dump(spec))
    (tmp_path / "d.txt").write_text("x")
    done = cli("data", "check", str(tmp_path / "toy.yaml"), "--target", "small", str(tmp_path / "d.txt"))
    assert done.code == 1 and "the trainer's check exited 0" in done.err, done.err


def _toy_study(tmp_path: Path, **overrides) -> Path:
    spec = toy_spec(protocol=[{"name": "explore", "trials": 2, "epochs": 1}], **overrides)
    path = tmp_path / "study" / "toy.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(spec))
    return path


def _data_seen(results: Path) -> set[str]:
    return {
        json.loads(p.read_text())["data"] for p in (results / "toy" / "small" / "trials").glob("*/output/metrics.json")
    }


def test_the_specs_data_is_relative_to_the_spec_file_and_reaches_every_trial(tmp_path, cli):
    spec = _toy_study(tmp_path, data={"path": "shared.txt", "targets": {"large": "/elsewhere/large.txt"}})
    (spec.parent / "shared.txt").write_text("toy data\n")
    results = tmp_path / "results"
    done = cli("launch", str(spec), "-t", "small", "--results", str(results))
    assert done.code == 0, done.err
    assert _data_seen(results) == {str(spec.parent / "shared.txt")}
    (plan,) = build_plans(load_study(str(spec)), "large")
    assert plan.local_data() == "/elsewhere/large.txt"


def test_data_overrides_the_spec_and_bad_data_starts_no_trial(tmp_path, cli, monkeypatch):
    spec = _toy_study(tmp_path, data="shared.txt")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.txt").write_text("toy data\nlabel column is empty\nrow 7 is NaN\n")
    results = tmp_path / "results"
    done = cli("launch", str(spec), "-t", "small", "--data", "mine.txt", "--results", str(results))
    assert done.code == 1 and not results.exists(), done.err
    assert done.err.splitlines() == [
        f"error: --data {tmp_path / 'mine.txt'}: small: label column is empty",
        f"error: --data {tmp_path / 'mine.txt'}: small: row 7 is NaN",
    ]
    (tmp_path / "mine.txt").write_text("toy data\n")
    assert cli("launch", str(spec), "-t", "small", "--data", "mine.txt", "--results", str(results)).code == 0
    assert _data_seen(results) == {str(tmp_path / "mine.txt")}


def test_synthetic_only_arguments_are_left_out_with_data():
    (quick,) = build_plans(load_study("everest"), "M_24h", presets=["quick"])
    assert "--n-samples=1200" in quick.trainer_args({}, epochs=1, seed=0)
    (own,) = build_plans(load_study("everest"), "M_24h", presets=["quick"], data="/d/sharp.csv")
    args = own.trainer_args({}, epochs=1, seed=0)
    assert "--n-samples=1200" not in args and args[6:8] == ["--data", "/d/sharp.csv"]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("s3://bucket/sharp.csv", "data.path: 's3://bucket/sharp.csv': trainers read --data from a file system"),
        ({"targets": {"nonesuch": "x.csv"}}, "data.targets.nonesuch: not a target of the study"),
        ("  ", "data.path: an empty path"),
    ],
)
def test_bad_data_entries_in_a_spec(data, expected, tmp_path, cli):
    spec = _toy_study(tmp_path, data=data)
    done = cli("validate", str(spec))
    assert done.code == 1 and expected in done.err, done.err


def test_slurm_binds_the_data_read_only_and_passes_it_to_every_worker(tmp_path, cli):
    spec = _toy_study(tmp_path, data="shared.txt")
    done = cli("render", str(spec), "-t", "small", "--backend", "slurm")
    assert done.code == 0, done.err
    data = spec.parent / "shared.txt"
    assert f"--data {data}" in done.out
    assert f"{data}:{data}:ro" in done.out


def test_katib_reads_the_data_from_its_data_volume(tmp_path, cli):
    spec = _toy_study(tmp_path, data="sharp/2024.csv")
    done = cli("render", str(spec), "-t", "small", "--stage", "explore")
    assert done.code == 0, done.err
    assert "--data /data/sharp/2024.csv" in done.out and "claimName: hpoctl-data" in done.out
    outside = cli("render", str(spec), "-t", "small", "--stage", "explore", "--data", "/home/me/x.csv")
    assert outside.code == 2 and "give a path inside it (relative, or under /data)" in outside.err
    config = tmp_path / "hpoctl.yaml"
    config.write_text(yaml.safe_dump({"katib": {"data_pvc": None}}))
    unmounted = cli("render", str(spec), "-t", "small", "--stage", "explore", "--config", str(config))
    assert unmounted.code == 2 and "katib.data_pvc is null" in unmounted.err


def test_a_sharp_csv_trains_everest(examples, tmp_path):
    """The real trainer, one epoch on the example CSV: the arrays the check summarised are the ones trained on."""
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "hpoctl.trainers.everest", "--target", "M_24h", "--epochs", "1"]
    argv += ["--data", str(examples / "everest" / "everest.csv"), "--output", str(out), "--cache-dir", str(tmp_path)]
    done = subprocess.run([*argv, "--embed_dim=16", "--num_blocks=1"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("epoch=1 tss=")
    shutil.rmtree(out)
