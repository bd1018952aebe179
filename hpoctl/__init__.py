"""hpoctl: one hyperparameter-optimisation study spec on local Optuna, Katib and SLURM."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("hpoctl")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
