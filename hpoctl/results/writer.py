"""write_results: one results folder per (study, target), the same whatever backend ran the trials.

Every file is written atomically (a temporary file in the same folder, then os.replace), so a crash
leaves the previous version, never a half file; the study's storage file is never touched.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.study import StudyDirection
from optuna.trial import TrialState

from hpoctl.errors import ResultsError
from hpoctl.plan import Plan
from hpoctl import atomic as _atomic
from hpoctl.results import layout, ranking, summary
from hpoctl.results.layout import BEST_PARAMS, PARETO, PROVENANCE, REPORT, SPEC, TOP_TRIALS_CSV, TRIALS_CSV
from hpoctl.results.plots import PlotSet, write_plots
from hpoctl.results.report import build_report
from hpoctl.results.trials import csv_cell, csv_table, stage_order, trial_summary
from hpoctl.yamlio import dump_yaml

TOP_TRIALS = 20


@dataclass(frozen=True)
class ResultsSummary:
    """What write_results wrote: the folder, its files (relative paths), the best trial (one
    objective) or balanced pick (several), the stage that decided it, counts, and skipped plots."""

    out_dir: Path
    files: list[str]
    best: dict[str, Any] | None
    stage: str | None
    counts: dict[str, int]
    notes: list[str] = field(default_factory=list)


def write_results(
    study: optuna.Study, plan: Plan, out_dir: Path, provenance: dict[str, Any], *, plots: bool = True
) -> ResultsSummary:
    """Write best_params.json, trials.csv, top_trials.csv, pareto.json (several objectives), plots/,
    report.md, spec.yaml and provenance.json for `study` into `out_dir` (results/<study>/<target>/).
    `plots=False` skips drawing (the slow part, about a second) for a quick refresh of the data files."""
    out_dir = Path(out_dir)
    _check_matches(study, plan)
    trials = study.get_trials(deepcopy=False)
    stages = stage_order(plan, trials)
    files: list[str] = []

    def put(name: str, write: Callable[[Path, Any], None], data: Any) -> None:
        write(out_dir / name, data)
        files.append(name)

    best = summary.best_params(study.study_name, plan, trials, stages)
    put(BEST_PARAMS, _atomic.write_json, best)
    columns, rows = csv_table(trials, plan)
    put(TRIALS_CSV, _atomic.write_text, _csv_text(columns, rows))
    # Ranked records: a confirmation's repeats merged into one whose values are their means (results.repeats).
    top = ranking.top_trials(trials, plan, TOP_TRIALS)
    top_columns, top_rows = csv_table(top, plan)
    ranked = [{"rank": rank, **row} for rank, row in enumerate(top_rows, start=1)]
    put(TOP_TRIALS_CSV, _atomic.write_text, _csv_text(["rank", *top_columns], ranked))
    pareto = None
    if plan.multi_objective:
        pareto = summary.pareto_data(plan, trials, stages)
        put(PARETO, _atomic.write_json, pareto)
    put(SPEC, _atomic.write_text, dump_yaml(plan.to_data()))
    put(PROVENANCE, _atomic.write_json, provenance)
    drawn = write_plots(study, plan, trials, stages, out_dir) if plots else PlotSet(notes=["plots not drawn this time"])
    files += [path for plot in drawn.plots for path in (plot.png, plot.html)]
    failures = [t for t in trials if t.state == TrialState.FAIL]
    data_files = files[: files.index(PROVENANCE) + 1]
    report = build_report(
        plan,
        best,
        pareto,
        [trial_summary(t, plan) for t in top],
        failures,
        drawn,
        dashboard_command(study, out_dir, provenance),
        data_files,
    )
    put(REPORT, _atomic.write_text, report)
    return ResultsSummary(
        out_dir=out_dir,
        files=files,
        best=best["best_trial"],
        stage=best["stage"],
        counts=best["counts"],
        notes=drawn.notes,
    )


def dashboard_command(study: optuna.Study, out_dir: Path, provenance: dict[str, Any]) -> str | None:
    """`optuna-dashboard <storage>` for the study: the storage given as provenance["storage"], the
    URL or journal file the study was opened with, or the results folder's study.db; None when the
    study lives only in memory."""
    storage = provenance.get("storage") or layout.storage_text(study)
    if storage is None and (out_dir / layout.SQLITE_FILE).is_file():
        storage = layout.sqlite_url(out_dir)
    return f"optuna-dashboard {storage}" if storage else None


def _check_matches(study: optuna.Study, plan: Plan) -> None:
    directions = ["minimize" if d == StudyDirection.MINIMIZE else "maximize" for d in study.directions]
    expected = plan.directions
    if directions != expected:
        raise ResultsError(
            f"study {study.study_name!r} optimises {directions} but the plan for {plan.study}/{plan.target} "
            f"has objectives {[o.metric for o in plan.objectives]} optimised as {expected}"
        )


def _csv_text(columns: list[str], rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([csv_cell(row.get(c)) for c in columns])
    return buffer.getvalue()
