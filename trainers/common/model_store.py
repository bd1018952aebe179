"""A trial's model: the weights of the epoch its objective's strategy picks, saved as it trains.

The folder ``--save-model`` names holds ``model.ckpt`` (a Lightning checkpoint), ``hyperparameters.yaml`` (the
trial's, enough to rebuild the model and its data) and ``model.json`` (the epoch and the metrics it reached). The
checkpoint is written when an epoch becomes the pick, not at the end: the best epoch of a curve that later falls
is the one kept, and a trial stopped afterwards still leaves it. ``--evaluate-model`` reads the folder back.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from hpoctl.trainer_contract import MODEL_CHECKPOINT, MODEL_HYPERPARAMETERS, MODEL_INFO
from hpoctl.trainers.common.args import RunArgs
from hpoctl.trainers.common.errors import UsageError
from hpoctl.trainers.common.metrics_io import write_json
from hpoctl.trainers.common.spec import TrainerSpec

STRATEGIES = ("max", "min", "latest")

Strategy = Literal["max", "min", "latest"]


@dataclass(frozen=True)
class SavePolicy:
    """Which epoch's weights are kept: the best by ``metric`` (``max``/``min``) or the last one (``latest``)."""

    folder: Path
    metric: str
    strategy: Strategy

    @classmethod
    def from_args(cls, spec: TrainerSpec, run: RunArgs) -> SavePolicy | None:
        if run.save_model is None:
            if run.save_by is not None:
                raise UsageError("--save-by needs --save-model FOLDER")
            return None
        if run.evaluate_model is not None:
            raise UsageError("--save-model and --evaluate-model exclude each other")
        default = "max" if spec.direction == "maximize" else "min"
        metric, _, strategy = (run.save_by or f"{spec.primary_metric}:{default}").partition(":")
        if metric not in spec.metrics or strategy not in STRATEGIES:
            raise UsageError(
                f"--save-by={run.save_by!r}: give METRIC:STRATEGY with a metric of {spec.name} "
                f"({', '.join(spec.metrics)}) and a strategy of {', '.join(STRATEGIES)}"
            )
        return cls(run.save_model, metric, strategy)  # type: ignore[arg-type]

    def picks(self, value: float, best: float | None) -> bool:
        if self.strategy == "latest" or best is None:
            return True
        return value > best if self.strategy == "max" else value < best


class ModelSaver:
    """Saves the trainer's checkpoint whenever a reported epoch becomes the policy's pick."""

    def __init__(self, policy: SavePolicy, hyperparameters: Path) -> None:
        self.policy = policy
        self.hyperparameters = hyperparameters
        self.trainer: Any = None
        """The Lightning Trainer whose model is saved (set by ``lightning_loop.fit``)."""
        self.best: float | None = None

    def epoch_reported(self, entry: Mapping[str, float | int]) -> None:
        value = entry.get(self.policy.metric)
        if value is None or self.trainer is None or not self.policy.picks(float(value), self.best):
            return
        self.best = float(value)
        folder = self.policy.folder
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / f".{MODEL_CHECKPOINT}.partial"
        self.trainer.save_checkpoint(partial)
        os.replace(partial, folder / MODEL_CHECKPOINT)
        if not (folder / MODEL_HYPERPARAMETERS).exists():
            shutil.copyfile(self.hyperparameters, folder / MODEL_HYPERPARAMETERS)
        write_json(
            folder / MODEL_INFO,
            {
                "epoch": int(entry["epoch"]),
                "metric": self.policy.metric,
                "strategy": self.policy.strategy,
                "value": float(value),
                "metrics": dict(entry),
            },
        )


def checkpoint_path(path: Path) -> Path:
    """``--evaluate-model``'s checkpoint: the path itself, or model.ckpt in the folder it names."""
    checkpoint = path / MODEL_CHECKPOINT if path.is_dir() else path
    if not checkpoint.is_file():
        raise UsageError(f"--evaluate-model {path}: no {MODEL_CHECKPOINT} there (a folder --save-model wrote)")
    return checkpoint


def saved_epoch(checkpoint: Path) -> int | None:
    """The epoch model.json beside a checkpoint records, if it is there."""
    try:
        return int(json.loads((checkpoint.parent / MODEL_INFO).read_text())["epoch"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


__all__ = [
    "ModelSaver",
    "SavePolicy",
    "checkpoint_path",
    "saved_epoch",
]
