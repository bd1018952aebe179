"""Reading a results folder back (for `hpoctl results` and anyone else): best_params.json,
top_trials.csv and pareto.json, with one clear line when they are missing or unreadable."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpoctl.errors import ResultsError
from hpoctl.results.layout import BEST_PARAMS, COMPARE_DIR, PARETO, TOP_TRIALS_CSV, shown, target_dir

__all__ = [
    "Results",
    "list_targets",
    "load_results",
    "read_best_params",
    "read_pareto",
    "read_top_trials",
    "target_dir",
]


@dataclass(frozen=True)
class Results:
    """A results folder as read back: best_params.json, pareto.json (several objectives) and the
    top trials (rows of top_trials.csv as {rank, number, stage, values, metrics, params, ...})."""

    out_dir: Path
    best: dict[str, Any]
    pareto: dict[str, Any] | None
    top: list[dict[str, Any]]

    @property
    def multi_objective(self) -> bool:
        return bool(self.best.get("multi_objective"))


def load_results(out_dir: Path, launch_as: str | None = None) -> Results:
    """Read results/<study>/<target>/; ResultsError (one line, saying what to run: `hpoctl launch <launch_as>`,
    the study as the user named it, a spec file's path included) when it is missing or corrupt."""
    out_dir = Path(out_dir)
    best = read_best_params(out_dir, launch_as)
    pareto = read_pareto(out_dir) if best.get("multi_objective") else None
    return Results(out_dir, best, pareto, read_top_trials(out_dir, best))


def read_best_params(out_dir: Path, launch_as: str | None = None) -> dict[str, Any]:
    data = _read_json(Path(out_dir), BEST_PARAMS, launch_as)
    if not isinstance(data, dict) or not isinstance(data.get("objectives"), list):
        raise _corrupt(Path(out_dir), BEST_PARAMS, "not a best_params.json written by hpoctl")
    return data


def read_pareto(out_dir: Path) -> dict[str, Any]:
    data = _read_json(Path(out_dir), PARETO)
    if not isinstance(data, dict) or not isinstance(data.get("front"), list):
        raise _corrupt(Path(out_dir), PARETO, "not a pareto.json written by hpoctl")
    return data


def read_top_trials(out_dir: Path, best: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """top_trials.csv as trial summaries: value_*, metric_* and params_* columns folded into dicts."""
    out_dir = Path(out_dir)
    best = best if best is not None else read_best_params(out_dir)
    value_columns = {o["column"]: o["metric"] for o in best["objectives"]}
    try:
        with (out_dir / TOP_TRIALS_CSV).open(encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
    except FileNotFoundError:
        raise _missing(out_dir) from None
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise _corrupt(out_dir, TOP_TRIALS_CSV, str(e)) from e
    trials = []
    for row in rows:
        trial: dict[str, Any] = {"values": {}, "metrics": {}, "params": {}}
        for column, text in row.items():
            if column is None:
                raise _corrupt(out_dir, TOP_TRIALS_CSV, "a row has more cells than the header")
            value = parse_cell(text)
            if column in value_columns:
                trial["values"][value_columns[column]] = value
            elif column.startswith("metric_"):
                if value is not None:
                    trial["metrics"][column.removeprefix("metric_")] = value
            elif column.startswith("params_"):
                if value is not None:
                    trial["params"][column.removeprefix("params_")] = value
            else:
                trial[column] = value
        trials.append(trial)
    return trials


def list_targets(root: Path, study: str) -> list[str]:
    """The targets of `study` that have results under `root`, sorted."""
    folder = Path(root) / study
    if not folder.is_dir():
        return []
    return sorted(
        p.name for p in folder.iterdir() if p.is_dir() and p.name != COMPARE_DIR and (p / BEST_PARAMS).is_file()
    )


def parse_cell(text: str | None) -> Any:
    """A CSV cell back to a value: empty is None, then int, float, JSON list/object, else text."""
    if text is None or text == "":
        return None
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    if text[0] in "[{":
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            pass
    return text


def _read_json(out_dir: Path, name: str, launch_as: str | None = None) -> Any:
    try:
        text = (out_dir / name).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _missing(out_dir, launch_as) from None
    except (OSError, UnicodeDecodeError) as e:
        raise _corrupt(out_dir, name, str(e)) from e
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise _corrupt(out_dir, name, f"not valid JSON (line {e.lineno}: {e.msg})") from e


def _names(out_dir: Path) -> tuple[str, str, Path]:
    return out_dir.parent.name, out_dir.name, out_dir.parent.parent


def _missing(out_dir: Path, launch_as: str | None = None) -> ResultsError:
    study, target, root = _names(out_dir)
    return ResultsError(
        f"no results for {study}/{target} in {shown(root)}: run `hpoctl launch {launch_as or study} --target {target}` "
        f"first"
    )


def _corrupt(out_dir: Path, name: str, why: str) -> ResultsError:
    study, target, root = _names(out_dir)
    return ResultsError(
        f"results for {study}/{target} in {shown(root)} are unreadable: {name}: {why}; "
        f"run `hpoctl launch {study} --target {target}` to write them again"
    )
