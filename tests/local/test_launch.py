"""The local backend end to end with the toy trainer: stages, resume, faults, pruning, Pareto."""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from hpoctl import trial_record as rec


def _study(results: Path, target: str = "small") -> optuna.Study:
    return optuna.load_study(study_name=f"toy.{target}", storage=f"sqlite:///{results / 'toy' / target / 'study.db'}")


def _by_stage(study: optuna.Study, states=(TrialState.COMPLETE,)) -> dict[str, int]:
    counts: dict[str, int] = {}
    for t in study.get_trials(states=states):
        counts[t.user_attrs[rec.STAGE]] = counts.get(t.user_attrs[rec.STAGE], 0) + 1
    return counts


def test_launch_runs_every_stage_and_writes_results(write_spec, tmp_path, cli):
    spec = write_spec()
    results = tmp_path / "results"
    result = cli("launch", spec, "--target", "small", "--results", str(results))
    assert result.code == 0, result.err
    study = _study(results)
    assert _by_stage(study) == {"explore": 6, "refine": 3, "confirm": 6}  # the top 2, 3 fresh seeds each
    refine = sorted((t for t in study.trials if t.user_attrs[rec.STAGE] == "refine"), key=lambda t: t.value)
    confirm = [t for t in study.trials if t.user_attrs[rec.STAGE] == "confirm"]
    assert sorted({t.user_attrs[rec.SOURCE_TRIAL] for t in confirm}) == sorted(t.number for t in refine[:2])
    for t in confirm:
        assert t.params == study.trials[t.user_attrs[rec.SOURCE_TRIAL]].params
        assert t.user_attrs[rec.EPOCHS] == 5
    out = results / "toy" / "small"
    provenance = study.user_attrs[rec.STUDY_ATTR_PROVENANCE]
    assert provenance["trainer"]["command"][1].endswith("toy_trainer.py") and provenance["spec_sha256"]
    recorded = json.loads((results / "toy" / "small" / "provenance.json").read_text())
    assert {k: recorded[k] for k in provenance} == provenance, "provenance.json and the study agree"
    for name in ("best_params.json", "trials.csv", "top_trials.csv", "report.md", "spec.yaml", "provenance.json"):
        assert (out / name).is_file(), name
    assert json.loads((out / "best_params.json").read_text())["best_trial_number"] in {t.number for t in confirm}
    # each trial's own logs and the trainer's outputs are kept
    assert (out / "trials" / "00000" / "output" / "metrics.json").is_file()
    assert (out / "trials" / "00000" / "stdout.log").read_text().startswith("epoch=1 ")


def test_relaunch_adds_nothing(write_spec, tmp_path, cli):
    spec = write_spec(protocol=[{"name": "explore", "trials": 4, "epochs": 2}])
    results = tmp_path / "results"
    assert cli("launch", spec, "-t", "small", "--results", str(results)).code == 0
    assert cli("launch", spec, "-t", "small", "--results", str(results)).code == 0
    assert len(_study(results).trials) == 4


def test_max_trials_and_one_stage(write_spec, tmp_path, cli):
    spec = write_spec()
    results = tmp_path / "results"
    result = cli("launch", spec, "-t", "small", "--results", str(results), "--stage", "confirm")
    assert result.code == 1 and "run 'refine' first" in result.err
    assert (
        cli("launch", spec, "-t", "small", "--results", str(results), "--stage", "explore", "--max-trials", "6").code
        == 0
    )
    # 6 in all for 6 + 3 + 2x3 planned: a unit each (1, 1, 3 repeats), the one left over to the first stage
    assert _by_stage(_study(results)) == {"explore": 2}
    # with no refinement run, the top-k stage falls back to the stages before it
    assert cli("launch", spec, "-t", "small", "--results", str(results), "--stage", "confirm").code == 0
    study = _study(results)
    assert _by_stage(study) == {"explore": 2, "confirm": 6}
    sources = {t.user_attrs[rec.SOURCE_TRIAL] for t in study.trials if t.user_attrs[rec.STAGE] == "confirm"}
    assert sources == {0, 1}


def test_failing_trials_are_recorded_and_the_study_goes_on(write_spec, tmp_path, cli, monkeypatch):
    monkeypatch.setenv("TOY_FAIL_ABOVE", "0.5")
    spec = write_spec(
        protocol=[{"name": "explore", "trials": 8, "epochs": 2}], algorithm={"name": "random", "settings": {"seed": 5}}
    )
    results = tmp_path / "results"
    result = cli("launch", spec, "-t", "small", "--results", str(results))
    assert result.code == 0, result.err
    study = _study(results)
    failed = study.get_trials(states=(TrialState.FAIL,))
    assert failed, "the seed should sample some x above 0.5"
    assert len(study.trials) == 8
    for t in failed:
        assert t.params["x"] > 0.5
        assert "loss became nan" in t.user_attrs[rec.FAILURE] and "exit 3" in t.user_attrs[rec.FAILURE]
    rows = list(csv.DictReader((results / "toy" / "small" / "trials.csv").read_text().splitlines()))
    assert sum(1 for r in rows if "loss became nan" in (r.get("failure_reason") or "")) == len(failed)


