"""The study is the truth, the summary files its copy: before a reader trusts best_params.json, check it against
the folder's study (study.db, else study.journal) and rewrite the files when they are missing or behind it."""

from __future__ import annotations

import json
from pathlib import Path

from hpoctl.errors import ResultsError
from hpoctl.plan import Plan
from hpoctl.results import layout


def refresh_from_study(plan: Plan, out_dir: Path) -> bool:
    """Rewrite the folder's summary files (no plots) when best_params.json is missing or counts other trials
    than its study holds; True when it rewrote them. A store that cannot be read, or that no longer holds the
    study best_params.json describes, is a ResultsError saying what to do."""
    import optuna

    out_dir = Path(out_dir)
    storages = [s for s in (out_dir, out_dir / layout.JOURNAL_FILE) if layout.storage_exists(s)]
    if not storages:
        return False
    recorded = read_recorded(out_dir)
    opened = layout.open_storage(storages[0])
    held = [s.study_name for s in optuna.get_all_study_summaries(opened, include_best_trial=False)]
    name = recorded[0] if recorded else (held[0] if len(held) == 1 else None)
    if name is None:
        return False
    if name not in held:
        if recorded:
            raise ResultsError(lost_study_line(out_dir, storages[0], name, recorded[1]))
        return False
    study = optuna.load_study(study_name=name, storage=opened)
    if recorded and recorded[1] == len(study.get_trials(deepcopy=False)):
        return False
    from hpoctl.results.writer import write_results

    write_results(study, plan, out_dir, _provenance(out_dir), plots=False)
    return True


def read_recorded(out_dir: Path) -> tuple[str, int] | None:
    """(Optuna study name, trials) as best_params.json records them; None when it is missing or unreadable."""
    try:
        data = json.loads((Path(out_dir) / layout.BEST_PARAMS).read_text())
        return str(data["optuna_study"]), int(data["n_trials"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def lost_study_line(out_dir: Path, storage: Path, name: str, trials: int) -> str:
    shown_store = out_dir / layout.SQLITE_FILE if storage == out_dir else storage
    return (
        f"{shown_store} no longer holds study {name!r}, whose {trials} trials {layout.BEST_PARAMS} records: the "
        f"store was emptied or replaced; {layout.restore_hint(out_dir)}"
    )


def _provenance(out_dir: Path) -> dict:
    try:
        data = json.loads((out_dir / layout.PROVENANCE).read_text())
    except (OSError, ValueError):
        data = None
    return data if isinstance(data, dict) else {"note": "summary files rewritten from the study by a reader"}


class Throttled:
    """Run `write` after a finished trial, so the summary files (trials.csv, best_params.json, ...) follow the
    study as it runs, at most once per `min_interval_s` and never twice at once: trials finishing together in
    several threads skip a write another is doing. The end of each stage writes everything regardless, plots
    included, so a skipped refresh loses nothing. A failed refresh is logged, not raised: the trial is already
    safe in the study, and the stage's own write reports the error."""

    def __init__(self, write, min_interval_s: float = 2.0):
        import threading

        self.write, self.min_interval_s = write, min_interval_s
        self._lock = threading.Lock()
        self._last = float("-inf")

    def __call__(self) -> None:
        import logging
        import time

        if time.monotonic() - self._last < self.min_interval_s or not self._lock.acquire(blocking=False):
            return
        try:
            self.write()
        except Exception as e:  # see the class docstring
            logging.getLogger("hpoctl.results").warning("summary files not refreshed: %s: %s", type(e).__name__, e)
        finally:
            self._last = time.monotonic()
            self._lock.release()
