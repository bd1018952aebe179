"""The study's own terms for plots: an objective's axis label ("tss (maximize)"), one colour per
protocol stage, and each parameter's axis (categorical choices in the spec's order, log scale)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from optuna.trial import FrozenTrial

from hpoctl.plan import Plan
from hpoctl.results.trials import NO_STAGE
from hpoctl.spec.objectives import Objective
from hpoctl.spec.parameters import CategoricalParameter, _same

#: Matplotlib's tab10, in protocol order (exploration blue, refinement orange, confirmation green, ...).
STAGE_PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#bcbd22",
    "#d62728",
)
NO_STAGE_COLOUR = "#7f7f7f"


def axis_label(objective: Objective) -> str:
    """The metric and which way is better: `tss (maximize)`, `picp (closest to 0.8)`."""
    if objective.target is not None:
        return f"{objective.metric} (closest to {objective.target:g})"
    return f"{objective.metric} ({objective.direction})"


def stage_colours(stages: Sequence[str]) -> dict[str, str]:
    """A colour per stage, in protocol order, the same on every plot of a study."""
    known = [s for s in stages if s != NO_STAGE]
    colours = {stage: STAGE_PALETTE[i % len(STAGE_PALETTE)] for i, stage in enumerate(known)}
    colours[NO_STAGE] = NO_STAGE_COLOUR
    return colours


@dataclass(frozen=True)
class ParamAxis:
    """How one parameter is laid out on an axis: categorical choices in order, or a (log) number."""

    name: str
    choices: tuple[Any, ...] | None = None
    log: bool = False
    low: float | None = None
    high: float | None = None

    @property
    def categorical(self) -> bool:
        return self.choices is not None

    @property
    def ticktext(self) -> list[str]:
        return [str(c) for c in self.choices or ()]

    def position(self, value: Any) -> float:
        """Where a value sits: a choice's index, log10 of a log-scale number, else the number."""
        if self.choices is not None:
            return float(choice_index(self.choices, value))
        return math.log10(value) if self.log else float(value)

    def span(self, values: Sequence[float]) -> tuple[float, float]:
        """The axis range in positions: every choice, the spec's bounds, or the values' range."""
        if self.choices is not None:
            return 0.0, float(max(len(self.choices) - 1, 1))
        if self.low is not None and self.high is not None:
            return self.position(self.low), self.position(self.high)
        return min(values), max(values)


def choice_index(choices: Sequence[Any], value: Any) -> int:
    for i, choice in enumerate(choices):
        if _same(value, choice):
            return i
    return [str(c) for c in choices].index(str(value))


def param_axes(plan: Plan, trials: Sequence[FrozenTrial]) -> list[ParamAxis]:
    """The parameters the trials have, in the spec's order, then any other in order of appearance
    (categorical when a value is not a number)."""
    seen: list[str] = []
    for trial in trials:
        seen += [name for name in trial.params if name not in seen]
    ordered = [name for name in plan.parameters if name in seen] + [n for n in seen if n not in plan.parameters]
    return [_axis(name, plan, trials) for name in ordered]


def _axis(name: str, plan: Plan, trials: Sequence[FrozenTrial]) -> ParamAxis:
    param = plan.parameters.get(name)
    values = [t.params[name] for t in trials if name in t.params]
    if isinstance(param, CategoricalParameter):
        extra = [v for v in values if not any(_same(v, c) for c in param.choices)]
        return ParamAxis(name, choices=tuple([*param.choices, *_unique(extra)]))
    if param is not None:
        return ParamAxis(name, log=param.log, low=param.low, high=param.high)
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return ParamAxis(name)
    return ParamAxis(name, choices=tuple(_unique(values)))


def _unique(values: Sequence[Any]) -> list[Any]:
    found: list[Any] = []
    for value in values:
        if not any(_same(value, f) for f in found):
            found.append(value)
    return found
