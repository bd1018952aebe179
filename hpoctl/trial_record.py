"""How a trial is recorded in an Optuna study, whatever the backend (local, SLURM worker, Katib pull).

One Optuna study per (study, target) holds every stage's trials. The values Optuna optimises are
the objectives' optimised values (for a target objective such as PICP 0.80: |picp - 0.80|); what the
trainer reported, and everything a reader wants afterwards, is in the trial's user attributes under
these keys.
"""

from __future__ import annotations

STAGE = "stage"  # the protocol stage that ran the trial, e.g. "exploration"
EPOCHS = "epochs"  # epochs the trial was given
SEED = "seed"  # the trainer's --seed
METRICS = "metrics"  # {metric: value} of the trial's result (after each objective's strategy)
FAILURE = "failure_reason"  # one line: why a failed trial failed
EXIT_CODE = "exit_code"  # the trainer's exit status
DURATION = "duration_s"  # wall seconds of the trial
SOURCE_TRIAL = "source_trial"  # a top-k trial: the number of the trial whose configuration it re-runs
REPEAT = "repeat"  # a top-k trial: which of the configuration's fresh-seed repeats it is (0, 1, ...)
REPEATS = "repeats"  # a merged confirmation record: the repeats' count, values, spread, seeds and trials
INTERRUPTED = "interrupted"  # True on a trial cut short (Ctrl-C, a killed launcher): failed, re-run, not counted
BACKEND = "backend"  # local | slurm | katib
KATIB_TRIAL = "katib_trial"  # a pulled Katib trial's name
DROPPED_LINES = "stdout_lines_dropped"  # stdout lines over the supervisor's line cap, dropped unparsed
RUN_ALONE = "run_alone"  # True: a configuration that ran out of GPU memory beside other trials, run again alone
GPU_MEMORY = "gpu_memory_peak_bytes"  # the trainer's peak GPU memory (metrics.json), what trials_per_gpu packs by
DUPLICATE_REPLACED = "duplicate_replaced"  # True: the sampler proposed a taken configuration; a fresh one ran

STUDY_ATTR_PLAN = "hpoctl_plan"  # study user attr: the resolved plan (JSON-able dict)
STUDY_ATTR_PROVENANCE = "hpoctl_provenance"  # study user attr: what produced the study (results.provenance)


def optuna_study_name(study: str, target: str) -> str:
    return f"{study}.{target}"