def test_too_many_failures_stop_the_stage_with_one_line(write_spec, tmp_path, cli, monkeypatch):
    monkeypatch.setenv("TOY_FAIL_ABOVE", "-1")
    spec = write_spec(
        protocol=[{"name": "explore", "trials": 10, "epochs": 1}], limits={"parallelism": 1, "max_failed_trials": 2}
    )
    result = cli("launch", spec, "-t", "small", "--results", str(tmp_path / "r"))
    assert result.code == 1
    errors = [line for line in result.err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "max_failed_trials=2" in errors[0]
    assert "Traceback" not in result.err


def test_median_pruning_stops_bad_trials_early(write_spec, tmp_path, cli):
    spec = write_spec(
        protocol=[{"name": "explore", "trials": 12, "epochs": 6}],
        algorithm={"name": "random", "settings": {"seed": 2}},
        early_stopping={"name": "median", "settings": {"warmup_steps": 1, "min_trials": 3}},
        limits={"parallelism": 1},
    )
    results = tmp_path / "results"
    assert cli("launch", spec, "-t", "small", "--results", str(results)).code == 0
    pruned = _study(results).get_trials(states=(TrialState.PRUNED,))
    assert pruned
    for t in pruned:
        assert max(t.intermediate_values) < 6  # stopped before its last epoch


def test_multi_objective_pareto_front_is_exactly_the_non_dominated(write_spec, tmp_path, cli):
    spec = write_spec(
        objectives=[{"metric": "a", "direction": "minimize"}, {"metric": "loss", "direction": "minimize"}],
        algorithm={"name": "random", "settings": {"seed": 11}},
        protocol=[{"name": "search", "trials": 12, "epochs": 2}],
    )
    results = tmp_path / "results"
    assert cli("launch", spec, "-t", "small", "--results", str(results)).code == 0
    complete = _study(results).get_trials(states=(TrialState.COMPLETE,))

    def dominated(t):
        return any(
            all(a <= b for a, b in zip(o.values, t.values, strict=True)) and o.values != t.values for o in complete
        )

    front = {t.number for t in complete if not dominated(t)}
    pareto = json.loads((results / "toy" / "small" / "pareto.json").read_text())
    numbers = {p["number"] for p in pareto["front"]} if "front" in pareto else {p["number"] for p in pareto["trials"]}
    assert numbers == front


def test_unknown_backend_and_env_default(write_spec, cli, monkeypatch):
    spec = write_spec()
    result = cli("launch", spec, "-t", "small", "--backend", "mesos")
    assert result.code == 1 and "unknown backend 'mesos'" in result.err and "local" in result.err
    monkeypatch.setenv("HPOCTL_BACKEND", "nomad")
    result = cli("launch", spec, "-t", "small")
    assert result.code == 1 and "HPOCTL_BACKEND" in result.err


def test_dry_run_prints_the_trainer_command(write_spec, cli, tmp_path):
    result = cli("launch", write_spec(), "-t", "small", "--dry-run", "--results", str(tmp_path / "r"))
    assert result.code == 0
    assert "toy_trainer.py --target small --epochs 3 --seed 3 --size=1" in result.out
    assert not (tmp_path / "r").exists()


def test_results_pull_rewrites_the_summary_files_from_the_study(write_spec, tmp_path, cli):
    spec = write_spec(protocol=[{"name": "explore", "trials": 3, "epochs": 1}])
    results = tmp_path / "results"
    assert cli("launch", spec, "-t", "small", "--results", str(results)).code == 0
    out = results / "toy" / "small"
    started = json.loads((out / "provenance.json").read_text())["started_at"]
    best = json.loads((out / "best_params.json").read_text())
    (out / "best_params.json").unlink()
    (out / "trials.csv").write_text("stale\n")
    pulled = cli("results", "pull", spec, "-t", "small", "--results", str(results))
    assert pulled.code == 0 and f"toy/small: 3 trials; results in {out}" in pulled.err
    assert json.loads((out / "best_params.json").read_text())["best_params"] == best["best_params"]
    assert len((out / "trials.csv").read_text().splitlines()) == 4
    assert json.loads((out / "provenance.json").read_text())["started_at"] == started, "the launch's start is kept"


def test_status_reports_progress(write_spec, tmp_path, cli):
    spec = write_spec(protocol=[{"name": "explore", "trials": 3, "epochs": 1}])
    results = tmp_path / "results"
    cli("launch", spec, "-t", "small", "--results", str(results))
    result = cli("status", spec, "--results", str(results), "-o", "json")
    rows = {r["target"]: r for r in json.loads(result.out)}
    assert rows["small"]["state"] == "done" and rows["small"]["trials_done"] == 3
    assert rows["large"]["state"] == "not started"


def _launch(spec: str, results: Path, *, kill_after: float | None = None, term_when_running: bool = False):
    """Run `hpoctl launch` as a process; SIGKILL it after `kill_after` s, or SIGTERM it once a trial runs."""
    log = results.parent / "launch.log"
    results.mkdir(parents=True, exist_ok=True)
    with (
        open(log, "w") as err,
        subprocess.Popen(
            [sys.executable, "-m", "hpoctl", "launch", spec, "-t", "small", "--results", str(results)],
            stdout=subprocess.DEVNULL,
            stderr=err,
            env={**os.environ, "TOY_EPOCH_SLEEP": "0.05"},
        ) as process,
    ):
        if kill_after is not None:
            # wait for a new trial to start, so that each kill lands while trials run
            started = len(list(results.glob("toy/small/trials/*")))
            deadline = time.time() + 60
            while len(list(results.glob("toy/small/trials/*"))) <= started and time.time() < deadline:
                time.sleep(0.02)
            time.sleep(kill_after)
            process.send_signal(signal.SIGKILL)
        elif term_when_running:
            deadline = time.time() + 60
            while not list(results.glob("toy/small/trials/*/stdout.log")) and time.time() < deadline:
                time.sleep(0.1)
            time.sleep(0.5)
            process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=300)
    return code, log.read_text()


