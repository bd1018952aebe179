"""write_results on a three-stage, single-objective study: every file, the best from the last stage,
every trial in trials.csv, the top trials in order, real PNGs and offline HTML."""

from __future__ import annotations

import csv
import json

import optuna
import pytest
import yaml

from hpoctl.errors import ResultsError
from hpoctl.results import write_results
from tests.results.synthetic import EVEREST_TRIALS, build_everest, build_forecast, everest_params, write

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PLOTS = ["optimization_history", "param_importances", "parallel_coordinate", "slice", "stage_analysis"]


def read_csv(path):
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_every_file_is_written(everest_results):
    out = everest_results.out_dir
    for name in ["best_params.json", "trials.csv", "top_trials.csv", "report.md", "spec.yaml", "provenance.json"]:
        assert (out / name).is_file(), name
    assert not (out / "pareto.json").exists()
    assert {f"plots/{p}.png" for p in PLOTS} | {f"plots/{p}.html" for p in PLOTS} <= set(everest_results.summary.files)
    assert everest_results.summary.notes == []
    assert (out / "study.db").is_file()
    assert not list(out.rglob("*.tmp")), "temporary files left behind"


def test_best_is_from_the_last_stage_with_complete_trials(everest_results):
    best = json.loads((everest_results.out_dir / "best_params.json").read_text())
    # Trial 6 (exploration, 0.70) has the best value overall; the confirmation stage supersedes it.
    assert best["stage"] == "confirmation"
    assert best["best_trial_number"] == 13
    assert best["best_value"] == pytest.approx(0.64)
    assert best["best_params"] == everest_params(9)
    assert best["best_trial"]["source_trial"] == 9
    assert best["n_trials"] == len(EVEREST_TRIALS)
    assert best["objectives"][0]["metric"] == "tss" and best["objectives"][0]["direction"] == "maximize"
    assert {stage: t["number"] for stage, t in best["best_per_stage"].items()} == {
        "exploration": 6,
        "refinement": 9,
        "confirmation": 13,
    }
    assert best["counts"] == {"complete": 10, "pruned": 2, "failed": 2, "interrupted": 0, "running": 0, "waiting": 0}
    assert best["counts_by_stage"]["exploration"]["pruned"] == 2
    assert everest_results.summary.best["number"] == 13 and everest_results.summary.stage == "confirmation"


def test_trials_csv_has_every_trial_with_stage_and_failure_reason(everest_results):
    rows = read_csv(everest_results.out_dir / "trials.csv")
    assert [int(r["number"]) for r in rows] == list(range(len(EVEREST_TRIALS)))
    for row, (stage, state, tss, failure, source) in zip(rows, EVEREST_TRIALS, strict=True):
        assert row["stage"] == stage and row["state"] == state
        assert row["failure_reason"] == (failure or "")
        assert row["source_trial"] == ("" if source is None else str(source))
        assert row["value_tss"] == ("" if tss is None else repr(tss))
        assert row["epochs"] == {"exploration": "4", "refinement": "6", "confirmation": "8"}[stage]
    columns = rows[0].keys()
    assert {"metric_tss", "metric_val_loss", "duration_s", "params_embed_dim", "params_batch_size"} <= set(columns)


def test_top_trials_are_complete_and_ordered_by_value(everest_results):
    rows = read_csv(everest_results.out_dir / "top_trials.csv")
    assert [int(r["number"]) for r in rows] == [6, 9, 13, 3, 12, 8, 1, 5, 11, 0]
    assert [int(r["rank"]) for r in rows] == list(range(1, 11))
    assert {r["state"] for r in rows} == {"complete"}


def test_top_trials_stop_at_twenty(tmp_path):
    study, plan = build_forecast(tmp_path, points=[(float(i % 7), 0.5 + i / 100) for i in range(30)], sqlite=False)
    plan_single = plan.model_copy(update={"objectives": plan.objectives[:1]})
    single = optuna.create_study(directions=["minimize"])
    for trial in study.trials:
        single.add_trial(
            optuna.trial.create_trial(
                value=trial.values[0],
                params=trial.params,
                distributions=trial.distributions,
                user_attrs=trial.user_attrs,
            )
        )
    written = write(tmp_path, single, plan_single, plots=False)
    rows = read_csv(written.out_dir / "top_trials.csv")
    assert len(rows) == 20
    values = [float(r["value_mae"]) for r in rows]
    assert values == sorted(values)


