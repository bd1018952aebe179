"""A results folder the launcher cannot write (read-only, no permission, a full disk): one line naming the path
and the fix, and the trials already in study.db kept. The tests run as root here, which ignores permission bits,
so the file system's refusal is staged where hpoctl meets it: the atomic writer and the folder's creation."""

from __future__ import annotations

import errno
import os
import shlex
import sqlite3
import subprocess
import sys
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


def _in_private_mounts(script: str) -> subprocess.CompletedProcess[str]:
    """`script` under `sh` in a mount namespace of its own (the bind mounts it makes vanish with it)."""
    return subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=300)


def test_a_results_folder_on_a_read_only_mount(tmp_path):
    """The real thing, not a staged error: the finished folder bind-mounted read-only, then a relaunch with a larger
    budget (it must write) and `results show` (it only reads)."""
    if _in_private_mounts("true").returncode != 0:
        pytest.skip("unshare -m is not permitted here (needs root and mount namespaces)")
    spec = _spec(tmp_path)
    results = tmp_path / "results"
    hpoctl = [sys.executable, "-m", "hpoctl"]
    assert subprocess.run([*hpoctl, "launch", spec, "-t", "small", "--results", str(results)]).returncode == 0
    folder = results / "toy" / "small"
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    mount = f"mount --bind -o ro {shlex.quote(str(results))} {shlex.quote(str(results))}"
    launch = shlex.join(
        [*hpoctl, "launch", spec, "-t", "small", "--results", str(results), "--set", "protocol.0.trials=5"]
    )
    done = _in_private_mounts(f"{mount} && {launch}")
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and REFUSALS[errno.EROFS] in errors[0], done.stderr
    show = shlex.join([*hpoctl, "results", "show", spec, "-t", "small", "--results", str(results)])
    shown = _in_private_mounts(f"{mount} && {show}")
    assert shown.returncode == 0 and "best" in shown.stdout.lower(), shown.stderr
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before, "nothing was lost or changed"
