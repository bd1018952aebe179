"""The SLURM backend against a real single-node cluster (started by the session fixture): job arrays of workers
sharing one study, status from squeue and sacct, cancel, a killed worker, the time-limit requeue, a failing
trainer, chained stages, and one-line errors. The jobs run hpoctl without a container (`--runtime none`)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.trial import TrialState

from hpoctl import trial_record as rec
from hpoctl.results import layout
from hpoctl.runner import SURPLUS
from hpoctl.slurm.coordination import LOST, WORKER_ATTR
from tests.slurm.conftest import toy_study

pytestmark = pytest.mark.slurm

MLP_CSV = Path(__file__).resolve().parents[2] / "examples" / "data" / "mlp" / "mlp.csv"


@pytest.fixture
def env(slurm_cluster, tmp_path, monkeypatch):
    """A configuration for the test cluster (the oversubscribed partition: 3 tasks on 2 cores), quick trials."""
    config = tmp_path / "hpoctl.yaml"
    config.write_text(yaml.safe_dump({"slurm": {"partition": "over", "poll_interval": 1, "signal_grace": 30}}))
    monkeypatch.setenv("HPOCTL_CONFIG", str(config))
    monkeypatch.setenv("TOY_EPOCH_SLEEP", "0.1")
    return slurm_cluster


def launch(cli, path: str, results: Path, *extra: str):
    result = cli(
        "launch",
        path,
        "--target",
        "default",
        "--backend",
        "slurm",
        "--runtime",
        "none",
        "--results",
        str(results),
        *extra,
    )
    assert result.code == 0, result.err
    return result


def jobs(results: Path) -> list[dict]:
    return json.loads((results / "mlp" / "slurm_jobs.json").read_text())["jobs"]


def study_of(results: Path) -> optuna.Study:
    study = layout.load_folder_study(results / "mlp" / "default")
    assert study is not None
    return study


def states(study: optuna.Study, stage: str = "search") -> dict[str, int]:
    counts: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        if t.user_attrs.get(rec.STAGE) == stage:
            key = "interrupted" if t.state == TrialState.FAIL and t.user_attrs.get(rec.INTERRUPTED) else t.state.name
            counts[key] = counts.get(key, 0) + 1
    return counts


def wait_for(condition, timeout: float = 60.0, what: str = "condition", detail=None):
    """`condition()`'s first true value; on a timeout the failure shows `detail()`, what the workers said."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}" + (f"\n{detail()}" if detail else ""))


def worker_logs(results: Path) -> str:
    """Every task's stderr of every job, for a failure message."""
    logs = sorted((results / "mlp" / "slurm").rglob("*.err"))
    return "\n".join(f"== {log.name}\n{log.read_text(errors='replace')}" for log in logs)


def running_trial(results: Path, task: int) -> optuna.trial.FrozenTrial | None:
    journal = results / "mlp" / "default" / "study.journal"
    if not journal.is_file():
        return None
    study = layout.load_folder_study(journal.parent)
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = trial.user_attrs.get(WORKER_ATTR) or {}
        if owner.get("array_task_id") == task and trial.user_attrs.get(rec.STAGE):
            return trial
    return None


