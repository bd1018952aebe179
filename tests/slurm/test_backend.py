"""The SLURM backend's parts that need no cluster: --dry-run, a missing sbatch, status and logs without the
cluster, reading squeue and sacct, SLURM's errors as one line, and the job record."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpoctl.errors import BackendError
from hpoctl.slurm import scheduler
from hpoctl.slurm.jobs import JobBook, JobRecord, read_jobs, write_jobs
from hpoctl.slurm.scheduler import TaskState, explain

REPO = Path(__file__).resolve().parents[2]


def test_dry_run_prints_the_scripts_and_submits_nothing(write_study, tmp_path, cli):
    path = write_study(
        protocol=[
            {"name": "search", "trials": 6, "epochs": 2},
            {"name": "confirm", "mode": "top-k", "top_k": 2, "epochs": 3},
        ]
    )
    results = tmp_path / "results"
    result = cli(
        "launch", path, "-t", "default", "-b", "slurm", "--dry-run", "--results", str(results), "--runtime", "none"
    )
    assert result.code == 0, result.err
    assert result.out.count("#!/bin/bash") == 2 and "#SBATCH --array=0-2%3" in result.out
    assert "mlp/search: would run sbatch --parsable for 1 target x 3 workers (dry run)" in result.err
    assert (
        "mlp/confirm: would run sbatch --parsable --dependency=afterok:<search job> for 1 target x 3 workers"
        in result.err
    )
    assert not results.exists()


def test_a_missing_sbatch_is_one_line(write_study, tmp_path, cli, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    result = cli("launch", write_study(), "-t", "default", "-b", "slurm", "--results", str(tmp_path / "r"))
    assert result.code == 1 and result.err.count("\n") == 1
    assert "sbatch not found on PATH" in result.err and "login node" in result.err


def test_an_unknown_runtime_lists_the_valid_ones(write_study, tmp_path, cli):
    result = cli("launch", write_study(), "-t", "default", "-b", "slurm", "--runtime", "docker", "--dry-run")
    assert (
        result.code == 1
        and "unknown container runtime 'docker' in --runtime; valid: apptainer, singularity, none" in result.err
    )


def test_status_without_the_cluster_still_shows_the_trials(write_study, tmp_path, cli, monkeypatch):
    path = write_study(protocol=[{"name": "search", "trials": 2, "epochs": 1}])
    results = tmp_path / "results"
    assert cli("worker", path, "-t", "default", "-s", "search", "--results", str(results)).code == 0
    write_jobs(results, JobBook("mlp", [JobRecord("41", "search", ["default"], 1, "slurm/search/41.sbatch", "now")]))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    result = cli("status", path, "-b", "slurm", "--results", str(results), "-o", "json")
    assert result.code == 0, result.err
    assert '"trials_done": 2' in result.out and "squeue not found on PATH" in result.out


def test_logs_name_the_valid_tasks(write_study, tmp_path, cli):
    results = tmp_path / "results"
    path = write_study()
    assert "no SLURM job ran mlp/default" in cli("logs", path, "-t", "default", "--results", str(results)).err
    write_jobs(results, JobBook("mlp", [JobRecord("41", "search", ["default"], 3, "slurm/search/41.sbatch", "now")]))
    log = results / "mlp" / "slurm" / "search" / "41_1.err"
    log.parent.mkdir(parents=True)
    log.write_text("line 1\nline 2\nline 3\n")
    shown = cli(
        "logs", path, "-t", "default", "--task", "1", "--stream", "err", "--tail", "2", "--results", str(results)
    )
    assert shown.code == 0 and shown.out.endswith("line 2\nline 3\n") and "task 41_1" in shown.out
    everything = cli("logs", path, "-t", "default", "--results", str(results)).out
    assert everything.count("==> ") == 6 and "(no file yet: the task has not started)" in everything
    wrong = cli("logs", path, "-t", "default", "--task", "7", "--results", str(results))
    assert wrong.code == 1 and "unknown array task '7' in mlp/default; valid: 0, 1, 2" in wrong.err


def test_squeue_and_sacct_lines():
    assert scheduler._parse(["12_3", "RUNNING", "None"], reason=True) == [TaskState("12", 3, "RUNNING")]
    pending = scheduler._parse(["12_[4-6,9%2]", "PENDING", "Dependency"], reason=True)
    assert [t.task for t in pending] == [4, 5, 6, 9] and pending[0].reason == "Dependency" and pending[0].active
    assert scheduler._parse(["12_0", "CANCELLED by 0", "0:15"], reason=False) == [
        TaskState("12", 0, "CANCELLED", exit_code="0:15")
    ]
    assert scheduler._parse(["12", "COMPLETED", "0:0"], reason=False) == [], "not an array task"
    assert not TaskState("1", 0, "FAILED").active and TaskState("1", 0, "FAILED").ref == "1_0"


@pytest.mark.parametrize(
    ("stderr", "expected"),
    [
        (
            "sbatch: error: Batch job submission failed: Unable to contact slurm controller (connect failure)",
            "cannot reach the SLURM controller",
        ),
        (
            "sbatch: error: invalid partition specified: gpu\n"
            "sbatch: error: Batch job submission failed: Invalid partition name specified",
            "slurm.partition",
        ),
        (
            "sbatch: error: Batch job submission failed: Invalid account or account/partition combination specified",
            "slurm.account",
        ),
        ("sbatch: error: something else", "sbatch failed for the job: something else"),
    ],
)
def test_slurm_errors_as_one_line(stderr, expected):
    message = str(explain("sbatch", stderr, "the job"))
    assert expected in message and "\n" not in message


def test_job_record_round_trip(tmp_path):
    record = JobRecord("41", "search", ["a", "b"], 3, "slurm/search/41.sbatch", "2025-01-01T00:00:00+00:00", ["40"])
    write_jobs(tmp_path, JobBook("mlp", [record]))
    book = read_jobs(tmp_path, "mlp")
    assert book.jobs == [record] and book.for_target("b") == [record] and book.for_target("c") == []
    assert record.task_ids("b") == [3, 4, 5] and record.task_of(4) == ("b", 1)
    (tmp_path / "mlp" / "slurm_jobs.json").write_text("{")
    with pytest.raises(BackendError, match="unreadable"):
        read_jobs(tmp_path, "mlp")
