"""Plots in the study's terms: the metric and its direction on the axes, the history coloured by stage
with each stage's best-so-far line, categorical axes in the spec's order of choices."""

from __future__ import annotations

import pytest

from hpoctl.results.history_plot import draw_history
from hpoctl.results.param_plots import draw_parallel, draw_slice
from hpoctl.results.plots import _Context
from hpoctl.results.terms import STAGE_PALETTE, axis_label, param_axes
from hpoctl.results.trials import stage_order
from tests.results.synthetic import (
    EVEREST_DISTRIBUTIONS,
    add,
    build_everest,
    build_forecast,
    everest_params,
    everest_plan,
    new_study,
)

STAGES = ["exploration", "refinement", "confirmation"]


@pytest.fixture(scope="module")
def everest(tmp_path_factory):
    study, plan = build_everest(tmp_path_factory.mktemp("terms"), sqlite=False)
    trials = study.get_trials(deepcopy=False)
    return study, plan, trials, stage_order(plan, trials)


@pytest.fixture(scope="module")
def forecast(tmp_path_factory):
    study, plan = build_forecast(tmp_path_factory.mktemp("forecast"), sqlite=False)
    trials = study.get_trials(deepcopy=False)
    return study, plan, trials, stage_order(plan, trials)


@pytest.fixture(scope="module")
def batch_sizes_reversed(tmp_path_factory):
    """Trials whose batch sizes first appear as 1024, 512, 256: the reverse of the spec's choices."""
    plan = everest_plan()
    study = new_study(tmp_path_factory.mktemp("reversed"), plan, sqlite=False)
    for number, batch_size in enumerate([1024, 512, 256, 1024]):
        params = {**everest_params(number), "batch_size": batch_size}
        add(study, plan, "exploration", "complete", [0.4 + 0.05 * number], params, EVEREST_DISTRIBUTIONS)
    trials = study.get_trials(deepcopy=False)
    return plan, trials, stage_order(plan, trials)


def test_axis_label_is_the_metric_and_its_direction(forecast):
    mae, picp = forecast[1].objectives
    assert axis_label(mae) == "mae (minimize)"
    assert axis_label(picp) == "picp (closest to 0.8)"


def test_history_is_coloured_by_stage_with_each_stages_best_so_far(everest):
    _, plan, trials, stages = everest
    fig, plotly_fig = draw_history(trials, stages, plan.objectives[0], 0, "everest / M_24h")
    ax = fig.axes[0]
    assert ax.get_ylabel() == "tss (maximize)" and ax.get_xlabel() == "Trial"
    points = {c.get_label(): c for c in ax.collections}
    assert list(points) == [
        "exploration (5 complete, 2 pruned, 1 failed)",
        "refinement (3 complete, 1 failed)",
        "confirmation (2 complete)",
    ]
    colours = [tuple(c.get_facecolor()[0][:3]) for c in points.values()]
    assert len(set(colours)) == 3
    best = {line.get_label(): list(line.get_ydata()) for line in ax.get_lines()}
    assert best["exploration best so far (0.7)"] == [0.40, 0.55, 0.62, 0.62, 0.70]
    assert best["refinement best so far (0.66)"] == [0.58, 0.66, 0.66]
    assert best["confirmation best so far (0.64)"] == [0.61, 0.64]
    assert plotly_fig.layout.yaxis.title.text == "tss (maximize)"
    markers = [t for t in plotly_fig.data if t.mode == "markers"]
    assert [t.marker.color for t in markers] == list(STAGE_PALETTE[:3])
    lines = [t for t in plotly_fig.data if t.mode == "lines"]
    assert [t.name for t in lines] == [f"{s} best so far" for s in STAGES]
    assert list(lines[0].y) == [0.40, 0.55, 0.62, 0.62, 0.70]


def test_minimised_history_keeps_the_lowest(forecast):
    _, plan, trials, stages = forecast
    _, plotly_fig = draw_history(trials, stages, plan.objectives[0], 0, "forecast")
    (line,) = [t for t in plotly_fig.data if t.mode == "lines"]
    assert list(line.y) == [10.0, 10.0, 8.0, 8.0, 8.0, 8.0, 8.0, 8.0, 8.0]
    assert plotly_fig.layout.yaxis.title.text == "mae (minimize)"


def test_parallel_coordinates_label_the_objective_and_keep_the_spec_order(batch_sizes_reversed):
    plan, trials, _ = batch_sizes_reversed
    axes = param_axes(plan, trials)
    assert [a.name for a in axes] == list(plan.parameters)
    fig, plotly_fig = draw_parallel(trials, axes, plan.objectives[0], 0, "everest")
    dimensions = {d.label: d for d in plotly_fig.data[0].dimensions}
    assert plotly_fig.data[0].dimensions[0].label == "tss (maximize)"
    batch = dimensions["batch_size"]
    assert list(batch.ticktext) == ["256", "512", "1024"]
    assert list(batch.values) == [2, 1, 0, 2]
    assert list(dimensions["learning_rate"].ticktext) == ["1e-05", "0.0001", "0.001", "0.01"]
    names = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert names[0] == "tss (maximize)" and "learning_rate (log)" in names
    assert fig.axes[1].get_ylabel() == "tss (maximize)"  # the colour bar


def test_slice_orders_choices_as_the_spec_and_colours_by_stage(batch_sizes_reversed, everest):
    plan, trials, stages = batch_sizes_reversed
    fig, plotly_fig = draw_slice(trials, stages, param_axes(plan, trials), plan.objectives[0], 0, "everest")
    batch = next(ax for ax in fig.axes if ax.get_xlabel() == "batch_size")
    assert [t.get_text() for t in batch.get_xticklabels()] == ["256", "512", "1024"]
    assert fig.axes[0].get_ylabel() == "tss (maximize)"
    assert next(ax for ax in fig.axes if ax.get_xlabel() == "learning_rate").get_xscale() == "log"
    layout_axes = [plotly_fig.layout[k] for k in plotly_fig.layout if k.startswith("xaxis")]
    batch_axis = next(a for a in layout_axes if a.title.text == "batch_size")
    assert list(batch_axis.categoryarray) == ["256", "512", "1024"]
    _, plan, trials, stages = everest
    _, plotly_fig = draw_slice(trials, stages, param_axes(plan, trials), plan.objectives[0], 0, "everest")
    shown = [t for t in plotly_fig.data if t.showlegend]
    assert [t.name for t in shown] == STAGES
    assert plotly_fig.layout.yaxis.title.text == "tss (maximize)"


def test_stage_analysis_and_pareto_axes_name_the_direction(everest, forecast, tmp_path):
    fig, plotly_fig = _Context(*everest, tmp_path, None).stage_analysis()
    assert fig.axes[0].get_ylabel() == "tss (maximize)"
    assert plotly_fig.layout.yaxis.title.text == "tss (maximize)"
    assert [box.marker.color for box in plotly_fig.data] == list(STAGE_PALETTE[:3])
    fig, _ = _Context(*forecast, tmp_path, None).pareto_front()
    assert (fig.axes[0].get_xlabel(), fig.axes[0].get_ylabel()) == ("mae (minimize)", "|picp - 0.8| (minimize)")