def test_three_workers_share_one_study_of_twelve_trials(env, write_study, tmp_path, cli):
    path = write_study()
    results = tmp_path / "results"
    result = launch(cli, path, results)
    (job,) = jobs(results)
    assert f"mlp/search: submitted job {job['job_id']}: 1 target x 3 workers" in result.err
    assert job["targets"] == ["default"] and job["workers"] == 3
    shown = cli("status", path, "--backend", "slurm", "--results", str(results), "-o", "json")
    assert shown.code == 0, shown.err
    (row,) = json.loads(shown.out)
    assert f"search job {job['job_id']}: " in row["detail"] and f"{job['job_id']}_2" in row["detail"]
    assert row["state"] in ("queued", "running", "done") and row["trials_budget"] == 12
    assert cli("launch", path, "-t", "default", "-b", "slurm", "--results", str(results)).code == 0
    assert len(jobs(results)) == 1, "a queued or running job is not submitted again"

    watched = cli("watch", path, "-b", "slurm", "--results", str(results), "--interval", "0.5")
    assert watched.code == 0 and "mlp: done" in watched.err, watched.err
    assert "12/12" in watched.out and "finished" in watched.out  # not a terminal: the table when a row changes
    final = env.wait(job["job_id"])
    assert set(final.values()) == {"COMPLETED"} and len(final) == 3
    assert set(env.sacct(job["job_id"]).values()) == {"COMPLETED"}
    study = study_of(results)
    assert states(study).get("COMPLETE") == 12 and states(study).get("FAIL", 0) == 0
    assert len({t.user_attrs[WORKER_ATTR]["array_task_id"] for t in study.trials}) >= 2
    out = results / "mlp" / "default"
    best = json.loads((out / "best_params.json").read_text())
    assert best["counts"]["complete"] == 12, "the last worker wrote the final results"
    for name in ("trials.csv", "top_trials.csv", "report.md", "provenance.json", "spec.yaml"):
        assert (out / name).is_file(), name
    recorded = study.user_attrs[rec.STUDY_ATTR_PROVENANCE]
    assert recorded["trainer"]["command"][1].endswith("toy_trainer.py")
    assert json.loads((out / "provenance.json").read_text())["spec_sha256"] == recorded["spec_sha256"]

    (row,) = json.loads(cli("status", path, "-b", "slurm", "--results", str(results), "-o", "json").out)
    assert (row["state"], row["trials_done"], row["failed"]) == ("done", 12, 0) and row["best"] is not None
    assert row["detail"] == f"search job {job['job_id']}: {' '.join(sorted(final))} COMPLETED"
    again = launch(cli, path, results)
    assert "mlp/search: done for default" in again.err and len(jobs(results)) == 1
    logs = cli("logs", path, "--target", "default", "--task", "1", "--stream", "err", "--results", str(results))
    assert logs.code == 0 and "stage search done: 12/12" in logs.out and f"{job['job_id']}_1.err" in logs.out


def test_cancel_keeps_completed_trials_and_a_relaunch_finishes_the_budget(env, write_study, tmp_path, cli, monkeypatch):
    monkeypatch.setenv("TOY_EPOCH_SLEEP", "1.5")  # 4.5 s trials: one seen starting still runs when scancel lands
    path = write_study()
    results = tmp_path / "results"
    launch(cli, path, results)
    (job,) = jobs(results)

    def first_wave_done_second_running() -> bool:
        if not (results / "mlp/default/study.journal").is_file():
            return False
        counts = states(study_of(results))
        return counts.get("COMPLETE", 0) >= 3 and counts.get("RUNNING", 0) >= 1

    # cancel while trials run, so that there are some for the cancelled workers to mark interrupted
    wait_for(first_wave_done_second_running, what="three trials done and one running")
    cancelled = cli("cancel", path, "--backend", "slurm", "--results", str(results))
    assert cancelled.code == 0 and f"cancelled job {job['job_id']}" in cancelled.err
    final = env.wait(job["job_id"])
    assert set(final.values()) == {"CANCELLED"}

    # squeue shows CANCELLED as soon as slurmstepd signals the tasks; the workers record their trials while they
    # stop, within the signal grace, so wait for that rather than read the study at once
    def recorded() -> dict[str, int] | None:
        counts = states(study_of(results))
        return counts if counts.get("RUNNING", 0) == 0 and counts.get("interrupted", 0) >= 1 else None

    counts = wait_for(
        recorded,
        timeout=60,
        what="the cancelled workers to mark their trials interrupted",
        detail=lambda: f"trials by state: {states(study_of(results))}\n{worker_logs(results)}",
    )
    before = {t.number for t in study_of(results).trials if t.state == TrialState.COMPLETE}
    assert counts.get("COMPLETE", 0) == len(before)
    (row,) = json.loads(cli("status", path, "-b", "slurm", "--results", str(results), "-o", "json").out)
    assert row["state"] == "cancelled" and "CANCELLED" in row["detail"]

    monkeypatch.setenv("TOY_EPOCH_SLEEP", "0.05")
    launch(cli, path, results)
    second = jobs(results)[-1]
    assert second["job_id"] != job["job_id"]
    env.wait(second["job_id"])
    study = study_of(results)
    assert states(study).get("COMPLETE") == 12
    assert before <= {t.number for t in study.trials if t.state == TrialState.COMPLETE}, "no completed trial lost"


