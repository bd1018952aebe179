"""A results folder the launcher cannot write (read-only, no permission, a full disk): one line naming the path
and the fix, and the trials already in study.db kept. The tests run as root here, which ignores permission bits,
so the file system's refusal is staged where hpoctl meets it: the atomic writer and the folder's creation."""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

import pytest
import yaml

from hpoctl import atomic
from tests.local.conftest import toy_spec

REFUSALS = {
    errno.EROFS: "the file system is read-only: choose a writable folder with --results",
    errno.EACCES: "check its permissions, or choose another folder with --results",
    errno.ENOSPC: "the disk is full: free some space and relaunch (completed trials are kept)",
}


def _spec(tmp_path: Path) -> str:
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(toy_spec(protocol=[{"name": "explore", "trials": 3, "epochs": 1}])))
    return str(path)


def _refusal(code: int):
    def refuse(path, *args, **kwargs):
        raise OSError(code, os.strerror(code), str(path))

    return refuse


@pytest.mark.parametrize("code", sorted(REFUSALS), ids=errno.errorcode.get)
def test_a_folder_that_cannot_be_created_is_one_line(code, tmp_path, cli, monkeypatch):
    spec = _spec(tmp_path)
    results = tmp_path / "results"
    monkeypatch.setattr(Path, "mkdir", _refusal(code))
    done = cli("launch", spec, "-t", "small", "--results", str(results))
    assert done.code == 1 and done.err.count("\n") == 1, done.err
    assert f"{results / 'toy' / 'small'}: {os.strerror(code)}; {REFUSALS[code]}" in done.err


@pytest.mark.parametrize("code", sorted(REFUSALS), ids=errno.errorcode.get)
def test_summary_files_that_cannot_be_written_keep_the_trials(code, tmp_path, cli, monkeypatch):
    spec = _spec(tmp_path)
    results = tmp_path / "results"
    monkeypatch.setattr(atomic.tempfile, "mkstemp", lambda dir, **_: _refusal(code)(dir))
    done = cli("launch", spec, "-t", "small", "--results", str(results))
    errors = [line for line in done.err.splitlines() if line.startswith("error:")]
    assert done.code == 1 and len(errors) == 1, done.err
    assert f"{os.strerror(code)}; {REFUSALS[code]}" in errors[0] and "Traceback" not in done.err
    with sqlite3.connect(results / "toy" / "small" / "study.db") as db:
        complete = db.execute("SELECT COUNT(*) FROM trials WHERE state = 'COMPLETE'").fetchone()[0]
    assert complete == 3
    monkeypatch.undo()
    again = cli("launch", spec, "-t", "small", "--results", str(results))
    assert again.code == 0 and "explore 3/3" in again.out + again.err, again.err
