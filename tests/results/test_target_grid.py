"""The cross-target grid (everest: flare class x window) with the spec's expected ranges, and the
target metadata in the spec model that feeds it."""

from __future__ import annotations

import copy
import math

import pytest
import yaml

from hpoctl.catalog import load_study
from hpoctl.errors import SpecError
from hpoctl.results.compare import compare_targets, write_compare_plot
from hpoctl.results.layout import SPEC
from hpoctl.results.target_grid import build_grid, derive_axes, draw_grid, shading, value_text
from hpoctl.spec.loader import validate_spec
from tests.results.synthetic import build_everest, write

EVEREST_ARGS = {name: t.args for name, t in load_study("everest").spec.targets.items()}
# (target, shift of every TSS): best TSS C_24h 0.72 (expected 0.65-0.75), M_72h 0.69 (0.45-0.55),
# X_48h 0.34 (0.40-0.50); the six other targets are not run.
RUNS = [("C_24h", 0.08), ("M_72h", 0.05), ("X_48h", -0.30)]


@pytest.fixture(scope="module")
def results_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("grid") / "results"
    for target, shift in RUNS:
        write(root, *build_everest(root, target, shift, sqlite=False), plots=False)
    return root


def test_grid_axes_are_derived_from_the_two_varying_args():
    assert derive_axes(EVEREST_ARGS) == ("flare-class", "window")
    assert derive_axes({"a": {"model": "x", "seed": 1}, "b": {"model": "y", "seed": 1}}) is None
    three = {f"{c}{w}{s}": {"c": c, "w": w, "s": s} for c in "CM" for w in (24, 48) for s in (1, 2)}
    assert derive_axes(three) is None
    shared_cell = {"a": {"c": "C", "w": 24}, "b": {"c": "M", "w": 48}, "c": {"c": "C", "w": 24, "x": 1}}
    assert derive_axes(shared_cell) is None


def test_compare_lays_everest_out_as_class_by_window_with_expected_ranges(results_root):
    grid = compare_targets(results_root, "everest").grid
    assert (grid.rows_arg, grid.columns_arg) == ("flare-class", "window")
    assert (grid.rows, grid.columns) == (["C", "M", "X"], [24, 48, 72])
    cells = {c.target: c for c in grid.cells}
    assert len(cells) == 9
    assert cells["C_24h"].values == {"tss": 0.72} and cells["C_24h"].expected == {"tss": [0.65, 0.75]}
    assert [cells[t].verdict("tss") for t in ("C_24h", "M_72h", "X_48h", "M_24h")] == [
        "within",
        "above",
        "below",
        None,
    ]
    matrix = grid.matrix("tss")
    assert matrix[0, 0] == 0.72 and matrix[1, 2] == 0.69 and matrix[2, 1] == 0.34
    assert math.isnan(matrix[1, 0])
    data = compare_targets(results_root, "everest").to_data()["grid"]
    assert data["cells"][0] == {
        "target": "C_24h",
        "flare-class": "C",
        "window": 24,
        "values": {"tss": 0.72},
        "expected": {"tss": [0.65, 0.75]},
        "verdict": {"tss": "within"},
    }


