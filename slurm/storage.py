"""Writing a SLURM target's results while its workers share the study (an Optuna journal file in the results
folder, opened by `hpoctl.results.layout`, or an RDB URL when one is configured): one writer at a time."""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
from pathlib import Path
from typing import Any

import optuna

from hpoctl import trial_record as rec
from hpoctl.plan import Plan
from hpoctl.results import layout

optuna.logging.set_verbosity(optuna.logging.WARNING)


def write_results(
    study: optuna.Study,
    plan: Plan,
    out_dir: Path,
    *,
    started_at: dt.datetime | None = None,
    seed: int | None = None,
    plots: bool = True,
    extra: dict[str, Any] | None = None,
) -> bool:
    """write_results for a shared study, by one process at a time: False (nothing written) when another
    process is writing them now. The storage goes into provenance.json (and report.md's dashboard command)."""
    from hpoctl.results import collect_provenance
    from hpoctl.results import write_results as write

    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / layout.RESULTS_LOCK, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        except OSError:
            pass  # a file system without flock (Lustre mounted without -o flock): write anyway, atomically
        now = dt.datetime.now(dt.timezone.utc)
        seeds = {"trainer": plan.seed if seed is None else seed}
        provenance = collect_provenance(plan, started_at or now, now, seeds)
        provenance["storage"] = layout.storage_text(study)
        provenance.update(extra or {})
        write(study, plan, out_dir, provenance, plots=plots)
        with contextlib.suppress(OSError):
            fcntl.flock(handle, fcntl.LOCK_UN)
    return True


def refresh_results(out_dir: Path, *, plots: bool = False) -> bool:
    """Rewrite a SLURM target's results from its journal when the journal is newer than best_params.json (for
    `hpoctl results` and `hpoctl status` while workers run); the plan comes from the study itself."""
    journal = Path(out_dir) / layout.JOURNAL_FILE
    best = Path(out_dir) / layout.BEST_PARAMS
    if not journal.is_file() or (best.is_file() and best.stat().st_mtime >= journal.stat().st_mtime):
        return False
    study = layout.load_folder_study(out_dir)
    if study is None or rec.STUDY_ATTR_PLAN not in study.user_attrs:
        return False
    plan = Plan.model_validate(study.user_attrs[rec.STUDY_ATTR_PLAN])
    return write_results(study, plan, Path(out_dir), plots=plots)
