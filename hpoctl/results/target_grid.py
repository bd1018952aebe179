"""The cross-target grid: when a study's targets are the cells of a table of two target args (everest:
flare class x window), a heatmap per objective of each target's best value, with the range the spec
expects for it (`targets.<name>.expected`) beside the value."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

GridArgs = tuple[str, str]


def derive_axes(args_by_target: Mapping[str, Mapping[str, Any]]) -> GridArgs | None:
    """(rows, columns): the two args that vary across the targets, when every target has both and no
    two targets share a cell; None otherwise (one target, one varying arg, three or more)."""
    if len(args_by_target) < 2:
        return None
    names = _ordered_union(args for args in args_by_target.values())
    varying = [n for n in names if len({repr(a.get(n)) for a in args_by_target.values()}) > 1]
    if len(varying) != 2:
        return None
    rows, columns = varying
    if not all(rows in a and columns in a for a in args_by_target.values()):
        return None
    cells = {(repr(a[rows]), repr(a[columns])) for a in args_by_target.values()}
    return (rows, columns) if len(cells) == len(args_by_target) else None


@dataclass(frozen=True)
class GridCell:
    target: str
    row: Any
    column: Any
    values: dict[str, Any]
    """metric -> the best (balanced) trial's value; empty when the target has no results."""
    expected: dict[str, list[float]]

    def verdict(self, metric: str) -> str | None:
        """`below`, `within` or `above` the expected range; None without a value or a range."""
        value, expected = self.values.get(metric), self.expected.get(metric)
        if not isinstance(value, (int, float)) or not expected:
            return None
        low, high = expected
        return "below" if value < low else "above" if value > high else "within"


@dataclass(frozen=True)
class TargetGrid:
    """Targets laid out by two args: `rows` x `columns` values in the spec's order, one cell each."""

    rows_arg: str
    columns_arg: str
    rows: list[Any]
    columns: list[Any]
    cells: list[GridCell]

    def cell(self, row: Any, column: Any) -> GridCell | None:
        for cell in self.cells:
            if repr(cell.row) == repr(row) and repr(cell.column) == repr(column):
                return cell
        return None

    def matrix(self, metric: str) -> np.ndarray:
        """Values as rows x columns, NaN where a target has no value."""
        out = np.full((len(self.rows), len(self.columns)), np.nan)
        for i, row in enumerate(self.rows):
            for j, column in enumerate(self.columns):
                cell = self.cell(row, column)
                value = cell.values.get(metric) if cell else None
                if isinstance(value, (int, float)):
                    out[i, j] = value
        return out

    def to_data(self) -> dict[str, Any]:
        return {
            "rows": self.rows_arg,
            "columns": self.columns_arg,
            "cells": [
                {
                    "target": c.target,
                    self.rows_arg: c.row,
                    self.columns_arg: c.column,
                    "values": c.values,
                    "expected": c.expected,
                    "verdict": {m: c.verdict(m) for m in c.expected if c.verdict(m)},
                }
                for c in self.cells
            ],
        }


def build_grid(
    args_by_target: Mapping[str, Mapping[str, Any]],
    expected_by_target: Mapping[str, Mapping[str, Sequence[float]]],
    values_by_target: Mapping[str, Mapping[str, Any]],
    axes: GridArgs | None = None,
) -> TargetGrid | None:
    """The grid of every target (in the spec's order), or None when the targets do not form one.
    `axes` are the spec's target_grid (rows, columns) args, derived from the args when None."""
    axes = axes or derive_axes(args_by_target)
    if axes is None:
        return None
    rows_arg, columns_arg = axes
    cells = [
        GridCell(
            target=name,
            row=args[rows_arg],
            column=args[columns_arg],
            values=dict(values_by_target.get(name, {})),
            expected={m: list(r) for m, r in expected_by_target.get(name, {}).items()},
        )
        for name, args in args_by_target.items()
    ]
    return TargetGrid(
        rows_arg,
        columns_arg,
        _unique(c.row for c in cells),
        _unique(c.column for c in cells),
        cells,
    )


def _ordered_union(groups: Any) -> list[str]:
    names: list[str] = []
    for group in groups:
        names += [n for n in group if n not in names]
    return names


def _unique(values: Any) -> list[Any]:
    found: list[Any] = []
    for value in values:
        if repr(value) not in [repr(f) for f in found]:
            found.append(value)
    return found


VERDICT_MARK = {"below": "↓ below", "within": "✓ within", "above": "↑ above"}


def objective_axis_label(objective: Mapping[str, Any]) -> str:
    """terms.axis_label for an objective as best_params.json describes it."""
    if objective.get("target") is not None:
        return f"{objective['metric']} (closest to {objective['target']:g})"
    return f"{objective['metric']} ({objective['direction']})"


def value_text(cell: GridCell | None, metric: str) -> str:
    """The cell's headline: `0.612`, `not run` for a target without results, empty off the grid."""
    if cell is None:
        return ""
    value = cell.values.get(metric)
    if not isinstance(value, (int, float)):
        return "not run"
    return f"{value:.3f}" if abs(value) < 1 else f"{value:.4g}"


def note_text(cell: GridCell | None, metric: str) -> str:
    """Under the value: `expected 0.55–0.65` and where the value falls, `✓ within`."""
    if cell is None or not cell.expected.get(metric):
        return ""
    low, high = cell.expected[metric]
    verdict = cell.verdict(metric)
    return f"expected {low:.2f}–{high:.2f}" + (f"\n{VERDICT_MARK[verdict]}" if verdict else "")


