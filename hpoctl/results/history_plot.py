"""The optimisation history in the protocol's terms: each complete trial coloured by its stage, each
stage's best-so-far line, the objective's metric and direction on the axis."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go
from optuna.trial import FrozenTrial

from hpoctl.results import _figures
from hpoctl.results.terms import axis_label, stage_colours
from hpoctl.results.trials import complete, count_states, display_value, stage_of
from hpoctl.spec.objectives import Objective


@dataclass(frozen=True)
class StageHistory:
    """One stage's complete trials (number, shown value) and its best-so-far steps."""

    stage: str
    label: str
    colour: str
    numbers: list[int]
    values: list[float]
    best_numbers: list[int]
    best_values: list[float]


def stage_histories(
    trials: Sequence[FrozenTrial], stages: Sequence[str], objective: Objective, index: int
) -> list[StageHistory]:
    """Per stage with complete trials, in protocol order: its points and best-so-far line (best by the
    stored value and direction, shown as the raw metric)."""
    colours = stage_colours(stages)
    histories = []
    for stage in stages:
        in_stage = [t for t in trials if stage_of(t) == stage]
        done = sorted(complete(in_stage), key=lambda t: t.number)
        if not done:
            continue
        best_numbers, best_values = _best_so_far(done, objective, index)
        histories.append(
            StageHistory(
                stage=stage,
                label=_stage_label(stage, in_stage),
                colour=colours[stage],
                numbers=[t.number for t in done],
                values=[display_value(t, objective, index) for t in done],
                best_numbers=best_numbers,
                best_values=best_values,
            )
        )
    return histories


def _best_so_far(done: Sequence[FrozenTrial], objective: Objective, index: int) -> tuple[list[int], list[float]]:
    """Steps of the stage's best so far, one per trial, ending at the stage's last trial."""
    better = min if objective.optimised_direction == "minimize" else max
    best: FrozenTrial | None = None
    numbers, values = [], []
    for trial in done:
        best = trial if best is None else better(best, trial, key=lambda t: t.values[index])
        numbers.append(trial.number)
        values.append(display_value(best, objective, index))
    return numbers, values


def _stage_label(stage: str, trials: Sequence[FrozenTrial]) -> str:
    counts = count_states(trials)
    parts = [f"{counts['complete']} complete"]
    parts += [f"{counts[state]} {state}" for state in ("pruned", "failed") if counts[state]]
    return f"{stage} ({', '.join(parts)})"


def draw_history(
    trials: Sequence[FrozenTrial], stages: Sequence[str], objective: Objective, index: int, heading: str
) -> tuple[Any, Any]:
    """The history as a matplotlib and a plotly figure."""
    histories = stage_histories(trials, stages, objective, index)
    title = f"Optimisation history · {heading}"
    return _matplotlib(histories, objective, title), _plotly(histories, objective, title)


def _matplotlib(histories: list[StageHistory], objective: Objective, title: str) -> Any:
    fig, (ax,) = _figures.new_figure(10, 5.5)
    for h in histories:
        ax.scatter(h.numbers, h.values, color=h.colour, s=26, alpha=0.75, zorder=3, label=h.label)
        ax.step(
            h.best_numbers,
            h.best_values,
            where="post",
            color=h.colour,
            linewidth=2,
            zorder=2,
            label=f"{h.stage} best so far ({h.best_values[-1]:.4g})",
        )
    if objective.target is not None:
        ax.axhline(objective.target, color="gray", linestyle="--", linewidth=1, label=f"target {objective.target:g}")
    ax.set_xlabel("Trial")
    ax.set_ylabel(axis_label(objective))
    ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, title="Stage")
    return fig


def _plotly(histories: list[StageHistory], objective: Objective, title: str) -> Any:
    fig = go.Figure()
    for h in histories:
        fig.add_trace(
            go.Scatter(
                x=h.numbers,
                y=h.values,
                mode="markers",
                name=h.label,
                legendgroup=h.stage,
                marker={"color": h.colour, "size": 8},
                text=[f"trial {n}" for n in h.numbers],
            )
        )
        fig.add_trace(
            go.Scatter(
                x=h.best_numbers,
                y=h.best_values,
                mode="lines",
                line={"color": h.colour, "width": 2, "shape": "hv"},
                name=f"{h.stage} best so far",
                legendgroup=h.stage,
            )
        )
    if objective.target is not None:
        fig.add_hline(y=objective.target, line_dash="dash", line_color="gray")
    fig.update_layout(title_text=title, xaxis_title="Trial", yaxis_title=axis_label(objective), legend_title="Stage")
    return fig
