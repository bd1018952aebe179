"""The one results layout every backend and reader uses: where a target's folder is, the names of the files in
it, and how its Optuna study is stored, opened and created.

    <root>/<study>/<target>/study.db        the study (local runs and Katib pulls: SQLite)
    <root>/<study>/<target>/study.db.bak    a consistent copy of it, taken by the local launcher after each stage
    <root>/<study>/<target>/study.journal   the study (SLURM: a journal file its array tasks share)
    <root>/<study>/<target>/best_params.json, trials.csv, top_trials.csv, pareto.json, report.md, plots/, ...
    <root>/<study>/<target>/trials/<number>/model/  a trial's saved model (top-k stages; `trainer.save_model`)
    <root>/<study>/<target>/train_best/seed-<s>/model/  train-best's models
    <root>/<study>/<target>/model/          `hpoctl model export`: the best model and its MODEL_CARD.md
    <root>/<study>/compare/                 `hpoctl results compare`

Optuna is imported inside the functions that need it, so `hpoctl --help` stays fast.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from hpoctl import trial_record as rec
from hpoctl.errors import BackendError, ResultsError

if TYPE_CHECKING:
    import optuna

    from hpoctl.plan import Plan

RESULTS_ENV = "HPOCTL_RESULTS"
SQLITE_FILE = "study.db"
SQLITE_BACKUP = "study.db.bak"
JOURNAL_FILE = "study.journal"
BEST_PARAMS = "best_params.json"
TRIALS_CSV = "trials.csv"
TOP_TRIALS_CSV = "top_trials.csv"
PARETO = "pareto.json"
REPORT = "report.md"
SPEC = "spec.yaml"
PROVENANCE = "provenance.json"
PLOTS_DIR = "plots"
TRIALS_DIR = "trials"
MODEL_DIR = "model"
COMPARE_DIR = "compare"
LAUNCH_LOCK = ".launch.lock"
RESULTS_LOCK = ".results.lock"


def default_root() -> Path:
    """Where results live unless told otherwise: $HPOCTL_RESULTS, else ./results."""
    return Path(os.environ.get(RESULTS_ENV, "results"))


def target_dir(root: Path | str, study: str, target: str) -> Path:
    return Path(root) / study / target


def trial_dir(out_dir: Path, number: int) -> Path:
    """A trial's working folder: its stdout.log, the trainer's --output and its saved model."""
    return out_dir / TRIALS_DIR / f"{number:05d}"


def shown(root: Path) -> str:
    """A results root as messages print it: `results/`."""
    text = str(root)
    return text if text.endswith("/") else f"{text}/"


def sqlite_url(out_dir: Path) -> str:
    return f"sqlite:///{(Path(out_dir) / SQLITE_FILE).resolve()}"


def study_name(plan: Plan, name: str | None = None) -> str:
    """The Optuna study's name in its storage: `--study-name`, else `<study>.<target>`."""
    return name or rec.optuna_study_name(plan.study, plan.target)


def is_url(storage: str | Path) -> bool:
    return "://" in str(storage)


def open_sqlite(out_dir: Path) -> optuna.storages.RDBStorage:
    """The folder's SQLite storage. A generous busy timeout lets trials finishing at once in several threads
    wait rather than fail; WAL with synchronous=NORMAL commits without an fsync each time and still survives
    a killed process (only a power cut can lose the last commits)."""
    import optuna
    from sqlalchemy import event

    from sqlalchemy.exc import SQLAlchemyError

    read_only = not writable(out_dir)
    url = sqlite_url(out_dir)
    if read_only:  # WAL needs to write its -shm file beside the database; a finished study has no -wal to read
        url = f"sqlite:///file:{(Path(out_dir) / SQLITE_FILE).resolve()}?mode=ro&immutable=1&uri=true"
    try:
        storage = optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 60}})
    except SQLAlchemyError as e:
        why = " ".join(str(getattr(e, "orig", None) or e).split())[:200]
        raise ResultsError(
            f"{Path(out_dir) / SQLITE_FILE}: not a readable Optuna database ({why}); {restore_hint(out_dir)}"
        ) from e
    if not read_only:
        event.listen(storage.engine, "connect", _sqlite_pragmas)
        storage.engine.dispose()  # connections opened before the listener reconnect with the pragmas
    return storage


def writable(folder: Path) -> bool:
    """Whether files can be made in `folder`: not on a read-only mount, and allowed to this user (root included,
    which permission bits do not stop but a read-only mount does)."""
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return False
    except OSError:
        return True  # a folder that is not there yet: creating it says what is wrong
    return os.access(folder, os.W_OK)


def require_writable(folder: Path) -> None:
    """An OSError naming `folder` when nothing can be written there (one line through the CLI's handler), before a
    launch opens its study for writing."""
    if not writable(folder):
        code = errno.EROFS if os.statvfs(folder).f_flag & os.ST_RDONLY else errno.EACCES
        raise OSError(code, os.strerror(code), str(folder))


def backup_sqlite(out_dir: Path) -> Path | None:
    """Copy study.db to study.db.bak with SQLite's online backup (consistent while trials still write), replacing
    the old copy only once the new one is whole, and never with a database that fails SQLite's own check."""
    source_path = Path(out_dir) / SQLITE_FILE
    if not source_path.is_file():
        return None
    backup, partial = Path(out_dir) / SQLITE_BACKUP, Path(out_dir) / f"{SQLITE_BACKUP}.partial"
    source = sqlite3.connect(source_path, timeout=60)
    try:
        if source.execute("PRAGMA quick_check").fetchone()[0] != "ok":
            return None
        partial.unlink(missing_ok=True)
        copy = sqlite3.connect(partial)
        try:
            source.backup(copy)
            copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
        finally:
            copy.close()
    except sqlite3.DatabaseError:
        return None
    finally:
        source.close()
    os.replace(partial, backup)
    return backup