def test_pngs_are_real_and_html_works_offline(everest_results):
    plots = everest_results.out_dir / "plots"
    for name in PLOTS:
        png = (plots / f"{name}.png").read_bytes()
        assert png.startswith(PNG_MAGIC) and len(png) > 10_000, name
        html = (plots / f"{name}.html").read_text()
        assert '<script charset="utf-8" src="plotly.min.js">' in html, name
    assert (plots / "plotly.min.js").stat().st_size > 1_000_000


def test_report_says_what_ran_and_links_what_exists(everest_results):
    out = everest_results.out_dir
    report = (out / "report.md").read_text()
    assert report.startswith("# everest / M_24h")
    assert "| exploration | continue | 8 x 4 |" in report
    assert "| confirmation | top-k | 4 x 8 (top 2, 2 seeds each) |" in report
    assert "Trial #13 of stage `confirmation`" in report and "tss = 0.64" in report
    assert "CUDA out of memory" in report and "loss is NaN at epoch 3" in report
    assert f"optuna-dashboard sqlite:///{out / 'study.db'}" in report
    for name in PLOTS:
        assert f"](plots/{name}.png)" in report and f"](plots/{name}.html)" in report


def test_spec_and_provenance(everest_results):
    out = everest_results.out_dir
    assert yaml.safe_load((out / "spec.yaml").read_text()) == everest_results.plan.to_data()
    assert json.loads((out / "provenance.json").read_text()) == {"seeds": [42]}


def test_storage_is_untouched(everest_results):
    storage = f"sqlite:///{everest_results.out_dir / 'study.db'}"
    study = optuna.load_study(study_name="everest.M_24h", storage=storage)
    assert len(study.trials) == len(EVEREST_TRIALS)


def test_no_complete_trial_yet(tmp_path):
    study, plan = build_everest(tmp_path)
    empty = optuna.create_study(directions=["maximize"])
    for trial in study.trials:
        if trial.state != optuna.trial.TrialState.COMPLETE:
            empty.add_trial(trial)
    written = write(tmp_path, empty, plan)
    best = json.loads((written.out_dir / "best_params.json").read_text())
    assert best["best_trial_number"] is None and best["best_value"] is None and best["stage"] is None
    assert written.summary.notes == ["no plots: the study has no complete trial yet"]
    assert "No trial has completed yet." in (written.out_dir / "report.md").read_text()
    assert read_csv(written.out_dir / "top_trials.csv") == []


def test_importances_are_skipped_with_a_note_not_a_crash(tmp_path):
    study, plan = build_everest(tmp_path)
    one = optuna.create_study(directions=["maximize"])
    one.add_trial(study.trials[0])
    written = write(tmp_path / "one", one, plan)
    assert any("Parameter importances: skipped, needs at least 2 complete trials" in n for n in written.summary.notes)
    assert (written.out_dir / "plots" / "optimization_history.png").is_file()

    flat = optuna.create_study(directions=["maximize"])
    for trial in study.trials[:4]:
        flat.add_trial(
            optuna.trial.create_trial(
                state=trial.state,
                value=0.5 if trial.values else None,
                params=trial.params,
                distributions=trial.distributions,
                user_attrs=trial.user_attrs,
            )
        )
    written = write(tmp_path / "flat", flat, plan)
    assert any("zero variance" in n for n in written.summary.notes)
    assert not (written.out_dir / "plots" / "param_importances.png").exists()


def test_study_that_does_not_match_the_plan(tmp_path):
    _, plan = build_everest(tmp_path)
    with pytest.raises(ResultsError, match="optimises \\['minimize'\\] but the plan for everest/M_24h"):
        write_results(optuna.create_study(direction="minimize"), plan, tmp_path / "out", {})


def test_dashboard_command_names_the_storage(tmp_path):
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    from hpoctl.results.writer import dashboard_command

    journal = str(tmp_path / "journal.log")
    study = optuna.create_study(storage=JournalStorage(JournalFileBackend(journal)))
    assert dashboard_command(study, tmp_path, {}) == f"optuna-dashboard {journal}"
    assert dashboard_command(study, tmp_path, {"storage": "sqlite:///x.db"}) == "optuna-dashboard sqlite:///x.db"
    assert dashboard_command(optuna.create_study(), tmp_path, {}) is None
