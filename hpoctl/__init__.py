"""hpoctl: one hyperparameter-optimisation study spec on local Optuna, Katib and SLURM.

From Python: `hpoctl.load(study, target)` reads a target's results, `hpoctl.optimize(spec, objective)` runs a study
of a function (see hpoctl.api). They are imported on first use, so that `import hpoctl.trainers...` stays light.
"""

from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("hpoctl")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

_API = ("StudyResults", "load", "optimize")


def __getattr__(name: str) -> Any:
    if name in _API:
        from hpoctl import api

        return getattr(api, name)
    raise AttributeError(f"module 'hpoctl' has no attribute {name!r}")


__all__ = ["StudyResults", "__version__", "load", "optimize"]
