"""SLURM backend: sbatch rendering, Apptainer, submit/status/cancel, the Optuna worker."""
