"""The results layout: results/<study>/<target>/ and the names of the files in it."""

from __future__ import annotations

import os
from pathlib import Path

RESULTS_ENV = "HPOCTL_RESULTS"
BEST_PARAMS = "best_params.json"
TRIALS_CSV = "trials.csv"
TOP_TRIALS_CSV = "top_trials.csv"
PARETO = "pareto.json"
REPORT = "report.md"
SPEC = "spec.yaml"
PROVENANCE = "provenance.json"
PLOTS_DIR = "plots"
COMPARE_DIR = "compare"


def default_root() -> Path:
    """Where results live unless told otherwise: $HPOCTL_RESULTS, else ./results."""
    return Path(os.environ.get(RESULTS_ENV, "results"))


def results_dir(root: Path, study: str, target: str) -> Path:
    return Path(root) / study / target


def shown(root: Path) -> str:
    """A results root as messages print it: `results/`."""
    text = str(root)
    return text if text.endswith("/") else f"{text}/"