def _processes_mentioning(text: str, wait_s: float) -> list[str]:
    """Command lines of live processes that name `text` (a trainer's --output does), after waiting up to wait_s
    for them to end."""
    deadline = time.time() + wait_s
    while True:
        found = []
        for proc in Path("/proc").iterdir():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue
            if text in cmdline and state != "Z":
                found.append(cmdline)
        if not found or time.time() > deadline:
            return found
        time.sleep(0.1)


@pytest.mark.slow
def test_sigkill_at_random_points_loses_and_duplicates_nothing(write_spec, tmp_path):
    spec = write_spec(
        algorithm={"name": "random", "settings": {"seed": 4}},
        protocol=[
            {"name": "explore", "trials": 10, "epochs": 3},
            {"name": "confirm", "mode": "top-k", "top_k": 3, "epochs": 3},
        ],
    )
    results = tmp_path / "results"
    rng = random.Random(1234)
    for _ in range(4):
        _launch(spec, results, kill_after=rng.uniform(0.0, 0.3))
        orphans = _processes_mentioning(str(results), wait_s=15)
        assert not orphans, f"trainers outlived the SIGKILLed launcher: {orphans}"
    code, err = _launch(spec, results)
    assert code == 0, err
    study = _study(results)
    assert _by_stage(study) == {"explore": 10, "confirm": 9}
    pairs = [
        (t.user_attrs[rec.SOURCE_TRIAL], t.user_attrs[rec.REPEAT])
        for t in study.get_trials(states=(TrialState.COMPLETE,))
        if t.user_attrs.get(rec.STAGE) == "confirm"
    ]
    assert len(pairs) == len(set(pairs)) == 9, "each configuration's each fresh-seed repeat ran exactly once"
    assert not study.get_trials(states=(TrialState.RUNNING, TrialState.WAITING))
    interrupted = study.get_trials(states=(TrialState.FAIL,))
    assert interrupted, "no kill landed during a trial: the test proved nothing"
    for t in interrupted:
        assert t.user_attrs.get("interrupted"), t.user_attrs
    confirm = [t for t in study.trials if t.user_attrs.get(rec.STAGE) == "confirm" and t.state == TrialState.COMPLETE]
    assert len({t.user_attrs[rec.SOURCE_TRIAL] for t in confirm}) == 3
    rows = list(csv.DictReader((results / "toy" / "small" / "trials.csv").read_text().splitlines()))
    assert len({r["number"] for r in rows}) == len(rows) == len(study.trials)


def test_sigterm_stops_cleanly_and_resumes(write_spec, tmp_path):
    spec = write_spec(
        protocol=[{"name": "explore", "trials": 6, "epochs": 20}], algorithm={"name": "random", "settings": {"seed": 4}}
    )
    results = tmp_path / "results"
    code, err = _launch(spec, results, term_when_running=True)
    assert code == 130, err
    assert "relaunch the same command to resume" in err and "Traceback" not in err
    study = _study(results)
    assert all(t.state != TrialState.RUNNING for t in study.trials)
    code, err = _launch(spec, results)
    assert code == 0, err
    assert _by_stage(_study(results)) == {"explore": 6}


