"""Where the SLURM backend keeps things in the results folder (on the cluster's shared file system):

results/<study>/<target>/study.journal       the target's Optuna study, shared by its workers (journal file)
results/<study>/<target>/...                 best_params.json, trials.csv, ... as for every backend
results/<study>/slurm_jobs.json              the jobs submitted: id, stage, targets, workers, script
results/<study>/slurm/<stage>/<job>.sbatch   the script each job ran
results/<study>/slurm/<stage>/<job>_<task>.out|.err   each array task's output and error
"""

from __future__ import annotations

from pathlib import Path

JOURNAL_FILE = "study.journal"
JOBS_FILE = "slurm_jobs.json"
SLURM_DIR = "slurm"


def target_dir(results_dir: Path, study: str, target: str) -> Path:
    return Path(results_dir) / study / target


def journal_path(results_dir: Path, study: str, target: str) -> Path:
    return target_dir(results_dir, study, target) / JOURNAL_FILE


def jobs_file(results_dir: Path, study: str) -> Path:
    return Path(results_dir) / study / JOBS_FILE


def log_dir(results_dir: Path, study: str, stage: str) -> Path:
    return Path(results_dir) / study / SLURM_DIR / stage


def task_logs(results_dir: Path, study: str, stage: str, job_id: str, task: int) -> tuple[Path, Path]:
    """The output and error files of one array task (the `%A_%a` of the script's --output and --error)."""
    folder = log_dir(results_dir, study, stage)
    return folder / f"{job_id}_{task}.out", folder / f"{job_id}_{task}.err"
