"""Backends: where a plan's trials run (local, katib, slurm), behind one interface."""

from hpoctl.backends._base import (
    Backend,
    BackendUnsupported,
    Launched,
    LaunchEvent,
    Options,
    Rendered,
    StageStatus,
)

__all__ = ["Backend", "BackendUnsupported", "LaunchEvent", "Launched", "Options", "Rendered", "StageStatus"]