def draw_grid(grid: TargetGrid, objectives: Sequence[Mapping[str, Any]], study: str) -> tuple[Any, Any]:
    """A heatmap per objective (matplotlib and plotly), the better end yellow."""
    from hpoctl.results import _figures

    width = max(6.0, 1.9 * len(grid.columns) + 2.5)
    fig, axes = _figures.new_figure(width, (1.25 * len(grid.rows) + 1.6) * len(objectives), nrows=len(objectives))
    for ax, objective in zip(axes, objectives, strict=True):
        _heatmap_matplotlib(fig, ax, grid, objective, study)
    return fig, _heatmaps_plotly(grid, objectives, study)


def _colormap(objective: Mapping[str, Any]) -> str:
    return "viridis_r" if objective.get("direction") == "minimize" else "viridis"


def shading(grid: TargetGrid, objective: Mapping[str, Any]) -> tuple[np.ndarray, str]:
    """What colours the cells and its colour bar's label: the value, or for a target objective its
    distance to the target (so the closest cell is the brightest, as in the study)."""
    values = grid.matrix(objective["metric"])
    if objective.get("target") is None:
        return values, objective_axis_label(objective)
    return np.abs(values - objective["target"]), f"{objective['stored_as']} (minimize)"


def _is_dark(rgba: Sequence[float]) -> bool:
    red, green, blue = rgba[:3]
    return 0.299 * red + 0.587 * green + 0.114 * blue < 0.5


def _heatmap_matplotlib(fig: Any, ax: Any, grid: TargetGrid, objective: Mapping[str, Any], study: str) -> None:
    from matplotlib import colormaps

    metric = objective["metric"]
    shades, shade_label = shading(grid, objective)
    cmap = colormaps[_colormap(objective)].with_extremes(bad="#dddddd")
    image = ax.imshow(np.ma.masked_invalid(shades), cmap=cmap, aspect="auto")
    for i, row in enumerate(grid.rows):
        for j, column in enumerate(grid.columns):
            cell, ran = grid.cell(row, column), bool(np.isfinite(shades[i, j]))
            colour = "white" if ran and _is_dark(cmap(image.norm(shades[i, j]))) else "black"
            note = note_text(cell, metric)
            ax.text(
                j,
                i - 0.1 if note else i,
                value_text(cell, metric),
                ha="center",
                va="bottom" if note else "center",
                fontsize=14 if ran else 10,
                color=colour if ran else "dimgray",
            )
            ax.text(j, i, note, ha="center", va="top", fontsize=8.5, color=colour, linespacing=1.4)
    ax.hlines(np.arange(len(grid.rows) - 1) + 0.5, -0.5, len(grid.columns) - 0.5, color="white", linewidth=2)
    ax.vlines(np.arange(len(grid.columns) - 1) + 0.5, -0.5, len(grid.rows) - 0.5, color="white", linewidth=2)
    ax.set_xticks(range(len(grid.columns)), [str(c) for c in grid.columns])
    ax.set_yticks(range(len(grid.rows)), [str(r) for r in grid.rows])
    ax.set_xlabel(grid.columns_arg)
    ax.set_ylabel(grid.rows_arg)
    ax.grid(False)
    ax.set_title(f"{objective_axis_label(objective)}: best per target · {study}")
    fig.colorbar(image, ax=ax, label=shade_label)


def _heatmaps_plotly(grid: TargetGrid, objectives: Sequence[Mapping[str, Any]], study: str) -> Any:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    titles = [f"{objective_axis_label(o)}: best per target" for o in objectives]
    fig = make_subplots(rows=len(objectives), cols=1, subplot_titles=titles)
    x, y = [str(c) for c in grid.columns], [str(r) for r in grid.rows]
    for k, objective in enumerate(objectives):
        metric = objective["metric"]
        text = [[_plotly_text(grid.cell(r, c), metric) for c in grid.columns] for r in grid.rows]
        shades, shade_label = shading(grid, objective)
        fig.add_trace(
            go.Heatmap(
                z=shades.tolist(),
                x=x,
                y=y,
                text=text,
                texttemplate="%{text}",
                colorscale="Viridis",
                reversescale=objective.get("direction") == "minimize",
                colorbar={
                    "title": {"text": shade_label},
                    "len": 0.9 / len(objectives),
                    "y": 1 - (k + 0.5) / len(objectives),
                },
                hovertemplate=f"{grid.rows_arg}=%{{y}} {grid.columns_arg}=%{{x}}<br>%{{text}}<extra></extra>",
            ),
            row=k + 1,
            col=1,
        )
        fig.update_xaxes(title_text=grid.columns_arg, type="category", row=k + 1, col=1)
        fig.update_yaxes(title_text=grid.rows_arg, type="category", autorange="reversed", row=k + 1, col=1)
    fig.update_layout(title_text=f"Best per target · {study}", height=max(420, 120 * len(grid.rows)) * len(objectives))
    return fig


def _plotly_text(cell: GridCell | None, metric: str) -> str:
    note = note_text(cell, metric).replace("\n", "<br>")
    return f"<b>{value_text(cell, metric)}</b>" + (f"<br>{note}" if note else "")
