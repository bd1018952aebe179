"""hpoctl from Python: read a target's results (`load`) and run a study whose objective is a function (`optimize`).

Both go through what the CLI uses: the same plan (`select_plans`), the same local backend and stage runner, the
same results folder, read back the way `hpoctl results show` reads it.

    >>> import hpoctl
    >>> results = hpoctl.load("everest", "M_24h")              # results/everest/M_24h, or a folder's path
    >>> results.best_params, results.best_value
    >>> results.trials.sort_values("value_tss").tail()          # a pandas DataFrame, one row per trial

    >>> def objective(params, report):
    ...     for epoch in range(1, report.epochs + 1):
    ...         report(epoch, loss=(params["x"] - 0.3) ** 2 + 1 / epoch)
    >>> hpoctl.optimize("my-study.yaml", objective, target="default").best_params
"""

from __future__ import annotations

import copy
import csv
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpoctl.errors import ResultsError, UsageError
from hpoctl.inprocess import Objective
from hpoctl.plan import Plan
from hpoctl.results import layout

if TYPE_CHECKING:
    import optuna
    import pandas

IN_PROCESS = "(in-process)"
"""The trainer command a study of a function records (its provenance and spec.yaml show the function's name)."""


@dataclass(frozen=True)
class StudyResults:
    """A target's results: its best trial (or Pareto front), every trial, the plots, the Optuna study."""

    folder: Path
    plan: Plan

    @cached_property
    def _read(self) -> Any:
        from hpoctl.results.reader import load_results
        from hpoctl.results.refresh import refresh_from_study

        refresh_from_study(self.plan, self.folder)  # the study is the truth: stale summary files are rewritten
        return load_results(self.folder, launch_as=self.plan.study)

    @property
    def best_params(self) -> dict[str, Any]:
        return dict(self._read.best["best_params"] or {})

    @property
    def best_value(self) -> float | None:
        """The best trial's value (one objective; for a confirmation, the mean over its seeds); None for several."""
        return self._read.best.get("best_value")

    @property
    def best_trial(self) -> dict[str, Any]:
        """The best trial (one objective) or the balanced Pareto pick (several), as best_params.json holds it."""
        return dict(self._read.best["best_trial"] or {})

    @property
    def pareto(self) -> list[dict[str, Any]] | None:
        """The Pareto front's trials (several objectives), else None."""
        return list(self._read.pareto["front"]) if self._read.pareto else None

    @property
    def trials(self) -> pandas.DataFrame:
        """trials.csv as a DataFrame: number, stage, state, value_* , metric_*, params_*, duration, failure."""
        import pandas

        path = self.folder / layout.TRIALS_CSV
        _ = self._read  # the study first: a trials.csv behind it is rewritten
        try:
            return pandas.read_csv(path)
        except (OSError, pandas.errors.ParserError, csv.Error) as e:
            raise ResultsError(f"{path} is not readable: {e}") from e

    @property
    def plots(self) -> dict[str, Path]:
        """The plots written at the end of each stage, by name (`optimization_history`: its PNG)."""
        folder = self.folder / layout.PLOTS_DIR
        return {p.stem: p for p in sorted(folder.glob("*.png"))}

    @property
    def study(self) -> optuna.Study:
        study = layout.load_folder_study(self.folder)
        if study is None:
            raise ResultsError(f"no study in {self.folder}")
        return study


def load(
    study: str | Path,
    target: str | None = None,
    *,
    results: str | Path | None = None,
    preset: list[str] | None = None,
    overrides: list[str] | None = None,
) -> StudyResults:
    """The results of `study` (a built-in study, a spec file, or a target's results folder) for `target`; `preset`
    and `overrides` (`--set` values, `"limits.max_trials=20"`) select the plan as on the command line."""
    from hpoctl.plan import one_plan
    from hpoctl.results.layout import default_root, target_dir

    folder = Path(study)
    if target is None:
        if not (folder / layout.SPEC).is_file():
            raise UsageError(f"{study}: give a target, or a target's results folder (one with {layout.SPEC})")
        from hpoctl.yamlio import load_yaml_file

        plan = Plan.model_validate(load_yaml_file(folder / layout.SPEC))
        return StudyResults(folder, plan)
    plan = one_plan("hpoctl.load", str(study), target, preset=preset, set_=overrides)
    root = Path(results) if results is not None else default_root()
    return StudyResults(target_dir(root, plan.study, plan.target), plan)


def optimize(
    spec: str | Path | Mapping[str, Any],
    objective: Objective,
    *,
    target: str | None = None,
    backend: str = "local",
    results: str | Path | None = None,
    preset: list[str] | None = None,
    overrides: list[str] | None = None,
    n_jobs: int | None = None,
) -> StudyResults:
    """Run the spec's protocol with `objective(params, report)` as each trial, in this process; the same results
    folder as `hpoctl launch` writes. `report(epoch, **metrics)` per epoch feeds the spec's pruner; `report.epochs`,
    `.seed`, `.stage` and `.number` say what the trial is. A spec needs no `trainer:` here; `preset`, `overrides`
    (`--set` values) and `n_jobs` (threads side by side) as for `hpoctl launch`."""
    from hpoctl.backends.local import LocalBackend, LocalOptions
    from hpoctl.catalog import LoadedStudy, load_study
    from hpoctl.plan import build_plans
    from hpoctl.spec.loader import parse_set_overrides, validate_spec

    if backend != "local":
        raise UsageError(
            f"backend={backend!r}: a Python function runs in this process, on the local backend; for katib or slurm "
            "give the study a trainer command that keeps the trainer contract"
        )
    if not callable(objective):
        raise UsageError(f"objective must be a function objective(params, report), got {type(objective).__name__}")
    name = getattr(objective, "__qualname__", type(objective).__name__)
    if isinstance(spec, Mapping):
        raw = copy.deepcopy(dict(spec))
        raw.setdefault("trainer", {"command": [IN_PROCESS, name]})
        loaded = LoadedStudy(raw, validate_spec(raw, "<optimize>"), "<optimize>")
    else:
        loaded = load_study(str(spec))
    changes = {**parse_set_overrides(overrides or []), "trainer": {"command": [IN_PROCESS, name], "module": None}}
    plans = build_plans(loaded, target or "all", presets=preset or [], overrides=changes)
    if len(plans) != 1:
        names = ", ".join(p.target for p in plans)
        raise UsageError(f"optimize runs one target; the study has {len(plans)} ({names}): give target=")
    root = Path(results) if results is not None else layout.default_root()
    LocalBackend().launch(plans, LocalOptions(results_dir=root, n_jobs=n_jobs, objective=objective))
    return StudyResults(layout.target_dir(root, plans[0].study, plans[0].target), plans[0])


__all__ = ["IN_PROCESS", "StudyResults", "load", "optimize"]
