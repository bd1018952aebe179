"""The plots of one (study, target): optimisation history, parameter importances, parallel
coordinates, slice, stage analysis and (several objectives) the Pareto front, each as a PNG and an
interactive HTML page, in the study's terms (terms.py). A plot that cannot be drawn is skipped with
a note, never an exception."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import plotly.graph_objects as go
from optuna.importance import PedAnovaImportanceEvaluator, get_param_importances
from optuna.trial import FrozenTrial
from plotly.subplots import make_subplots

from hpoctl.plan import Plan
from hpoctl.results import _figures, pareto, ranking
from hpoctl.results.history_plot import draw_history
from hpoctl.results.layout import PLOTS_DIR
from hpoctl.results.param_plots import common_axes, draw_parallel, draw_slice
from hpoctl.results.terms import ParamAxis, axis_label, param_axes, stage_colours
from hpoctl.results.trials import complete, count_states, display_value, stage_of, stored_label


@dataclass(frozen=True)
class PlotFile:
    title: str
    png: str  # relative to the results folder
    html: str


@dataclass
class PlotSet:
    plots: list[PlotFile] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    importances: dict[str, dict[str, float]] = field(default_factory=dict)  # objective -> param -> share


class Skip(Exception):
    """A plot that has nothing to show; the message says why."""


def write_plots(
    study: optuna.Study, plan: Plan, trials: Sequence[FrozenTrial], stages: Sequence[str], out_dir: Path
) -> PlotSet:
    """Draw every plot into `out_dir/plots/`; returns what was written and what was skipped."""
    result = PlotSet()
    done = complete(trials)
    if not done:
        result.notes.append("no plots: the study has no complete trial yet")
        return result
    ctx = _Context(study, plan, trials, stages, out_dir, result)
    for index, objective in enumerate(plan.objectives):
        suffix = f"_{objective.metric}" if plan.multi_objective else ""
        for_what = f" ({stored_label(objective)})" if plan.multi_objective else ""
        ctx.render(f"optimization_history{suffix}", f"Optimisation history{for_what}", ctx.history, index)
    ctx.render("param_importances", "Parameter importances", ctx.importances)
    for index, objective in enumerate(plan.objectives):
        suffix = f"_{objective.metric}" if plan.multi_objective else ""
        for_what = f" ({stored_label(objective)})" if plan.multi_objective else ""
        ctx.render(f"parallel_coordinate{suffix}", f"Parallel coordinates{for_what}", ctx.parallel, index)
        ctx.render(f"slice{suffix}", f"Slice{for_what}", ctx.slice, index)
    ctx.render("stage_analysis", "Stage analysis", ctx.stage_analysis)
    if plan.multi_objective:
        ctx.render("pareto_front", "Pareto front", ctx.pareto_front)
    return result


@dataclass
class _Context:
    study: optuna.Study
    plan: Plan
    trials: Sequence[FrozenTrial]
    stages: Sequence[str]
    out_dir: Path
    result: PlotSet

    @property
    def heading(self) -> str:
        return f"{self.plan.study} / {self.plan.target}"

    def render(self, name: str, title: str, draw: Callable[..., tuple[Any, Any]], *args: Any) -> None:
        """Draw one plot (a matplotlib and a plotly figure) and save both; a Skip or a failure
        becomes a note."""
        png, html = f"{PLOTS_DIR}/{name}.png", f"{PLOTS_DIR}/{name}.html"
        try:
            # The style context gives every plot the same look and undoes its settings afterwards.
            with warnings.catch_warnings(), _figures.style(), _figures.closing_new_figures():
                # Matplotlib widens a degenerate axis (every trial with the same value) by itself.
                warnings.filterwarnings("ignore", message="Attempting to set identical", category=UserWarning)
                mpl_fig, plotly_fig = draw(*args)
                _figures.save_png(mpl_fig, self.out_dir / png)
                _figures.save_html(plotly_fig, self.out_dir / html)
        except Skip as e:
            self.result.notes.append(f"{title}: skipped, {e}")
            return
        except Exception as e:  # a plot must never cost the results written around it
            self.result.notes.append(f"{title}: could not be drawn ({type(e).__name__}: {e})")
            return
        self.result.plots.append(PlotFile(title, png, html))

    def history(self, index: int) -> tuple[Any, Any]:
        return draw_history(self.trials, self.stages, self.plan.objectives[index], index, self.heading)

    def parallel(self, index: int) -> tuple[Any, Any]:
        axes = common_axes(self.trials, self._need_params())
        if not axes:
            raise Skip("no parameter is set on every complete trial")
        return draw_parallel(self.trials, axes, self.plan.objectives[index], index, self.heading)

    def slice(self, index: int) -> tuple[Any, Any]:
        axes = self._need_params()
        return draw_slice(self.trials, self.stages, axes, self.plan.objectives[index], index, self.heading)

    def _need_params(self) -> list[ParamAxis]:
        axes = param_axes(self.plan, complete(self.trials))
        if not axes:
            raise Skip("the complete trials have no parameters")
        return axes

    def importances(self) -> tuple[Any, Any]:
        """PED-ANOVA importances per objective (Optuna's default evaluator; fANOVA would need
        scikit-learn), drawn as horizontal bars."""
        self._need_params()
        done = complete(self.trials)
        if len(done) < 2:
            raise Skip(f"needs at least 2 complete trials, the study has {len(done)}")
        found: dict[str, dict[str, float]] = {}
        for index, objective in enumerate(self.plan.objectives):
            values = [t.values[index] for t in done]
            if max(values) == min(values):
                continue
            found[stored_label(objective)] = self._importances_for(index)
        if not found:
            raise Skip("every complete trial has the same objective value (zero variance)")
        self.result.importances = found
        params = sorted(
            {p for imp in found.values() for p in imp}, key=lambda p: max(i.get(p, 0) for i in found.values())
        )
        fig, (ax,) = _figures.new_figure(8, max(3.0, 0.45 * len(params) + 1.5))
        height = 0.8 / len(found)
        for k, (label, imp) in enumerate(found.items()):
            positions = np.arange(len(params)) + k * height - 0.4 + height / 2
            ax.barh(positions, [imp.get(p, 0.0) for p in params], height=height, label=label)
        ax.set_yticks(np.arange(len(params)), params)
        ax.set_xlabel("Importance (share, PED-ANOVA)")
        ax.set_ylabel("Parameter")
        ax.set_title(f"Parameter importances · {self.heading}")
        if len(found) > 1:
            ax.legend(title="Objective")
        plotly_fig = go.Figure(
            [
                go.Bar(x=[imp.get(p, 0.0) for p in params], y=params, orientation="h", name=label)
                for label, imp in found.items()
            ]
        )
        plotly_fig.update_layout(
            title_text=f"Parameter importances · {self.heading}",
            xaxis_title="Importance (share, PED-ANOVA)",
            yaxis_title="Parameter",
            barmode="group",
        )
        return fig, plotly_fig

    def _importances_for(self, index: int) -> dict[str, float]:
        if not self.plan.multi_objective:
            return get_param_importances(self.study, evaluator=PedAnovaImportanceEvaluator())
        sign = 1.0 if self.plan.objectives[index].optimised_direction == "minimize" else -1.0
        with warnings.catch_warnings():
            # PED-ANOVA warns that it treats a custom target as lower-is-better: the sign makes it so.
            warnings.filterwarnings("ignore", message="PedAnovaImportanceEvaluator computes", category=UserWarning)
            return get_param_importances(
                self.study, evaluator=PedAnovaImportanceEvaluator(), target=lambda t: sign * t.values[index]
            )

    def stage_analysis(self) -> tuple[Any, Any]:
        """Per stage, the distribution of each objective over its complete trials (box and points),
        with each stage's counts under its name."""
        objectives = self.plan.objectives
        stages = [s for s in self.stages if any(stage_of(t) == s for t in self.trials)]
        labels = []
        for stage in stages:
            counts = count_states(t for t in self.trials if stage_of(t) == stage)
            labels.append(
                f"{stage}\n{counts['complete']} complete, {counts['pruned']} pruned, {counts['failed']} failed"
            )
        fig, axes = _figures.new_figure(max(8, 2.6 * len(stages)), 4.2 * len(objectives), nrows=len(objectives))
        fig.suptitle(f"Stage analysis · {self.heading}")
        plotly_fig = make_subplots(rows=len(objectives), cols=1, subplot_titles=[o.label() for o in objectives])
        rng = np.random.default_rng(0)
        colours = stage_colours(self.stages)
        for row, (index, objective) in enumerate(zip(range(len(objectives)), objectives, strict=True)):
            ax = axes[row]
            data = []
            for stage in stages:
                done = [t for t in complete(self.trials) if stage_of(t) == stage]
                data.append([display_value(t, objective, index) for t in done])
                plotly_fig.add_trace(
                    go.Box(
                        y=data[-1],
                        name=stage,
                        boxpoints="all",
                        jitter=0.4,
                        pointpos=0,
                        text=[f"trial {t.number}" for t in done],
                        marker={"color": colours[stage]},
                        showlegend=False,
                    ),
                    row=row + 1,
                    col=1,
                )
            ax.boxplot([d if d else [np.nan] for d in data], tick_labels=labels, showfliers=False)
            for position, (stage, values) in enumerate(zip(stages, data, strict=True), start=1):
                jitter = rng.uniform(-0.12, 0.12, len(values))
                ax.scatter(position + jitter, values, s=14, alpha=0.6, zorder=3, color=colours[stage])
            if objective.target is not None:
                ax.axhline(
                    objective.target, color="gray", linestyle="--", linewidth=1, label=f"target {objective.target:g}"
                )
                ax.legend(loc="best")
            ax.set_ylabel(axis_label(objective))
            ax.set_xlabel("Stage")
            ax.set_title(f"{objective.label()}, complete trials by stage", fontsize=10)
            ax.grid(axis="y", alpha=0.3)
            plotly_fig.update_yaxes(title_text=axis_label(objective), row=row + 1, col=1)
        plotly_fig.update_layout(title_text=f"Stage analysis · {self.heading}", height=420 * len(objectives))
        return fig, plotly_fig

    def pareto_front(self) -> tuple[Any, Any]:
        """Each pair of objectives: the deciding stage's complete trials, the front, the balanced pick
        and the best per objective (stored values, so lower-left is better for minimised ones)."""
        directions = self.plan.directions
        stage = ranking.deciding_stage(self.trials, self.stages)
        done = complete(t for t in self.trials if stage_of(t) == stage)
        front = pareto.pareto_front(done, directions)
        chosen = pareto.balanced(front, directions)
        bests = pareto.best_per_objective(front, directions)
        labels = [stored_label(o) for o in self.plan.objectives]
        titles = [f"{label} ({o.optimised_direction})" for label, o in zip(labels, self.plan.objectives, strict=True)]
        pairs = [(i, j) for i in range(len(labels)) for j in range(i + 1, len(labels))]
        fig, axes = _figures.new_figure(6.5 * len(pairs), 5.5, ncols=len(pairs))
        plotly_fig = make_subplots(rows=1, cols=len(pairs))
        on_front = {t.number for t in front}
        for k, (i, j) in enumerate(pairs):
            ax = axes[k]
            rest = [t for t in done if t.number not in on_front]
            line = sorted(front, key=lambda t: (t.values[i], t.values[j]))
            ax.scatter([t.values[i] for t in rest], [t.values[j] for t in rest], c="lightgray", s=18, label="dominated")
            ax.plot(
                [t.values[i] for t in line],
                [t.values[j] for t in line],
                "o-",
                color="tab:blue",
                ms=5,
                label="Pareto front",
            )
            for pick, marker, name in [
                (chosen, "*", "balanced"),
                *((b, "D", f"best {labels[n]}") for n, b in enumerate(bests)),
            ]:
                ax.scatter(
                    pick.values[i],
                    pick.values[j],
                    marker=marker,
                    s=160 if marker == "*" else 60,
                    zorder=4,
                    label=f"{name} (#{pick.number})",
                )
            ax.set_xlabel(titles[i])
            ax.set_ylabel(titles[j])
            ax.set_title(f"Pareto front, stage {stage} · {self.heading}")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
            for group, name, color in [(rest, "dominated", "lightgray"), (line, "Pareto front", "royalblue")]:
                plotly_fig.add_trace(
                    go.Scatter(
                        x=[t.values[i] for t in group],
                        y=[t.values[j] for t in group],
                        mode="markers" if group is rest else "lines+markers",
                        name=name,
                        marker={"color": color},
                        text=[f"trial {t.number}<br>{t.params}" for t in group],
                        showlegend=k == 0,
                    ),
                    row=1,
                    col=k + 1,
                )
            plotly_fig.add_trace(
                go.Scatter(
                    x=[chosen.values[i]],
                    y=[chosen.values[j]],
                    mode="markers",
                    marker={"symbol": "star", "size": 16, "color": "crimson"},
                    name=f"balanced (#{chosen.number})",
                    showlegend=k == 0,
                ),
                row=1,
                col=k + 1,
            )
            plotly_fig.update_xaxes(title_text=titles[i], row=1, col=k + 1)
            plotly_fig.update_yaxes(title_text=titles[j], row=1, col=k + 1)
        plotly_fig.update_layout(title_text=f"Pareto front, stage {stage} · {self.heading}")
        return fig, plotly_fig
