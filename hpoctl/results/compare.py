"""Across the targets of a study: the best (or balanced) trial of each target side by side, a
model x dataset pivot when targets read MODEL@DATASET, a bar chart per objective, and (targets that
form a table of two args, everest's flare class x window) a heatmap grid with the expected ranges."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpoctl.errors import HpoctlError, ResultsError
from hpoctl.results.layout import COMPARE_DIR, SPEC, shown
from hpoctl.results.reader import list_targets, read_best_params
from hpoctl.results.target_grid import TargetGrid, build_grid
from hpoctl.spec.study import StudySpec

CHART = "best_per_target"
GRID_CHART = "target_grid"


@dataclass
class Comparison:
    """One row per target: target, each objective's value for the best (balanced) trial, the trial,
    its stage, counts by state and the parameters; `pivot` is {metric: {model: {dataset: value}}}."""

    study: str
    objectives: list[dict[str, Any]]
    rows: list[dict[str, Any]]
    pivot: dict[str, dict[str, dict[str, Any]]] | None = None
    grid: TargetGrid | None = None
    files: list[str] = field(default_factory=list)

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"study": self.study, "objectives": self.objectives, "targets": self.rows}
        if self.pivot is not None:
            data["model_x_dataset"] = self.pivot
        if self.grid is not None:
            data["grid"] = self.grid.to_data()
        if self.files:
            data["plots"] = self.files
        return data


def compare_targets(root: Path, study: str, spec: StudySpec | None = None) -> Comparison:
    """Read every target's best_params.json under root/<study>/; the grid's targets, args and expected
    ranges come from `spec`, else from the spec the results were written from (see recorded_spec)."""
    targets = list_targets(root, study)
    if not targets:
        raise ResultsError(f"no results for {study} in {shown(root)}: run `hpoctl launch {study} --target all` first")
    objectives: list[dict[str, Any]] = []
    rows = []
    for target in targets:
        best = read_best_params(Path(root) / study / target)
        for objective in best["objectives"]:
            if objective["metric"] not in [o["metric"] for o in objectives]:
                objectives.append(objective)
        trial = best.get("best_trial") or {}
        counts = best.get("counts", {})
        row: dict[str, Any] = {"target": target}
        for objective in objectives:
            row[objective["metric"]] = shown_value(trial, objective["metric"])
        row.update(
            {
                "trial": trial.get("number"),
                "stage": best.get("stage"),
                "complete": counts.get("complete", 0),
                "pruned": counts.get("pruned", 0),
                "failed": counts.get("failed", 0),
                "params": trial.get("params"),
            }
        )
        rows.append(row)
    comparison = Comparison(study, objectives, rows)
    if all("@" in row["target"] for row in rows):
        comparison.pivot = model_dataset_pivot(rows, [o["metric"] for o in objectives])
    comparison.grid = target_grid(Path(root) / study, spec or recorded_spec(Path(root) / study, targets), comparison)
    return comparison


def target_grid(folder: Path, spec: StudySpec | None, comparison: Comparison) -> TargetGrid | None:
    """Every target of the spec in its grid (targets not run yet as empty cells); without a spec,
    the targets that have results, by the args their spec.yaml records."""
    values = {
        row["target"]: {o["metric"]: row.get(o["metric"]) for o in comparison.objectives} for row in comparison.rows
    }
    if spec is None:
        args = {target: _recorded(folder / target).get("target_args") or {} for target in values}
        return build_grid(args, {}, values)
    axes = (spec.target_grid.rows, spec.target_grid.columns) if spec.target_grid else None
    args = {name: target.args for name, target in spec.targets.items()}
    expected = {name: target.expected for name, target in spec.targets.items()}
    return build_grid(args, expected, values, axes)


def recorded_spec(folder: Path, targets: list[str]) -> StudySpec | None:
    """The study spec the results were written from, found again by the `source` their spec.yaml
    records (a built-in study, or a spec file that is still where it was); None when it cannot be."""
    from hpoctl.catalog import load_study

    for target in targets:
        name = _loadable(str(_recorded(folder / target).get("source") or ""))
        if name is None:
            continue
        try:
            return load_study(name).spec
        except HpoctlError:
            continue
    return None


def _loadable(source: str) -> str | None:
    """What load_study takes for a recorded source: a built-in's name, or a spec file still there."""
    if source.startswith("catalog/"):
        return source.removeprefix("catalog/").removesuffix(".yaml")
    return source if source and Path(source).is_file() else None