def test_train_best_repeats_with_the_best_parameters(write_spec, tmp_path, cli):
    spec = write_spec(protocol=[{"name": "explore", "trials": 4, "epochs": 2}])
    results = tmp_path / "results"
    assert cli("train-best", spec, "-t", "small", "--results", str(results)).code == 1  # nothing to train yet
    assert cli("launch", spec, "-t", "small", "--results", str(results)).code == 0
    result = cli(
        "train-best", spec, "-t", "small", "--results", str(results), "--repeats", "2", "--epochs", "3", "-o", "json"
    )
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    best = json.loads((results / "toy" / "small" / "best_params.json").read_text())
    assert summary["params"] == best["best_params"] and [r["seed"] for r in summary["runs"]] == [3, 4]
    assert summary["objectives"]["loss"]["mean"] is not None
    assert all(len(r["final_metrics"]) and r["final_metrics"]["epoch"] == 3 for r in summary["runs"])
    shown = cli("results", "show", spec, "-t", "small", "--results", str(results), "-o", "json")
    assert shown.code == 0 and json.loads(shown.out)


def test_train_best_reads_the_study_named_and_not_a_stale_best_params(write_spec, tmp_path, cli):
    spec = write_spec(protocol=[{"name": "explore", "trials": 3, "epochs": 1}])
    results = tmp_path / "results"
    base = ["-t", "small", "--results", str(results)]
    assert cli("launch", spec, *base, "--study-name", "first").code == 0
    assert cli("launch", spec, *base, "--study-name", "second", "--set", "algorithm.settings.seed=11").code == 0
    storage = f"sqlite:///{results / 'toy' / 'small' / 'study.db'}"
    first = optuna.load_study(study_name="first", storage=storage).best_trial
    second = optuna.load_study(study_name="second", storage=storage).best_trial
    assert first.params != second.params
    (results / "toy" / "small" / "best_params.json").unlink()
    for name, best in (("first", first), ("second", second)):
        result = cli("train-best", spec, *base, "--study-name", name, "--epochs", "1", "-o", "json")
        assert result.code == 0, result.err
        assert json.loads(result.out)["params"] == best.params and json.loads(result.out)["trial"] == best.number
    missing = cli("train-best", spec, *base, "--study-name", "third")
    assert missing.code == 1 and "holds no study named 'third'" in missing.err and "Traceback" not in missing.err


HOSTILE = str(Path(__file__).resolve().parents[1] / "supervisor" / "hostile_trainer.py")


def test_nan_at_the_last_epoch_fails_the_trial_and_a_stage_of_failures_fails_the_launch(write_spec, tmp_path, cli):
    spec = write_spec(
        protocol=[{"name": "explore", "trials": 3, "epochs": 2}],
        trainer={"command": [sys.executable, HOSTILE, "lines:epoch=1 loss=0.9|epoch=2 loss=nan"]},
    )
    results = tmp_path / "results"
    done = cli("launch", spec, "-t", "small", "--results", str(results))
    assert done.code == 1 and "Traceback" not in done.err
    errors = [line for line in done.err.splitlines() if line.startswith("error")]
    assert errors == [
        "error: stage 'explore': every one of its 3 trials failed, 3 of them with: loss was nan at epoch 2 "
        "(the trial diverged); see trials.csv"
    ]
    assert [t.state for t in _study(results).trials] == [TrialState.FAIL] * 3
    with (results / "toy" / "small" / "trials.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 and all("loss was nan at epoch 2" in row["failure_reason"] for row in rows)


def _complete_so_far(results: Path) -> int:
    """Complete trials of the toy study, 0 while the launch has not created it yet."""
    try:
        return len(_study(results).get_trials(states=(TrialState.COMPLETE,)))
    except Exception:  # no file, no study, or no tables yet
        return 0


def test_the_summary_files_follow_the_study_while_a_stage_runs(write_spec, tmp_path):
    spec = write_spec(protocol=[{"name": "explore", "trials": 12, "epochs": 2}], limits={"parallelism": 1})
    results = tmp_path / "results"
    out = results / "toy" / "small"
    with subprocess.Popen(
        [sys.executable, "-m", "hpoctl", "launch", spec, "-t", "small", "--results", str(results)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "TOY_EPOCH_SLEEP": "0.4"},
    ) as process:
        deadline = time.time() + 120
        while time.time() < deadline and _complete_so_far(results) < 5:
            time.sleep(0.2)
        process.send_signal(signal.SIGKILL)
    complete = len(_study(results).get_trials(states=(TrialState.COMPLETE,)))
    with (out / "trials.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert 2 <= len(rows) <= complete + 1, (len(rows), complete)  # written during the stage, not at its end
    assert json.loads((out / "best_params.json").read_text())["n_trials"] == len(rows)
