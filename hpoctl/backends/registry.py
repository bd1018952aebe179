"""Which backend runs a command: `--backend`, else `HPOCTL_BACKEND`, else `local`."""

from __future__ import annotations

import importlib
import os

from hpoctl.backends._base import Backend
from hpoctl.errors import UnknownNameError

BACKENDS = {
    "local": "hpoctl.backends.local:LocalBackend",
    "katib": "hpoctl.katib.backend:KatibBackend",
    "slurm": "hpoctl.slurm.backend:SlurmBackend",
}


def backend_name(flag: str | None) -> str:
    name = flag or os.environ.get("HPOCTL_BACKEND") or "local"
    if name not in BACKENDS:
        where = "--backend" if flag else "HPOCTL_BACKEND"
        raise UnknownNameError("backend", name, sorted(BACKENDS), where=where)
    return name


def get_backend(name: str) -> Backend:
    module_name, _, class_name = BACKENDS[name].partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, class_name)()