def test_a_killed_worker_loses_nothing_and_its_trials_are_re_run(env, write_study, tmp_path, cli, monkeypatch):
    """scancel of one task (SIGTERM: the worker marks its trial interrupted) and SIGKILL of another task's worker
    (nothing recorded: the remaining worker sees the job ended and fails the trial for a re-run)."""
    monkeypatch.setenv("TOY_EPOCH_SLEEP", "0.3")
    path = write_study()
    results = tmp_path / "results"
    launch(cli, path, results)
    job = jobs(results)[0]["job_id"]
    wait_for(lambda: running_trial(results, 1), what="a trial of task 1")
    subprocess.run(["scancel", f"{job}_1"], check=True)
    killed = wait_for(lambda: running_trial(results, 2), what="a trial of task 2")
    os.kill(killed.user_attrs[WORKER_ATTR]["pid"], signal.SIGKILL)
    final = env.wait(job)
    assert final[f"{job}_0"] == "COMPLETED" and final[f"{job}_1"] == "CANCELLED" and final[f"{job}_2"] == "FAILED"
    study = study_of(results)
    assert states(study).get("COMPLETE") == 12
    lost = study.trials[killed.number]
    assert lost.state == TrialState.FAIL and lost.user_attrs[rec.INTERRUPTED] and lost.user_attrs[rec.FAILURE] == LOST
    by_task_1 = [t for t in study.trials if t.user_attrs[WORKER_ATTR]["array_task_id"] == 1]
    assert any(t.user_attrs.get(rec.INTERRUPTED) for t in by_task_1)
    assert not study.get_trials(states=(TrialState.RUNNING,))


def test_the_time_limit_signal_stops_the_trial_and_requeues_the_task(env, write_study, tmp_path, cli, monkeypatch):
    """SLURM sends USR1 to the batch shell before the time limit (--signal=B:USR1@GRACE); sent by hand here."""
    monkeypatch.setenv("TOY_EPOCH_SLEEP", "0.3")
    path = write_study()
    results = tmp_path / "results"
    launch(cli, path, results)
    job = jobs(results)[0]["job_id"]
    wait_for(lambda: running_trial(results, 1), what="a trial of task 1")
    subprocess.run(["scancel", "--signal=USR1", "--batch", f"{job}_1"], check=True)
    final = env.wait(job)
    assert set(final.values()) == {"COMPLETED"}
    shown = subprocess.run(["scontrol", "show", "job", f"{job}_1"], capture_output=True, text=True).stdout
    assert "Restarts=1" in shown, shown
    study = study_of(results)
    assert states(study).get("COMPLETE") == 12
    interrupted = [t for t in study.trials if t.user_attrs.get(rec.INTERRUPTED)]
    assert any(t.user_attrs[WORKER_ATTR]["array_task_id"] == 1 for t in interrupted)
    log = (results / "mlp" / "slurm" / "search" / f"{job}_1.err").read_text()
    assert "the time limit is near" in log and "restart 1" in log and "exited with status 75" in log


def test_a_failing_trainer_fails_its_trials_and_the_job_reports_it(env, write_study, tmp_path, cli, monkeypatch):
    monkeypatch.setenv("TOY_FAIL_ABOVE", "-1")  # every configuration diverges
    path = write_study()
    results = tmp_path / "results"
    launch(cli, path, results)
    job = jobs(results)[0]["job_id"]
    final = env.wait(job)
    assert set(final.values()) == {"FAILED"}
    assert set(env.sacct(job).values()) == {"FAILED"}
    study = study_of(results)
    failed = [t for t in study.trials if t.state == TrialState.FAIL and not t.user_attrs.get(rec.INTERRUPTED)]
    assert len(failed) >= 3 and all("loss became nan" in t.user_attrs[rec.FAILURE] for t in failed)
    (row,) = json.loads(cli("status", path, "-b", "slurm", "--results", str(results), "-o", "json").out)
    assert row["state"] == "failed" and row["failed"] >= 3 and "FAILED" in row["detail"]
    err = (results / "mlp" / "slurm" / "search" / f"{job}_0.err").read_text()
    assert "more than limits.max_failed_trials=2" in err
    assert "loss became nan" in (results / "mlp" / "default" / "trials.csv").read_text()


