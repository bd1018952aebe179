"""One line for an error the file system, a database or a decoder raises from deep inside a command: the path
it concerns and what to do, instead of `internal error: <ExceptionType>`."""

from __future__ import annotations

import errno

_HINTS = {
    errno.EACCES: "check its permissions, or choose another folder with --results",
    errno.EPERM: "check its permissions, or choose another folder with --results",
    errno.EROFS: "the file system is read-only: choose a writable folder with --results",
    errno.ENOTDIR: "a part of that path is a file where a folder is expected: move it, or choose another --results",
    errno.EISDIR: "that path is a folder where a file is expected",
    errno.EEXIST: "something is already there: move it away, or choose another --results",
    errno.ENOSPC: "the disk is full: free some space and relaunch (completed trials are kept)",
    errno.EDQUOT: "the disk quota is exceeded: free some space and relaunch (completed trials are kept)",
    errno.ENOENT: "check the path",
}


def system_error_line(error: OSError | UnicodeDecodeError) -> str:
    if isinstance(error, UnicodeDecodeError):
        return f"a file is not UTF-8 text ({error.reason} at byte {error.start}); specs and configurations are YAML"
    path = error.filename if error.filename is not None else "a file"
    if error.filename2 is not None:
        path = f"{path} -> {error.filename2}"
    what = error.strerror or type(error).__name__
    hint = _HINTS.get(error.errno or 0)
    return f"{path}: {what}" + (f"; {hint}" if hint else "")


def is_database_error(error: BaseException) -> bool:
    """SQLAlchemy's and sqlite3's errors (a corrupt or locked study.db), without importing either here."""
    return type(error).__module__.split(".")[0] in ("sqlalchemy", "sqlite3") or any(
        type(cause).__module__.split(".")[0] in ("sqlalchemy", "sqlite3")
        for cause in (error.__cause__, error.__context__)
        if cause is not None
    )


def database_error_line(error: BaseException) -> str:
    original = getattr(error, "orig", None) or error.__cause__ or error
    detail = " ".join(str(original).split())[:200]
    return (
        f"the study's database cannot be used ({detail}); if study.db is corrupt, restore study.db.bak (the copy "
        f"the local launcher takes after each stage) or move it aside and relaunch; SLURM runs keep study.journal"
    )