def test_grid_figures_show_value_expected_range_and_verdict(results_root):
    comparison = compare_targets(results_root, "everest")
    fig, plotly_fig = draw_grid(comparison.grid, comparison.objectives, "everest")
    ax = fig.axes[0]
    assert (ax.get_ylabel(), ax.get_xlabel()) == ("flare-class", "window")
    assert [t.get_text() for t in ax.get_yticklabels()] == ["C", "M", "X"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["24", "48", "72"]
    texts = [t.get_text() for t in ax.texts]
    assert "0.720" in texts and "expected 0.65–0.75\n✓ within" in texts
    assert "expected 0.40–0.50\n↓ below" in texts and texts.count("not run") == 6
    assert fig.axes[1].get_ylabel() == "tss (maximize)"  # the colour bar
    (heatmap,) = plotly_fig.data
    assert list(heatmap.y) == ["C", "M", "X"] and list(heatmap.x) == ["24", "48", "72"]
    assert heatmap.text[1][2] == "<b>0.690</b><br>expected 0.45–0.55<br>↑ above"
    assert heatmap.colorbar.title.text == "tss (maximize)"


def test_compare_writes_the_grid_next_to_the_bar_chart(results_root):
    written = write_compare_plot(compare_targets(results_root, "everest"), results_root)
    assert sorted(p.name for p in written) == [
        "best_per_target.html",
        "best_per_target.png",
        "target_grid.html",
        "target_grid.png",
    ]


def test_without_the_spec_the_grid_comes_from_the_recorded_target_args(results_root, tmp_path):
    root = tmp_path / "results"
    for target, _ in RUNS:
        folder = root / "everest" / target
        folder.mkdir(parents=True)
        for name in ("best_params.json", SPEC):
            (folder / name).write_text((results_root / "everest" / target / name).read_text())
        plan = yaml.safe_load((folder / SPEC).read_text())
        (folder / SPEC).write_text(yaml.safe_dump({**plan, "source": str(tmp_path / "moved.yaml")}))
    grid = compare_targets(root, "everest").grid
    assert [c.target for c in grid.cells] == ["C_24h", "M_72h", "X_48h"]
    assert all(c.expected == {} for c in grid.cells)


def test_everest_catalog_has_structured_expected_ranges():
    spec = load_study("everest").spec
    assert (spec.target_grid.rows, spec.target_grid.columns) == ("flare-class", "window")
    assert spec.targets["C_24h"].expected == {"tss": [0.65, 0.75]}
    assert spec.targets["X_72h"].expected == {"tss": [0.35, 0.45]}
    assert all(t.description and "expected" not in t.description for t in spec.targets.values())


def _everest_with(change) -> dict:
    raw = copy.deepcopy(load_study("everest").raw)
    change(raw)
    return raw


@pytest.mark.parametrize(
    ("change", "line"),
    [
        (
            lambda r: r["targets"]["C_24h"].update(expected={"tss": [0.75, 0.65]}),
            "targets.C_24h.expected.tss: an expected range is [low, high] with low <= high, got [0.75, 0.65]",
        ),
        (
            lambda r: r["targets"]["C_24h"].update(expected={"tss": [0.65]}),
            "targets.C_24h.expected.tss: an expected range is [low, high], got [0.65]",
        ),
        (
            lambda r: r["targets"]["C_24h"].update(expected={"tss": [float("nan"), 0.7]}),
            "targets.C_24h.expected.tss: an expected range needs finite bounds, got [nan, 0.7]",
        ),
        (
            lambda r: r["targets"]["M_24h"].update(expected={"auc": [0.6, 0.7]}),
            "targets.M_24h.expected.auc: 'auc' is not an objective of the study (valid: tss)",
        ),
        (
            lambda r: r.update(target_grid={"rows": "window", "columns": "window"}),
            "target_grid.columns: 'window' is also the rows; name two different target args",
        ),
        (
            lambda r: r.update(target_grid={"rows": "class", "columns": "window"}),
            "target_grid.rows: 'class' is not an arg of target(s) C_24h, C_48h",
        ),
        (
            lambda r: r["targets"]["C_24h"]["args"].update(window=48),
            "target_grid: targets C_24h and C_48h share the cell flare-class='C', window=48",
        ),
    ],
)
def test_bad_target_metadata_is_one_line_naming_field_and_value(change, line):
    with pytest.raises(SpecError) as error:
        validate_spec(_everest_with(change), "everest.yaml")
    assert len(error.value.problems) == 1
    assert error.value.problems[0].startswith(line)


def test_a_target_objective_is_shaded_by_its_distance_to_the_target():
    args = {"A@x": {"model": "A", "dataset": "x"}, "B@x": {"model": "B", "dataset": "x"}}
    grid = build_grid(args, {}, {"A@x": {"picp": 0.70}, "B@x": {"picp": 0.85}}, axes=("model", "dataset"))
    picp = {"metric": "picp", "direction": "minimize", "target": 0.8, "stored_as": "|picp - 0.8|"}
    shades, label = shading(grid, picp)
    assert label == "|picp - 0.8| (minimize)"
    assert shades[:, 0] == pytest.approx([0.10, 0.05])
    assert [value_text(grid.cell(m, "x"), "picp") for m in ("A", "B")] == ["0.700", "0.850"]