def test_stages_chain_with_afterok(env, write_study, tmp_path, cli):
    path = write_study(
        protocol=[
            {"name": "search", "trials": 4, "epochs": 2},
            {"name": "confirm", "mode": "top-k", "top_k": 2, "repeats": 2, "epochs": 3},
        ],
        limits={"parallelism": 2, "max_failed_trials": 2},
    )
    results = tmp_path / "results"
    result = launch(cli, path, results)
    first, second = jobs(results)
    assert (first["stage"], second["stage"]) == ("search", "confirm")
    assert second["dependency"] == [first["job_id"]]
    assert f"mlp/confirm: submitted job {second['job_id']} after job {first['job_id']}" in result.err
    assert "#SBATCH --dependency" not in Path(results / "mlp" / second["script"]).read_text()
    env.wait(first["job_id"])
    env.wait(second["job_id"])
    study = study_of(results)
    assert states(study, "search").get("COMPLETE") == 4
    confirm = [t for t in study.trials if t.user_attrs.get(rec.STAGE) == "confirm" and t.state == TrialState.COMPLETE]
    assert len(confirm) == 4 and len({t.user_attrs[rec.SOURCE_TRIAL] for t in confirm}) == 2
    pairs = {(t.user_attrs[rec.SOURCE_TRIAL], t.user_attrs[rec.REPEAT], t.user_attrs[rec.SEED]) for t in confirm}
    assert {(repeat, seed) for _, repeat, seed in pairs} == {(0, 1), (1, 2)}, "fresh seeds 1 and 2, not the search's 0"
    assert len(pairs) == 4
    assert all(t.user_attrs[rec.EPOCHS] == 3 for t in confirm)


def test_errors_are_one_actionable_line(env, write_study, tmp_path, cli, monkeypatch):
    path = write_study()
    results = tmp_path / "results"
    config = tmp_path / "bad.yaml"
    config.write_text(yaml.safe_dump({"slurm": {"partition": "nosuch"}}))
    bad = cli(
        "launch",
        path,
        "-t",
        "default",
        "-b",
        "slurm",
        "--runtime",
        "none",
        "--results",
        str(results),
        "--config",
        str(config),
    )
    assert bad.code == 1 and bad.err.count("\n") == 1
    assert "invalid partition" in bad.err and "slurm.partition" in bad.err and "sinfo" in bad.err

    dead = tmp_path / "dead.conf"
    text = env.conf.read_text()
    port = next(line for line in text.splitlines() if line.startswith("SlurmctldPort="))
    dead.write_text(text.replace(port, "SlurmctldPort=9") + "MessageTimeout=1\n")
    monkeypatch.setenv("SLURM_CONF", str(dead))
    down = cli("launch", path, "-t", "default", "-b", "slurm", "--runtime", "none", "--results", str(results))
    assert down.code == 1 and down.err.count("\n") == 1
    assert "cannot reach the SLURM controller" in down.err and "scontrol ping" in down.err


def test_cancel_one_target_leaves_the_others_running(env, write_study, tmp_path, cli, monkeypatch):
    monkeypatch.setenv("TOY_EPOCH_SLEEP", "0.3")
    path = write_study(
        targets={"default": {}, "other": {"args": {"size": 2}}},
        protocol=[{"name": "search", "trials": 3, "epochs": 3}],
        limits={"parallelism": 1, "max_failed_trials": 2},
    )
    results = tmp_path / "results"
    result = cli("launch", path, "-t", "all", "-b", "slurm", "--runtime", "none", "--results", str(results))
    assert result.code == 0, result.err
    (job,) = jobs(results)
    assert job["targets"] == ["default", "other"] and job["workers"] == 1
    wait_for(lambda: env.states(job["job_id"]).get(f"{job['job_id']}_1") == "RUNNING", what="task 1 running")
    cancelled = cli("cancel", path, "--target", "other", "-b", "slurm", "--results", str(results))
    assert cancelled.code == 0 and f"cancelled other's tasks 1 of job {job['job_id']}" in cancelled.err
    final = env.wait(job["job_id"])
    assert final == {f"{job['job_id']}_0": "COMPLETED", f"{job['job_id']}_1": "CANCELLED"}
    rows = {
        r["target"]: r
        for r in json.loads(cli("status", path, "-b", "slurm", "--results", str(results), "-o", "json").out)
    }
    assert rows["default"]["state"] == "done" and rows["other"]["state"] == "cancelled"


