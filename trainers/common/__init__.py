"""The trainer contract shared by every built-in trainer (and usable by any user's trainer).

``python -m hpoctl.trainers.<name> --target T --epochs E --seed S [--data DIR] [--output DIR]
[--cache-dir DIR] [--report stdout|push] [--threads N] [--<target-arg> V ...] --<param>=<value> ...``

One ``epoch=N metric=value ...`` line per epoch on stdout (Katib's StdOut collector format), nothing else on
stdout; metrics.json and hyperparameters.yaml in ``--output``; exit codes in :class:`ExitCode` (defined in
:mod:`hpoctl.trainer_contract`).

Modules, one job each: :mod:`.args` (command line from typed groups), :mod:`.spec` (what a trainer declares),
:mod:`.cli` (``python -m`` entry), :mod:`.runner` (exceptions -> exit codes and status), :mod:`.report` and
:mod:`.metrics_io` (stdout line, metrics.json, Katib push), :mod:`.cache` (prepared-data cache),
:mod:`.targets` (resolving ``--target``), :mod:`.datafiles` (reading ``--data`` files),
:mod:`.signals` (SIGTERM at batch boundaries), :mod:`.lightning_loop` (the Lightning Trainer; imports torch,
so it is not re-exported here).
"""

from hpoctl.trainers.common.args import RunArgs
from hpoctl.trainers.common.cache import DataCache, default_cache_dir
from hpoctl.trainers.common.errors import (
    DataError,
    DivergedError,
    OutOfMemory,
    TrainerError,
    TrialInterrupted,
    UsageError,
)
from hpoctl.trainers.common.exit_codes import ExitCode, TrialStatus
from hpoctl.trainers.common.metrics_io import KATIB_STDOUT_REGEX, format_metric_line, read_metrics
from hpoctl.trainers.common.spec import TrainerSpec

__all__ = [
    "KATIB_STDOUT_REGEX",
    "DataCache",
    "DataError",
    "DivergedError",
    "ExitCode",
    "OutOfMemory",
    "RunArgs",
    "TrainerError",
    "TrainerSpec",
    "TrialInterrupted",
    "TrialStatus",
    "UsageError",
    "default_cache_dir",
    "format_metric_line",
    "read_metrics",
]
