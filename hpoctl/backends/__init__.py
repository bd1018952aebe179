"""Backends: where a plan's trials run (local, katib, slurm), behind one interface."""

from hpoctl.backends._base import Backend, LaunchOptions, TargetStatus

__all__ = ["Backend", "LaunchOptions", "TargetStatus"]
