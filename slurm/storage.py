"""The study the workers of a target share: an Optuna journal file in the results folder (works on NFS and
Lustre with JournalFileOpenLock, no database server needed), or an RDB URL when one is configured."""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import warnings
from pathlib import Path
from typing import Any

import optuna

from hpoctl import trial_record as rec
from hpoctl.errors import BackendError
from hpoctl.plan import Plan
from hpoctl.sampling import directions
from hpoctl.slurm.layout import JOURNAL_FILE

optuna.logging.set_verbosity(optuna.logging.WARNING)

RESULTS_LOCK = ".results.lock"


def is_url(storage: str) -> bool:
    return "://" in storage


def open_storage(storage: str | Path) -> optuna.storages.BaseStorage | str:
    """A journal file path as a JournalStorage with the open-lock (O_EXCL, safe on network file systems), or
    an RDB URL as it is (Optuna opens it)."""
    text = str(storage)
    if is_url(text):
        return text
    path = Path(text)
    path.parent.mkdir(parents=True, exist_ok=True)
    journal = optuna.storages.journal
    with warnings.catch_warnings():
        # Some Optuna releases mark the journal storage experimental; it is the documented way to share a
        # study on a cluster file system, and a warning in every array task's log would say nothing useful.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        backend = journal.JournalFileBackend(str(path), lock_obj=journal.JournalFileOpenLock(str(path)))
        return journal.JournalStorage(backend)


def study_name(plan: Plan, name: str | None = None) -> str:
    return name or rec.optuna_study_name(plan.study, plan.target)


def create_study(
    plan: Plan,
    storage: str | Path,
    *,
    name: str | None = None,
    sampler: optuna.samplers.BaseSampler | None = None,
    record_plan: bool = True,
) -> optuna.Study:
    """Create or load the target's study (safe when several workers do it at once) and check that it was made
    for the same search space and objectives."""
    name = study_name(plan, name)
    study = optuna.create_study(
        study_name=name,
        storage=open_storage(storage),
        directions=directions(plan),
        load_if_exists=True,
        sampler=sampler,
    )
    check_plan(study, plan, storage)
    if record_plan or rec.STUDY_ATTR_PLAN not in study.user_attrs:
        study.set_user_attr(rec.STUDY_ATTR_PLAN, plan.to_data())
    return study


def check_plan(study: optuna.Study, plan: Plan, storage: str | Path) -> None:
    recorded = study.user_attrs.get(rec.STUDY_ATTR_PLAN)
    if recorded and recorded.get("parameters") != plan.to_data().get("parameters"):
        raise BackendError(
            f"{storage} holds study {study.study_name!r} with a different search space; start another with "
            f"--study-name or --results"
        )
    if [d.name.lower() for d in study.directions] != directions(plan):
        raise BackendError(
            f"{storage} holds study {study.study_name!r} optimised {[d.name.lower() for d in study.directions]}, "
            f"but the plan's objectives are {directions(plan)}; start another with --study-name or --results"
        )


def load_study(storage: str | Path, plan: Plan, name: str | None = None) -> optuna.Study | None:
    """The target's study, or None when it does not exist yet (no journal file, or no such study in it)."""
    if not is_url(str(storage)) and not Path(storage).is_file():
        return None
    try:
        return optuna.load_study(study_name=study_name(plan, name), storage=open_storage(storage))
    except KeyError:
        return None


def load_journal_study(out_dir: Path) -> optuna.Study | None:
    """The one study in results/<study>/<target>/study.journal, without a plan (for readers of a results folder)."""
    path = Path(out_dir) / JOURNAL_FILE
    if not path.is_file():
        return None
    storage = open_storage(path)
    names = [s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False)]
    if len(names) != 1:
        return None
    return optuna.load_study(study_name=names[0], storage=storage)


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
    with open(out_dir / RESULTS_LOCK, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        except OSError:
            pass  # a file system without flock (Lustre mounted without -o flock): write anyway, atomically
        now = dt.datetime.now(dt.timezone.utc)
        seeds = {"trainer": plan.seed if seed is None else seed}
        provenance = collect_provenance(plan, started_at or now, now, seeds)
        provenance["storage"] = storage_text(study)
        provenance.update(extra or {})
        write(study, plan, out_dir, provenance, plots=plots)
        with contextlib.suppress(OSError):
            fcntl.flock(handle, fcntl.LOCK_UN)
    return True


def storage_text(study: optuna.Study) -> str | None:
    from hpoctl.results.writer import storage_url

    return storage_url(study)


def refresh_results(out_dir: Path, *, plots: bool = False) -> bool:
    """Rewrite a SLURM target's results from its journal when the journal is newer than best_params.json (for
    `hpoctl results` and `hpoctl status` while workers run); the plan comes from the study itself."""
    from hpoctl.plan import Plan as PlanModel
    from hpoctl.results.layout import BEST_PARAMS

    journal = Path(out_dir) / JOURNAL_FILE
    best = Path(out_dir) / BEST_PARAMS
    if not journal.is_file() or (best.is_file() and best.stat().st_mtime >= journal.stat().st_mtime):
        return False
    study = load_journal_study(out_dir)
    if study is None or rec.STUDY_ATTR_PLAN not in study.user_attrs:
        return False
    plan = PlanModel.model_validate(study.user_attrs[rec.STUDY_ATTR_PLAN])
    return write_results(study, plan, Path(out_dir), plots=plots)
