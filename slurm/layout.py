"""Where the SLURM backend keeps things in the results folder (on the cluster's shared file system):

results/<study>/<target>/...                 the one results layout (hpoctl.results.layout): study.journal, ...
results/<study>/slurm_jobs.json              the jobs submitted: id, stage, targets, workers, script
results/<study>/slurm/<stage>/<job>.sbatch   the script each job ran
results/<study>/slurm/<stage>/<job>_<task>.out|.err   each array task's output and error
"""

from __future__ import annotations

from pathlib import Path

JOBS_FILE = "slurm_jobs.json"
SLURM_DIR = "slurm"


def jobs_file(results_dir: Path, study: str) -> Path:
    return Path(results_dir) / study / JOBS_FILE


def log_dir(results_dir: Path, study: str, stage: str) -> Path:
    return Path(results_dir) / study / SLURM_DIR / stage


def task_logs(results_dir: Path, study: str, stage: str, job_id: str, task: int) -> tuple[Path, Path]:
    """The output and error files of one array task (the `%A_%a` of the script's --output and --error)."""
    folder = log_dir(results_dir, study, stage)
    return folder / f"{job_id}_{task}.out", folder / f"{job_id}_{task}.err"
