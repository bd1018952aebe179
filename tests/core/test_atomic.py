"""Atomic writes: a failure midway leaves the previous file intact and no temporary file behind."""

from __future__ import annotations

import json
import os
import stat

import pytest

from hpoctl import atomic as _atomic
from tests.results.synthetic import build_everest, write


def test_failed_json_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "best_params.json"
    _atomic.write_json(path, {"best_value": 0.5})

    def broken_dump(data, f, **kwargs):
        f.write('{"best_value": 0.')  # half a file, then the crash
        raise OSError("disk full")

    monkeypatch.setattr(_atomic.json, "dump", broken_dump)
    with pytest.raises(OSError, match="disk full"):
        _atomic.write_json(path, {"best_value": 0.9})
    assert json.loads(path.read_text()) == {"best_value": 0.5}
    assert os.listdir(tmp_path) == ["best_params.json"]


def test_write_results_failing_midway_leaves_every_file_valid(tmp_path, monkeypatch):
    study, plan = build_everest(tmp_path)
    written = write(tmp_path, study, plan, {"run": 1}, plots=False)
    real_dump = json.dump

    def dump_failing_on_run_2(data, f, **kwargs):
        if data == {"run": 2}:  # provenance.json: after best_params.json, the CSVs and spec.yaml
            f.write('{"run": ')
            raise RuntimeError("killed while writing")
        real_dump(data, f, **kwargs)

    monkeypatch.setattr(_atomic.json, "dump", dump_failing_on_run_2)
    with pytest.raises(RuntimeError, match="killed while writing"):
        write(tmp_path, study, plan, {"run": 2}, plots=False)
    out = written.out_dir
    assert json.loads((out / "provenance.json").read_text()) == {"run": 1}
    assert json.loads((out / "best_params.json").read_text())["best_trial_number"] == 13
    assert (out / "report.md").read_text().startswith("# everest / M_24h")
    assert (out / "study.db").is_file()
    assert not list(out.rglob("*.tmp"))


def test_files_get_ordinary_permissions(tmp_path):
    path = tmp_path / "report.md"
    _atomic.write_text(path, "# report\n")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def test_strict_json_has_no_nan():
    assert _atomic.jsonable({"a": float("nan"), "b": [float("inf"), 1.5], 3: (1, 2)}) == {
        "a": None,
        "b": [None, 1.5],
        "3": [1, 2],
    }
