"""SLURM backend: sbatch rendering (pure), Apptainer, submit/status/cancel, and the Optuna worker an array task runs.

    render       sbatch scripts: one job array per stage over targets x workers (pure functions)
    backend      SlurmBackend: launch (sbatch, chained with afterok), status (squeue, sacct), cancel (scancel)
    worker       `hpoctl worker`: one array task's ask/run/tell loop on the target's shared study
    coordination which process runs a trial; failing the trials of dead workers
    storage      writing the results of a study its workers share, one writer at a time
    scheduler    the SLURM commands, their errors as one line
    jobs, layout the job record and where things live in the results folder

The names below load on first use, so `import hpoctl.slurm` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "SlurmBackend": "hpoctl.slurm.backend",
    "RenderOptions": "hpoctl.slurm.render",
    "StageJob": "hpoctl.slurm.render",
    "render_stage": "hpoctl.slurm.render",
    "render_study": "hpoctl.slurm.render",
    "run_worker": "hpoctl.slurm.worker",
    "Owner": "hpoctl.slurm.coordination",
    "SharedStudyCoordinator": "hpoctl.slurm.coordination",
    "refresh_results": "hpoctl.slurm.storage",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
