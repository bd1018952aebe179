"""Metric lines on stdout and the trial's files: metrics.json and hyperparameters.yaml.

``metrics.json`` (rewritten atomically after every epoch, so a killed trial leaves its partial history)::

    {"status": "completed" | "interrupted" | "failed", "reason": str | null,
     "trainer": "everest", "target": "M_24h",
     "primary_metric": "tss", "direction": "maximize",
     "history": [{"epoch": 1, "tss": 0.61, "val_loss": 0.41, ...}, ...],
     "final": {...the last completed epoch's entry...},
     "best": {...the entry with the best primary metric...},
     "epochs_completed": 2, "epochs_requested": 20,
     "data_prep_seconds": 0.41, "cache_hit": false, "train_seconds": 3.2,
     "device": "cpu (32-true, 2 threads)",
     "gpu_memory": {"peak_bytes": 812646400, "total_bytes": 85899345920}}   # on a GPU only

``status`` is ``running`` while the trainer lives (a SIGKILLed trial leaves it so), then one of the other
three; ``final`` and ``best`` are null before the first epoch ends.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from hpoctl import atomic
from hpoctl.trainer_contract import KATIB_STDOUT_REGEX


def format_number(value: float | int) -> str:
    """A finite number as Katib's regex consumes it whole (``0.6123``, ``1e-05``, ``12``); never nan/inf."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"metric value must be a number, got {value!r}")
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        raise ValueError(f"metric value must be finite, got {value!r}")
    return format(value, ".10g")


def format_metric_line(metrics: Mapping[str, float | int]) -> str:
    """``epoch=3 tss=0.612 val_loss=0.418``: space-separated pairs, each matched whole by Katib's regex."""
    pairs = []
    for name, value in metrics.items():
        pair = f"{name}={format_number(value)}"
        match = KATIB_STDOUT_REGEX.fullmatch(pair)
        if match is None or match.group(1) != name:
            raise ValueError(f"metric {pair!r} is not readable by Katib's StdOut collector")
        pairs.append(pair)
    return " ".join(pairs)


def write_json(path: Path, data: Any) -> None:
    atomic.write_text(path, json.dumps(data, indent=2, allow_nan=False) + "\n")


def write_yaml(path: Path, data: Any) -> None:
    atomic.write_text(path, yaml.safe_dump(data, sort_keys=False))


def read_metrics(path: Path) -> dict[str, Any]:
    """Read a trial's metrics.json (for backends and tests)."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


__all__ = [
    "KATIB_STDOUT_REGEX",
    "format_metric_line",
    "format_number",
    "read_metrics",
    "write_json",
    "write_yaml",
]
