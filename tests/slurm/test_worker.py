"""The SLURM worker without a cluster: several runners on one journal file meet a stage's budget exactly, a dead
worker's trial is re-run, SIGTERM keeps the running trial for a re-run, and the results are written."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.trial import TrialState

from hpoctl import trial_record as rec
from hpoctl.catalog import load_study
from hpoctl.plan import build_plans
from hpoctl.results import layout
from hpoctl.runner import SURPLUS, StageRunner, stage_counts
from hpoctl.search.samplers import build_sampler
from hpoctl.slurm import storage as shared
from hpoctl.slurm.coordination import LOST, WORKER_ATTR, Owner, SharedStudyCoordinator
from hpoctl.slurm.render import INTERRUPTED_EXIT
from hpoctl.slurm.worker import run_worker

from .conftest import toy_study


def plan_of(path: str, **kwargs):
    (plan,) = build_plans(load_study(path), "default", **kwargs)
    return plan


def all_running(job_ids):
    return dict.fromkeys(job_ids, "RUNNING")


def journal_study(path: Path, plan, seed: int = 0) -> optuna.Study:
    study = layout.create_study(
        plan, path, sampler=build_sampler(plan.algorithm, plan.parameters, seed=seed, parallel=True)
    )
    study.pruner = optuna.pruners.NopPruner()
    return study


def test_concurrent_workers_meet_the_budget_exactly(write_study, tmp_path):
    """Four workers, each its own storage object and identity (as four array tasks), ten trials: exactly ten
    are counted, a trial asked beyond the budget by a race is failed as surplus before it runs."""
    plan = plan_of(write_study(protocol=[{"name": "search", "trials": 10, "epochs": 2}]))
    stage = plan.stage("search")
    journal = tmp_path / "study.journal"
    runners = []
    for i in range(4):
        owner = Owner(host="node", pid=1000 + i, job_id=str(100 + i))
        coordinator = SharedStudyCoordinator(
            tmp_path / ".top-k", owner=owner, poll_s=0.2, job_states=lambda ids: dict.fromkeys(ids, "RUNNING")
        )
        study = journal_study(journal, plan, seed=i)
        runners.append(StageRunner(plan, stage, study, trials_dir=tmp_path / "trials", shared=coordinator))
    threads = [threading.Thread(target=r.run) for r in runners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    study = optuna.load_study(study_name="mlp.default", storage=layout.open_storage(journal))
    counts = stage_counts(study, "search")
    assert (counts.complete, counts.counted, counts.running) == (10, 10, 0)
    others = [t for t in study.trials if t.state != TrialState.COMPLETE]
    assert all(t.user_attrs[rec.INTERRUPTED] and t.user_attrs[rec.FAILURE] == SURPLUS for t in others)
    ran_by = {t.user_attrs[WORKER_ATTR]["job_id"] for t in study.trials if t.state == TrialState.COMPLETE}
    assert len(ran_by) >= 2, "the workers shared the stage"


def test_a_dead_workers_trial_is_failed_and_re_run(write_study, tmp_path):
    plan = plan_of(write_study(protocol=[{"name": "search", "trials": 3, "epochs": 1}]))
    journal = tmp_path / "study.journal"
    study = journal_study(journal, plan)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    owners = {
        "ended job": Owner(host="n1", pid=1, job_id="77"),
        "live job": Owner(host="n1", pid=2, job_id="78"),
        "exited process": Owner(host=Owner.current().host, pid=gone.pid),
        "other host": Owner(host="elsewhere", pid=3),
    }
    numbers = {}
    for name, owner in owners.items():
        trial = study.ask()
        trial.set_user_attr(WORKER_ATTR, owner.to_attr())
        trial.set_user_attr(rec.STAGE, "search")
        numbers[name] = trial.number
    coordinator = SharedStudyCoordinator(tmp_path / ".top-k", job_states=lambda ids: {"78": "RUNNING"})
    assert coordinator.reap(study) == 2
    states = {name: study.trials[n].state for name, n in numbers.items()}
    assert states == {
        "ended job": TrialState.FAIL,
        "live job": TrialState.RUNNING,
        "exited process": TrialState.FAIL,
        "other host": TrialState.RUNNING,
    }
    assert study.trials[numbers["ended job"]].user_attrs[rec.FAILURE] == LOST
    # the controller cannot answer: nobody is taken for dead
    assert SharedStudyCoordinator(tmp_path / ".top-k", job_states=lambda ids: None).reap(study) == 0


def test_a_requeued_task_fails_its_earlier_runs_trial():
    me = Owner(host="n1", pid=50, job_id="90", array_job_id="88", array_task_id=2, restart=1)
    coordinator = SharedStudyCoordinator(Path("/tmp/x"), owner=me, job_states=lambda ids: {})
    earlier = Owner(host="n1", pid=40, job_id="90", array_job_id="88", array_task_id=2, restart=0)
    trial = optuna.trial.create_trial(state=TrialState.RUNNING)
    assert coordinator.is_dead(trial, earlier, {}) is True
    assert coordinator.is_dead(trial, me, {}) is False
    assert coordinator.is_dead(trial, None, {}) is False, "a trial just asked has no owner yet"
    assert SharedStudyCoordinator(Path("/tmp/x"), orphan_after_s=-1).is_dead(trial, None, {}) is True


def test_owner_from_the_slurm_environment():
    env = {"SLURM_JOB_ID": "91", "SLURM_ARRAY_JOB_ID": "88", "SLURM_ARRAY_TASK_ID": "3", "SLURM_RESTART_COUNT": "2"}
    owner = Owner.current(env)
    assert (owner.job_id, owner.array_job_id, owner.array_task_id, owner.restart) == ("91", "88", 3, 2)
    assert Owner.from_attr(owner.to_attr()) == owner and Owner.from_attr("x") is None


def test_top_k_with_several_workers_runs_each_configuration_once(write_study, tmp_path):
    path = write_study(
        protocol=[
            {"name": "search", "trials": 5, "epochs": 1},
            {"name": "confirm", "mode": "top-k", "top_k": 3, "repeats": 2, "epochs": 2},
        ]
    )
    plan = plan_of(path)
    journal = tmp_path / "study.journal"
    StageRunner(plan, plan.stage("search"), journal_study(journal, plan), trials_dir=tmp_path / "t").run()
    runners = [
        StageRunner(
            plan,
            plan.stage("confirm"),
            journal_study(journal, plan, seed=i),
            trials_dir=tmp_path / "t",
            shared=SharedStudyCoordinator(
                tmp_path / ".top-k", owner=Owner("n", 10 + i, str(i)), poll_s=0.2, job_states=all_running
            ),
        )
        for i in range(3)
    ]
    threads = [threading.Thread(target=r.run) for r in runners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    study = optuna.load_study(study_name="mlp.default", storage=layout.open_storage(journal))
    confirm = [t for t in study.trials if t.user_attrs.get(rec.STAGE) == "confirm" and t.state == TrialState.COMPLETE]
    sources = [t.user_attrs[rec.SOURCE_TRIAL] for t in confirm]
    repeats = {(t.user_attrs[rec.SOURCE_TRIAL], t.user_attrs[rec.REPEAT]) for t in confirm}
    assert len(confirm) == 6 and len(set(sources)) == 3 and len(repeats) == 6
    assert stage_counts(study, "confirm").waiting == 0


def test_run_worker_writes_the_results(write_study, tmp_path, cli):
    path = write_study(protocol=[{"name": "search", "trials": 4, "epochs": 2}])
    results = tmp_path / "results"
    result = cli("worker", path, "--target", "default", "--stage", "search", "--results", str(results))
    assert result.code == 0, result.err
    out = results / "mlp" / "default"
    assert (out / "study.journal").is_file()
    best = json.loads((out / "best_params.json").read_text())
    assert best["counts"]["complete"] == 4
    provenance = json.loads((out / "provenance.json").read_text())
    assert provenance["storage"] == str(out / "study.journal")
    assert f"optuna-dashboard {out / 'study.journal'}" in (out / "report.md").read_text()
    assert "trial 0 complete" in result.err and "stage search done: 4/4" in result.err
    shown = cli("results", "show", path, "-t", "default", "--results", str(results), "-o", "json")
    assert shown.code == 0 and json.loads(shown.out)["counts"]["complete"] == 4
    again = cli("worker", path, "--target", "default", "--stage", "search", "--results", str(results))
    assert again.code == 0 and "4/4 trials done" in again.err
    assert len(layout.load_folder_study(out).trials) == 4


def test_sigterm_keeps_the_trial_for_a_re_run_and_exits_75(write_study, tmp_path):
    path = write_study(protocol=[{"name": "search", "trials": 3, "epochs": 30}])
    results = tmp_path / "results"
    argv = [sys.executable, "-m", "hpoctl", "worker", path, "-t", "default", "-s", "search", "--results", str(results)]
    env = {**os.environ, "TOY_EPOCH_SLEEP": "0.1"}
    worker = subprocess.Popen(argv, env=env, stderr=subprocess.PIPE, text=True)
    journal = results / "mlp" / "default" / "study.journal"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (journal.is_file() and b"epoch" in _first_log(results)):
        time.sleep(0.2)
    worker.send_signal(signal.SIGTERM)
    _, err = worker.communicate(timeout=60)
    assert worker.returncode == INTERRUPTED_EXIT, err
    assert "stopped by a signal with trials left" in err
    study = layout.load_folder_study(journal.parent)
    (trial,) = study.trials
    assert trial.state == TrialState.FAIL and trial.user_attrs[rec.INTERRUPTED]
    assert stage_counts(study, "search").counted == 0


def test_a_trainer_signalled_by_the_scheduler_stops_the_worker_too(write_study, tmp_path):
    """SLURM signals a cancelled job's whole process tree; should the SIGTERM reach the trainer and not the
    worker, the worker stops claiming trials anyway, rather than run on until the SIGKILL leaves one RUNNING."""
    path = write_study(protocol=[{"name": "search", "trials": 3, "epochs": 30}])
    results = tmp_path / "results"
    argv = [sys.executable, "-m", "hpoctl", "worker", path, "-t", "default", "-s", "search", "--results", str(results)]
    worker = subprocess.Popen(argv, env={**os.environ, "TOY_EPOCH_SLEEP": "0.1"}, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and b"epoch" not in _first_log(results):
        time.sleep(0.2)
    (trainer,) = _children(worker.pid)
    os.kill(trainer, signal.SIGTERM)
    _, err = worker.communicate(timeout=60)
    assert worker.returncode == INTERRUPTED_EXIT, err
    study = layout.load_folder_study(results / "mlp" / "default")
    (trial,) = study.trials
    assert trial.state == TrialState.FAIL and trial.user_attrs[rec.INTERRUPTED]


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _first_log(results: Path) -> bytes:
    path = results / "mlp" / "default" / "trials" / "00000" / "stdout.log"
    return path.read_bytes() if path.is_file() else b""


def test_refresh_results_reads_the_plan_from_the_study(write_study, tmp_path):
    plan = plan_of(write_study(protocol=[{"name": "search", "trials": 2, "epochs": 1}]))
    out = tmp_path / "mlp" / "default"
    assert run_worker(plan, "search", results_dir=tmp_path, say=lambda line: None) == 0
    (out / "best_params.json").unlink()
    assert shared.refresh_results(out) is True
    assert json.loads((out / "best_params.json").read_text())["counts"]["complete"] == 2
    assert shared.refresh_results(out) is False, "nothing newer in the journal"


def test_a_study_made_for_another_search_space_is_refused(write_study, tmp_path):
    plan = plan_of(write_study())
    journal = tmp_path / "study.journal"
    journal_study(journal, plan)
    other = toy_study(parameters={"x": {"type": "float", "low": 0.0, "high": 2.0, "default": 0.5}})
    path = tmp_path / "other.yaml"
    path.write_text(yaml.safe_dump(other))
    with pytest.raises(Exception, match="different search space"):
        journal_study(journal, plan_of(str(path)))


def test_an_rdb_url_instead_of_the_journal_file(write_study, tmp_path, cli):
    path = write_study(protocol=[{"name": "search", "trials": 2, "epochs": 1}])
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    result = cli("worker", path, "-t", "default", "-s", "search", "--storage", url, "--results", str(tmp_path / "r"))
    assert result.code == 0, result.err
    study = optuna.load_study(study_name="mlp.default", storage=url)
    assert len(study.trials) == 2 and not (tmp_path / "r" / "mlp" / "default" / "study.journal").exists()
    assert json.loads((tmp_path / "r" / "mlp" / "default" / "provenance.json").read_text())["storage"] == url