def test_hostile_trainers_in_a_real_job_array(env, write_study, tmp_path, cli, monkeypatch):
    """The supervisor's guarantees hold in SLURM workers as locally: the same code reads and stops the trials."""
    hostile = str(Path(__file__).with_name("hostile_by_mode.py"))
    modes = ["long-line", "binary", "nan-last", "malformed", "children"]
    pid_file = tmp_path / "pids"
    monkeypatch.setenv("HOSTILE_PIDS", str(pid_file))
    path = write_study(
        parameters={"mode": {"type": "categorical", "choices": modes, "default": "long-line"}},
        protocol=[{"name": "search", "trials": len(modes), "epochs": 2}],
        trainer={"command": [sys.executable, hostile]},
        limits={"parallelism": 2, "max_failed_trials": 10},
    )
    results = tmp_path / "results"
    launch(cli, path, results)
    env.wait(jobs(results)[0]["job_id"])
    # A worker that asks after the other took the last of the budget records a surplus trial, with no
    # configuration and never run: not one of the modes.
    ran = [t for t in study_of(results).get_trials(deepcopy=False) if t.user_attrs.get(rec.FAILURE) != SURPLUS]
    trials = {t.params["mode"]: t for t in ran}
    assert sorted(trials) == sorted(modes) and len(ran) == len(modes), "each mode ran once"
    complete = {m: t.value for m, t in trials.items() if t.state == TrialState.COMPLETE}
    assert complete == {"long-line": 0.5, "binary": 0.25, "children": 0.5}
    assert trials["long-line"].user_attrs.get(rec.DROPPED_LINES) == 1
    assert "loss" in trials["nan-last"].user_attrs[rec.FAILURE] and "nan" in trials["nan-last"].user_attrs[rec.FAILURE]
    assert "0.3e" in trials["malformed"].user_attrs[rec.FAILURE]
    leftover = [int(p) for p in pid_file.read_text().split()]
    assert len(leftover) >= 4 and wait_for(lambda: not any(_alive(p) for p in leftover), 30, "no hostile process")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"


def test_a_teams_data_in_and_confirmation_models_out(env, tmp_path, cli):
    """The real MLP trainer reads the example CSV in the workers; each confirmation repeat saves its model into the
    shared results folder (nothing to pull), and the exported best scores what it was saved with."""
    spec = toy_study(
        parameters={"lr": {"type": "float", "low": 1e-3, "high": 1e-1, "log": True, "default": 1e-2}},
        objectives=[{"metric": "validation_error", "direction": "minimize", "strategy": "min"}],
        protocol=[
            {"name": "search", "trials": 1, "epochs": 1},
            {"name": "confirm", "mode": "top-k", "top_k": 1, "repeats": 2, "epochs": 1},
        ],
        trainer={"module": "hpoctl.trainers.mlp", "args": {"hidden_sizes": 16, "threads": 1}},
        limits={"parallelism": 2, "max_failed_trials": 1},
    )
    path = tmp_path / "mlp.yaml"
    path.write_text(yaml.safe_dump(spec))
    results = tmp_path / "results"
    launch(cli, str(path), results, "--data", str(MLP_CSV))
    for job in jobs(results):
        env.wait(job["job_id"])
    study = study_of(results)
    folder = results / "mlp" / "default"
    saved = sorted(p.parent.parent.name for p in (folder / "trials").glob("*/model/model.ckpt"))
    confirm = sorted(f"{t.number:05d}" for t in study.trials if t.user_attrs.get(rec.STAGE) == "confirm")
    assert saved == confirm and len(confirm) == 2, "each confirmation repeat saved its model, the search none"

    common = [str(path), "-t", "default", "--results", str(results)]
    exported = cli("model", "export", *common, "--to", str(tmp_path / "model"), "-o", "json")
    assert exported.code == 0, exported.err
    card = json.loads(exported.out)
    assert card["data"]["path"] == str(MLP_CSV) and card["data"]["sha256"]
    scored = cli("model", "evaluate", str(tmp_path / "model"), "-o", "json")
    assert scored.code == 0, scored.err
    assert json.loads(scored.out)["matches_saved"] is True