def restore_hint(out_dir: Path) -> str:
    """What to do about a broken study.db in this folder: restore the launcher's copy when there is one."""
    db, backup = Path(out_dir) / SQLITE_FILE, Path(out_dir) / SQLITE_BACKUP
    if backup.is_file():
        return f"restore the copy taken after the last finished stage (cp {backup} {db}) and relaunch to resume"
    return "move it aside and relaunch to start afresh, or restore it from a copy"


def _sqlite_pragmas(connection, _record) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def open_journal(path: Path | str) -> optuna.storages.JournalStorage:
    """A journal file as a JournalStorage with the open-lock (O_EXCL, safe on NFS and Lustre)."""
    import optuna

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    journal = optuna.storages.journal
    with warnings.catch_warnings():
        # Some Optuna releases mark the journal storage experimental; it is the documented way to share a
        # study on a cluster file system, and a warning in every array task's log would say nothing useful.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        backend = journal.JournalFileBackend(str(path), lock_obj=journal.JournalFileOpenLock(str(path)))
        return journal.JournalStorage(backend)


def open_storage(storage: str | Path) -> optuna.storages.BaseStorage | str:
    """A storage as a backend names it: an RDB URL as it is (Optuna opens it), a results folder as its SQLite
    file, any other path as a journal file."""
    if is_url(storage):
        return str(storage)
    path = Path(storage)
    if path.is_dir():
        return open_sqlite(path)
    return open_journal(path)


def storage_exists(storage: str | Path) -> bool:
    if is_url(storage):
        return True
    path = Path(storage)
    return (path / SQLITE_FILE).is_file() if path.is_dir() else path.is_file()


def create_study(
    plan: Plan,
    storage: str | Path,
    *,
    name: str | None = None,
    sampler: optuna.samplers.BaseSampler | None = None,
    resume: bool = True,
    record_plan: bool = True,
) -> optuna.Study:
    """Create or load the target's study (safe when several processes do it at once) and check that it was made
    for the same search space and objectives; `resume=False` refuses a study that exists."""
    import optuna

    name = study_name(plan, name)
    opened = open_storage(storage)
    if not resume:
        held = {s.study_name: s.n_trials for s in optuna.get_all_study_summaries(opened, include_best_trial=False)}
        if name in held:
            raise BackendError(
                f"{storage} already holds study {name!r} with {held[name]} trials; resume it (--resume), or start "
                f"another with --study-name or --results"
            )
    study = optuna.create_study(
        study_name=name, storage=opened, directions=plan.directions, load_if_exists=True, sampler=sampler
    )
    check_plan(study, plan, storage)
    if record_plan or rec.STUDY_ATTR_PLAN not in study.user_attrs:
        record_provenance(study, plan)
    return study


def record_provenance(study: optuna.Study, plan: Plan) -> None:
    """The plan a study runs and what produced it (`provenance.study_provenance`), as study user attributes."""
    from hpoctl.results.provenance import study_provenance

    study.set_user_attr(rec.STUDY_ATTR_PLAN, plan.to_data())
    study.set_user_attr(rec.STUDY_ATTR_PROVENANCE, study_provenance(plan))


def check_plan(study: optuna.Study, plan: Plan, storage: str | Path) -> None:
    recorded = study.user_attrs.get(rec.STUDY_ATTR_PLAN)
    if recorded and recorded.get("parameters") != plan.to_data().get("parameters"):
        raise BackendError(
            f"{storage} holds study {study.study_name!r} with a different search space; start another with "
            f"--study-name or --results"
        )
    held = [d.name.lower() for d in study.directions]
    if held != plan.directions:
        raise BackendError(
            f"{storage} holds study {study.study_name!r} optimised {held}, but the plan's objectives are "
            f"{plan.directions}; start another with --study-name or --results"
        )


def load_study(storage: str | Path, plan: Plan, name: str | None = None) -> optuna.Study | None:
    """The target's study, or None when it does not exist yet (no file, or no such study in it)."""
    import optuna

    if not storage_exists(storage):
        return None
    try:
        return optuna.load_study(study_name=study_name(plan, name), storage=open_storage(storage))
    except KeyError:
        return None


def load_folder_study(out_dir: Path) -> optuna.Study | None:
    """The one study a results folder holds (study.db, else study.journal), without a plan: for readers."""
    import optuna

    for storage in (Path(out_dir), Path(out_dir) / JOURNAL_FILE):
        if not storage_exists(storage):
            continue
        opened = open_storage(storage)
        names = [s.study_name for s in optuna.get_all_study_summaries(opened, include_best_trial=False)]
        if len(names) == 1:
            return optuna.load_study(study_name=names[0], storage=opened)
    return None


def storage_text(study: optuna.Study) -> str | None:
    """The URL of an RDB storage or the path of a journal file; None for anything else (in memory)."""
    storage = getattr(study, "_storage", None)
    # Optuna wraps an RDB storage in a cache, and a journal storage wraps its file backend.
    for candidate in (storage, getattr(storage, "_backend", None)):
        url = getattr(candidate, "url", None)
        if isinstance(url, str):
            return url
        path = getattr(candidate, "_file_path", None)
        if isinstance(path, str):
            return path
    return None
