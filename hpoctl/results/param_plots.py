"""Parallel coordinates and slice plots drawn by hpoctl rather than Optuna: the objective's metric
and direction on its axis, categorical parameters in the spec's order of choices, log parameters on
a log scale, and (slice) points coloured by stage as in the history."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from optuna.trial import FrozenTrial
from plotly.subplots import make_subplots

from hpoctl.results import _figures
from hpoctl.results.terms import ParamAxis, axis_label, stage_colours
from hpoctl.results.trials import complete, display_value, stage_of
from hpoctl.spec.objectives import Objective

SLICE_COLUMNS = 3
JITTER = 0.12
TICK_BOX = {"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.75}


def colormap_name(objective: Objective) -> str:
    """Viridis with the better end yellow, whichever the direction."""
    return "viridis_r" if objective.optimised_direction == "minimize" else "viridis"


def plotted_trials(trials: Sequence[FrozenTrial], axes: Sequence[ParamAxis]) -> list[FrozenTrial]:
    """Complete trials that have every parameter on the axes (a conditional one may be absent)."""
    return [t for t in complete(trials) if all(a.name in t.params for a in axes)]


def common_axes(trials: Sequence[FrozenTrial], axes: Sequence[ParamAxis]) -> list[ParamAxis]:
    """The axes every complete trial has a value for (parallel coordinates need all of them)."""
    done = complete(trials)
    return [a for a in axes if all(a.name in t.params for t in done)]


def draw_parallel(
    trials: Sequence[FrozenTrial], axes: Sequence[ParamAxis], objective: Objective, index: int, heading: str
) -> tuple[Any, Any]:
    axes = common_axes(trials, axes)
    done = plotted_trials(trials, axes)
    values = [display_value(t, objective, index) for t in done]
    title = f"Parallel coordinates · {heading}"
    return _parallel_matplotlib(done, axes, values, objective, title), _parallel_plotly(
        done, axes, values, objective, title
    )


def _normalised(positions: Sequence[float], low: float, high: float) -> np.ndarray:
    spread = high - low
    return (np.asarray(positions, dtype=float) - low) / spread if spread else np.full(len(positions), 0.5)


def _ticks(axis: ParamAxis | None, low: float, high: float) -> list[tuple[float, str]]:
    """(position, text) ticks of one vertical axis: every choice, decades of a log axis, else 5 steps."""
    if axis is not None and axis.categorical:
        return list(enumerate(axis.ticktext))
    if axis is not None and axis.log:
        decades = range(math.ceil(low - 1e-9), math.floor(high + 1e-9) + 1)
        return [(float(k), f"{10.0**k:g}") for k in decades] or [(low, f"{10**low:.3g}"), (high, f"{10**high:.3g}")]
    return [(float(v), f"{v:.3g}") for v in np.linspace(low, high, 5)]


def _parallel_matplotlib(
    done: Sequence[FrozenTrial], axes: Sequence[ParamAxis], values: list[float], objective: Objective, title: str
) -> Any:
    fig, (ax,) = _figures.new_figure(max(8.0, 1.7 * (len(axes) + 1) + 2), 6)
    columns = [(axis_label(objective), None, values, (min(values), max(values)))]
    for axis in axes:
        positions = [axis.position(t.params[axis.name]) for t in done]
        columns.append((axis.name + (" (log)" if axis.log else ""), axis, positions, axis.span(positions)))
    lines = np.column_stack([_normalised(pos, *span) for _, _, pos, span in columns])
    norm = Normalize(min(values), max(values))
    cmap = colormaps[colormap_name(objective)]
    better_last = np.argsort(values if objective.optimised_direction == "maximize" else [-v for v in values])
    for row in better_last:
        ax.plot(range(len(columns)), lines[row], color=cmap(norm(values[row])), alpha=0.7, linewidth=1.2)
    for x, (_, axis, _, (low, high)) in enumerate(columns):
        ax.axvline(x, color="black", linewidth=0.8)
        for position, text in _ticks(axis, low, high):
            y = _normalised([position], low, high)[0]
            ax.text(x - 0.03, y, text, ha="right", va="center", fontsize=7, color="dimgray", bbox=TICK_BOX)
    ax.set_xticks(range(len(columns)), [name for name, *_ in columns], rotation=15)
    ax.set_yticks([])
    ax.set_xlim(-0.35, len(columns) - 0.8)
    ax.set_ylim(-0.05, 1.05)
    ax.grid(False)
    ax.set_title(title)
    fig.colorbar(ScalarMappable(norm, cmap), ax=ax, label=axis_label(objective))
    return fig


def _parallel_plotly(
    done: Sequence[FrozenTrial], axes: Sequence[ParamAxis], values: list[float], objective: Objective, title: str
) -> Any:
    dimensions = [{"label": axis_label(objective), "values": values}]
    for axis in axes:
        positions = [axis.position(t.params[axis.name]) for t in done]
        low, high = axis.span(positions)
        dimension: dict[str, Any] = {"label": axis.name, "values": positions, "range": [low, high]}
        if axis.categorical or axis.log:
            ticks = _ticks(axis, low, high)
            dimension.update(tickvals=[p for p, _ in ticks], ticktext=[t for _, t in ticks])
        dimensions.append(dimension)
    line = {
        "color": values,
        "colorscale": "Viridis",
        "reversescale": objective.optimised_direction == "minimize",
        "showscale": True,
        "colorbar": {"title": {"text": axis_label(objective)}},
    }
    fig = go.Figure(go.Parcoords(dimensions=dimensions, line=line))
    fig.update_layout(title_text=title)
    return fig


def draw_slice(
    trials: Sequence[FrozenTrial],
    stages: Sequence[str],
    axes: Sequence[ParamAxis],
    objective: Objective,
    index: int,
    heading: str,
) -> tuple[Any, Any]:
    title = f"Slice · {heading}"
    return _slice_matplotlib(trials, stages, axes, objective, index, title), _slice_plotly(
        trials, stages, axes, objective, index, title
    )


def _by_stage(trials: Sequence[FrozenTrial], stages: Sequence[str], name: str) -> list[tuple[str, list[FrozenTrial]]]:
    done = [t for t in complete(trials) if name in t.params]
    return [(s, [t for t in done if stage_of(t) == s]) for s in stages if any(stage_of(t) == s for t in done)]


def _slice_matplotlib(
    trials: Sequence[FrozenTrial],
    stages: Sequence[str],
    axes: Sequence[ParamAxis],
    objective: Objective,
    index: int,
    title: str,
) -> Any:
    ncols = min(len(axes), SLICE_COLUMNS)
    nrows = math.ceil(len(axes) / ncols)
    fig, panels = _figures.new_figure(4.0 * ncols + 1.5, 3.4 * nrows + 0.6, nrows=nrows, ncols=ncols)
    colours = stage_colours(stages)
    rng = np.random.default_rng(0)
    for k, (ax, axis) in enumerate(zip(panels, axes, strict=False)):
        for stage, group in _by_stage(trials, stages, axis.name):
            x = np.array([axis.position(t.params[axis.name]) for t in group])
            if axis.categorical:
                x = x + rng.uniform(-JITTER, JITTER, len(x))
            elif axis.log:
                x = 10.0**x
            y = [display_value(t, objective, index) for t in group]
            ax.scatter(x, y, color=colours[stage], s=20, alpha=0.75, label=stage if k == 0 else None)
        if axis.categorical:
            ax.set_xticks(range(len(axis.ticktext)), axis.ticktext)
            ax.set_xlim(-0.5, len(axis.ticktext) - 0.5)
        elif axis.log:
            ax.set_xscale("log")
        if not axis.categorical and axis.low is not None and axis.high is not None:
            ax.set_xlim(*_padded(axis))
        ax.set_xlabel(axis.name)
        if k % ncols == 0:
            ax.set_ylabel(axis_label(objective))
    for ax in panels[len(axes) :]:
        ax.set_visible(False)
    fig.suptitle(title)
    panels[0].legend(title="Stage", fontsize=7, loc="best")
    return fig


def _padded(axis: ParamAxis) -> tuple[float, float]:
    """The spec's range with a 4 % margin (on the log scale for a log parameter), so the plot shows
    how much of the range the search tried."""
    low, high = axis.position(axis.low), axis.position(axis.high)
    margin = 0.04 * (high - low)
    bounds = (low - margin, high + margin)
    return (10.0 ** bounds[0], 10.0 ** bounds[1]) if axis.log else bounds


def _slice_plotly(
    trials: Sequence[FrozenTrial],
    stages: Sequence[str],
    axes: Sequence[ParamAxis],
    objective: Objective,
    index: int,
    title: str,
) -> Any:
    ncols = min(len(axes), SLICE_COLUMNS)
    nrows = math.ceil(len(axes) / ncols)
    fig = make_subplots(rows=nrows, cols=ncols, shared_yaxes=True)
    colours = stage_colours(stages)
    for k, axis in enumerate(axes):
        row, col = divmod(k, ncols)
        for stage, group in _by_stage(trials, stages, axis.name):
            x = [str(t.params[axis.name]) if axis.categorical else t.params[axis.name] for t in group]
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=[display_value(t, objective, index) for t in group],
                    mode="markers",
                    name=stage,
                    legendgroup=stage,
                    showlegend=k == 0,
                    marker={"color": colours[stage]},
                    text=[f"trial {t.number}" for t in group],
                ),
                row=row + 1,
                col=col + 1,
            )
        xaxis: dict[str, Any] = {"title_text": axis.name}
        if axis.categorical:
            xaxis.update(type="category", categoryorder="array", categoryarray=axis.ticktext)
        elif axis.log:
            xaxis.update(type="log")
        fig.update_xaxes(row=row + 1, col=col + 1, **xaxis)
        if col == 0:
            fig.update_yaxes(title_text=axis_label(objective), row=row + 1, col=1)
    fig.update_layout(title_text=title, legend_title="Stage", height=340 * nrows)
    return fig
