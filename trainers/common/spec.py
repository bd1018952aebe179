"""What a trainer declares about itself: its argument groups, targets, metrics and entry point."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel

from hpoctl.trainers.common.args import ArgGroup, RunArgs

TargetResolver = Callable[[RunArgs, BaseModel], tuple[str, BaseModel]]
"""(run arguments, data arguments) -> (target name, data arguments with the target's fixed values); raises
:class:`~hpoctl.trainers.common.errors.UsageError` on contradictions."""


@dataclass(frozen=True)
class TrainerSpec:
    """A trainer's contract surface; everything here is importable without torch."""

    name: str
    """Package name under ``hpoctl.trainers`` and the ``python -m`` module."""
    description: str
    """First paragraph of ``--help``."""
    hparams: type[BaseModel]
    """Hyperparameters, one field per search-space parameter of the seed study, with its default."""
    data_args: type[BaseModel]
    """Target fixed arguments and data sizing arguments."""
    targets: tuple[str, ...]
    """Target names ``--target`` accepts (with synthetic data, the only ones)."""
    target_fields: tuple[str, ...]
    """Fields of ``data_args`` that a target fixes (EVEREST: flare_class, window)."""
    resolve_target: TargetResolver
    metrics: tuple[str, ...]
    """Metric names in the order of the per-epoch line (after ``epoch=``)."""
    primary_metric: str
    """The metric ``best`` in metrics.json is chosen by."""
    direction: Literal["maximize", "minimize"]
    entry_point: str
    """``module:function`` of ``setup(run, hparams, data) -> exit code``; imported only after parsing, so that
    ``--help`` and usage errors do not pay for importing torch."""

    data_format: str = ""
    """What ``--data`` accepts, a few lines for ``--help`` (the data module's docstring has the details)."""
    target_pattern: str | None = None
    """A regex of further targets ``--target`` accepts with ``--data`` (forecast: any ``MODEL@dataset``)."""

    def accepts_target(self, target: str) -> bool:
        return target in self.targets or bool(self.target_pattern and re.fullmatch(self.target_pattern, target))

    @property
    def prog(self) -> str:
        return f"python -m hpoctl.trainers.{self.name}"

    def groups(self) -> tuple[ArgGroup, ArgGroup, ArgGroup]:
        return (
            ArgGroup("run", RunArgs, dashes=True),
            ArgGroup("data and target", self.data_args, dashes=True),
            ArgGroup("hyperparameters", self.hparams, dashes=False),
        )

    def is_better(self, value: float, than: float) -> bool:
        return value > than if self.direction == "maximize" else value < than


__all__ = ["TargetResolver", "TrainerSpec"]