def _recorded(out_dir: Path) -> dict[str, Any]:
    """The plan a target's results were written with (spec.yaml), or {} when it cannot be read."""
    from hpoctl.yamlio import load_yaml_file

    try:
        data = load_yaml_file(out_dir / SPEC)
    except (HpoctlError, OSError):
        return {}
    return data if isinstance(data, dict) else {}


def shown_value(trial: dict[str, Any], metric: str) -> Any:
    """The raw metric the trial reported (PICP itself, not its distance to 0.80), else the stored value."""
    raw = trial.get("metrics", {}).get(metric)
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return raw
    return trial.get("values", {}).get(metric)


def model_dataset_pivot(rows: list[dict[str, Any]], metrics: list[str]) -> dict[str, dict[str, dict[str, Any]]]:
    pivot: dict[str, dict[str, dict[str, Any]]] = {m: {} for m in metrics}
    for row in rows:
        model, dataset = row["target"].split("@", 1)
        for metric in metrics:
            pivot[metric].setdefault(model, {})[dataset] = row.get(metric)
    return pivot


def pivot_rows(pivot: dict[str, dict[str, dict[str, Any]]]) -> tuple[list[str], list[dict[str, Any]]]:
    """The pivot as a table: one row per model, one column per dataset, each cell every metric."""
    metrics = list(pivot)
    models = sorted({m for by_model in pivot.values() for m in by_model})
    datasets = sorted({d for by_model in pivot.values() for cells in by_model.values() for d in cells})
    rows = []
    for model in models:
        row: dict[str, Any] = {"model": model}
        for dataset in datasets:
            parts = [(metric, pivot[metric].get(model, {}).get(dataset)) for metric in metrics]
            row[dataset] = (
                " · ".join(f"{m} {_fmt(v)}" for m, v in parts) if any(v is not None for _, v in parts) else None
            )
        rows.append(row)
    return ["model", *datasets], rows


def write_compare_plot(comparison: Comparison, root: Path) -> list[Path]:
    """A bar per target for each objective and, targets forming a grid, the grid's heatmaps (PNG and
    HTML) in root/<study>/compare/."""
    from hpoctl.results.target_grid import draw_grid

    folder = Path(root) / comparison.study / COMPARE_DIR
    written = _write_chart(folder, CHART, lambda: _draw(comparison))
    grid = comparison.grid
    if grid is not None:
        written += _write_chart(folder, GRID_CHART, lambda: draw_grid(grid, comparison.objectives, comparison.study))
    comparison.files = [str(p) for p in written]
    return written


def _write_chart(folder: Path, name: str, draw: Callable[[], tuple[Any, Any]]) -> list[Path]:
    from hpoctl.results import _figures

    png, html = folder / f"{name}.png", folder / f"{name}.html"
    with _figures.style():
        fig, plotly_fig = draw()
        _figures.save_png(fig, png)
    _figures.save_html(plotly_fig, html)
    return [png, html]


def _draw(comparison: Comparison) -> tuple[Any, Any]:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from hpoctl.results import _figures

    objectives = comparison.objectives
    targets = [row["target"] for row in comparison.rows]
    fig, axes = _figures.new_figure(max(7, 0.7 * len(targets) + 3), 3.8 * len(objectives), nrows=len(objectives))
    plotly_fig = make_subplots(rows=len(objectives), cols=1, subplot_titles=[o["label"] for o in objectives])
    for k, objective in enumerate(objectives):
        values = [row.get(objective["metric"]) for row in comparison.rows]
        ax = axes[k]
        bars = ax.bar(targets, [v if isinstance(v, (int, float)) else 0.0 for v in values], color="tab:blue")
        ax.bar_label(bars, labels=[_fmt(v) for v in values], fontsize=8)
        if objective.get("target") is not None:
            ax.axhline(
                objective["target"], color="gray", linestyle="--", linewidth=1, label=f"target {objective['target']}"
            )
            ax.legend(loc="best")
        pick = "balanced pick" if len(objectives) > 1 else "best trial"
        ax.set_title(f"{objective['label']}: {pick} per target · {comparison.study}")
        ax.set_xlabel("Target")
        ax.set_ylabel(objective["metric"])
        ax.tick_params(axis="x", labelrotation=45 if len(targets) > 4 else 0)
        plotly_fig.add_trace(go.Bar(x=targets, y=values, name=objective["metric"]), row=k + 1, col=1)
        plotly_fig.update_yaxes(title_text=objective["metric"], row=k + 1, col=1)
    plotly_fig.update_layout(title_text=f"Best trial per target · {comparison.study}", height=380 * len(objectives))
    return fig, plotly_fig


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)
