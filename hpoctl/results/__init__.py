"""Results: one folder per (study, target) with the best parameters, every trial, the Pareto front,
plots, a report and provenance, written by every backend and read by `hpoctl results`.

The names below load on first use, so reading results (the CLI) does not import matplotlib and plotly.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Results": "hpoctl.results.reader",
    "list_targets": "hpoctl.results.reader",
    "load_results": "hpoctl.results.reader",
    "target_dir": "hpoctl.results.layout",
    "ResultsSummary": "hpoctl.results.writer",
    "write_results": "hpoctl.results.writer",
    "collect_provenance": "hpoctl.results.provenance",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
