"""Bad input loses nothing: every broken spec and every wrong command line below ends with its exit code (1, or 2
for usage), one `error:` line per problem, no traceback, and a finished study's results folder (the sentinel,
the same study name and target the bad commands aim at) byte for byte as it was."""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hpoctl.cli.app import main
from hpoctl.results import layout
from tests.conftest import BASE_SPEC
from tests.local.conftest import toy_spec
from tests.spec.test_invalid_specs import CASES as SPEC_CASES


@pytest.fixture(scope="module")
def sentinel(tmp_path_factory) -> dict:
    """A finished toy study in `results/`, its spec file, a plain file and a binary file to misuse."""
    root = tmp_path_factory.mktemp("sentinel")
    spec = root / "toy.yaml"
    spec.write_text(yaml.safe_dump(toy_spec(protocol=[{"name": "explore", "trials": 3, "epochs": 1}])))
    results = root / "results"
    # In a process of its own, so that its database connections are closed (the WAL checkpointed) before the
    # first snapshot, and nothing of it runs on while the bad commands do.
    done = subprocess.run(
        [sys.executable, "-m", "hpoctl", "launch", str(spec), "-t", "small", "--results", str(results)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    (root / "plain-file").write_text("not a folder\n")
    (root / "binary.yaml").write_bytes(bytes(range(256)))
    (root / "empty.yaml").write_text("")
    (root / "bad-config.yaml").write_text("slurm: {partition: [1, 2]}\n")
    return {"root": root, "spec": spec, "results": results}


def snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.name.endswith(("-wal", "-shm"))
    }


def check(args: list[str], code: int, expected: str, capsys, sentinel: dict, *, one_line: bool = True) -> None:
    before = snapshot(sentinel["results"])
    result = main(args)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert result == code, err
    assert expected in err, err
    assert "Traceback" not in err
    assert lines and all(line.startswith("error: ") for line in lines), err
    if one_line:
        assert len(lines) == 1, err
    assert snapshot(sentinel["results"]) == before, "the bad command changed the results folder"


@pytest.mark.parametrize(("mutate", "expected"), [(m, e) for _, m, e in SPEC_CASES], ids=[c[0] for c in SPEC_CASES])
def test_a_broken_spec_is_refused_before_anything_is_touched(mutate, expected, sentinel, tmp_path, capsys):
    spec = tmp_path / "toy.yaml"
    spec.write_text(yaml.safe_dump(mutate(copy.deepcopy(BASE_SPEC))))
    check(
        ["launch", str(spec), "-t", "small", "--results", str(sentinel["results"])],
        1,
        expected,
        capsys,
        sentinel,
        one_line=False,
    )


# (id, arguments with {spec} {results} {root} filled in, exit code, text the error line contains)
CLI_CASES = [
    ("unknown-target", "launch {spec} -t huge", 1, "unknown target 'huge'"),
    ("unknown-preset", "launch {spec} -t small --preset fast", 1, "unknown preset 'fast'"),
    ("unknown-stage", "launch {spec} -t small --stage polish", 1, "polish"),
    ("set-without-equals", "launch {spec} -t small --set limits.parallelism", 2, "--set"),
    ("set-zero-parallelism", "launch {spec} -t small --set limits.parallelism=0", 1, "limits.parallelism"),
    ("set-unknown-field", "launch {spec} -t small --set limits.nosuch=1", 1, "limits.nosuch: unknown field"),
    ("set-presets", "launch {spec} -t small --set presets=[1,2]", 1, "--set cannot change the presets"),
    ("set-bad-number", "launch {spec} -t small --set limits.parallelism=abc", 1, "limits.parallelism"),
    ("set-huge-budget", "launch {spec} -t small --set limits.max_trials=1000000000", 1, "limits.max_trials"),
    ("n-jobs-zero", "launch {spec} -t small --n-jobs 0", 2, "--n-jobs"),
    ("n-jobs-negative", "launch {spec} -t small --n-jobs -3", 2, "--n-jobs"),
    ("bad-timeout", "launch {spec} -t small --timeout 5parsecs", 2, "--timeout"),
    ("seed-not-a-number", "launch {spec} -t small --seed abc", 2, "--seed"),
    ("unknown-flag", "launch {spec} -t small --bogus", 2, "--bogus"),
    ("no-study", "launch", 2, "Missing argument 'study'"),
    ("unknown-backend", "launch {spec} -t small --backend cloud", 1, "cloud"),
    ("flag-of-another-backend", "launch {spec} -t small --namespace hpo", 2, "the local backend does not take"),
    ("missing-config", "launch {spec} -t small --config {root}/nope.yaml", 1, "file not found (given by --config)"),
    ("malformed-config", "launch {spec} -t small --config {root}/bad-config.yaml", 1, "slurm.partition"),
    ("binary-config", "launch {spec} -t small --config {root}/binary.yaml", 1, "not UTF-8"),
    ("missing-spec", "launch {root}/nope.yaml -t small", 1, "file not found"),
    ("spec-is-a-folder", "launch {root} -t small", 1, "{root}"),
    ("binary-spec", "launch {root}/binary.yaml -t small", 1, "binary.yaml: not UTF-8 text"),
    ("empty-spec", "launch {root}/empty.yaml -t small", 1, "empty.yaml"),
    ("unknown-study", "launch everestt -t M_24h", 1, "unknown study 'everestt'"),
    ("results-is-a-file", "launch {spec} -t small --results {root}/plain-file", 1, "Not a directory"),
    ("results-under-a-file", "launch {spec} -t small --results {root}/plain-file/r", 1, "Not a directory"),
    ("status-unknown-target", "status {spec} -t huge", 1, "unknown target 'huge'"),
    ("status-unknown-backend", "status {spec} --backend cloud", 1, "cloud"),
    ("status-unknown-preset", "status {spec} --preset fast", 1, "unknown preset 'fast'"),
    ("cancel-unknown-target", "cancel {spec} -t huge", 1, "unknown target 'huge'"),
    ("delete-on-local", "delete {spec} -t small --yes", 2, "the local backend does not delete"),
    ("show-unknown-target", "results show {spec} -t huge", 1, "unknown target 'huge'"),
    ("show-all", "results show {spec} -t all", 2, "results compare"),
    ("show-not-launched", "results show {spec} -t large", 1, "run `hpoctl launch {spec} --target large` first"),
    ("pull-running-on-local", "results pull {spec} -t small --running", 2, "--running"),
    ("compare-unknown-study", "results compare nosuchstudy", 1, "unknown study"),
    ("train-best-all", "train-best {spec} -t all", 2, "one target"),
    ("train-best-unknown-name", "train-best {spec} -t small --study-name other", 1, "holds no study named 'other'"),
    ("train-best-not-launched", "train-best {spec} -t large", 1, "no results"),
    ("bad-runtime", "launch {spec} -t small -b slurm --runtime docker --dry-run", 1, "unknown container runtime"),
    ("validate-binary", "validate {root}/binary.yaml", 1, "not UTF-8 text"),
    ("huge", 'plan {spec} -t small --set protocol=[{{"name":"e","trials":10000000000,"epochs":1}}]', 1, "100,0"),
]


@pytest.mark.parametrize(("args", "code", "expected"), [c[1:] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES])
def test_a_wrong_command_line_is_one_line_and_loses_nothing(args, code, expected, sentinel, capsys):
    fill = {"spec": str(sentinel["spec"]), "results": str(sentinel["results"]), "root": str(sentinel["root"])}
    argv = [part.format(**fill) for part in args.split()]
    takes_results = argv[0] in ("launch", "status", "cancel", "delete", "train-best") or argv[:2] in (
        ["results", "show"],
        ["results", "pull"],
    )
    if takes_results and "--results" not in argv:
        argv += ["--results", fill["results"]]
    check(argv, code, expected.format(**fill), capsys, sentinel)


def test_a_missing_config_named_by_the_environment_is_an_error(sentinel, capsys, monkeypatch):
    monkeypatch.setenv("HPOCTL_CONFIG", str(sentinel["root"] / "nope.yaml"))
    check(["validate", str(sentinel["spec"])], 1, "file not found (given by $HPOCTL_CONFIG)", capsys, sentinel)


def test_the_matrix_is_as_large_as_promised():
    assert len(SPEC_CASES) + len(CLI_CASES) + 1 >= 80
    assert sys.version_info >= (3, 11)


def _copy_of(sentinel: dict, tmp_path: Path) -> Path:
    results = tmp_path / "results"
    shutil.copytree(sentinel["results"], results)
    return results


def test_a_missing_best_params_is_rewritten_from_the_study(sentinel, tmp_path, cli):
    results = _copy_of(sentinel, tmp_path)
    (results / "toy" / "small" / "best_params.json").unlink()
    shown = cli("results", "show", str(sentinel["spec"]), "-t", "small", "--results", str(results), "-o", "json")
    assert shown.code == 0 and "rewritten from it" in shown.err
    assert json.loads(shown.out)["counts"]["complete"] == 3


def test_a_corrupt_study_db_is_one_line_naming_it(sentinel, tmp_path, cli):
    results = _copy_of(sentinel, tmp_path)
    (results / "toy" / "small" / "study.db").write_bytes(b"garbage" * 100)
    for args in (["results", "show"], ["status"], ["launch"]):
        done = cli(*args, str(sentinel["spec"]), "-t", "small", "--results", str(results))
        assert done.code == 1 and done.err.count("\n") == 1, done.err
        assert "study.db: not a readable Optuna database" in done.err and "Traceback" not in done.err
        assert "restore the copy taken after the last finished stage (cp " in done.err


def test_the_launchers_copy_restores_a_corrupt_study_db(sentinel, tmp_path, cli):
    results = _copy_of(sentinel, tmp_path)
    folder = results / "toy" / "small"
    (folder / "study.db").write_bytes(b"garbage" * 100)
    kept = (folder / "study.db.bak").read_bytes()
    assert layout.backup_sqlite(folder) is None  # a corrupt study.db never replaces the good copy
    assert (folder / "study.db.bak").read_bytes() == kept
    shutil.copyfile(folder / "study.db.bak", folder / "study.db")
    shown = cli("results", "show", str(sentinel["spec"]), "-t", "small", "--results", str(results), "-o", "json")
    assert shown.code == 0, shown.err
    assert json.loads(shown.out)["counts"]["complete"] == 3


def test_without_a_copy_the_hint_says_start_afresh(sentinel, tmp_path, cli):
    results = _copy_of(sentinel, tmp_path)
    folder = results / "toy" / "small"
    (folder / "study.db.bak").unlink()
    (folder / "study.db").write_bytes(b"garbage" * 100)
    done = cli("status", str(sentinel["spec"]), "-t", "small", "--results", str(results))
    assert done.code == 1 and "move it aside and relaunch to start afresh" in done.err, done.err


def test_an_emptied_study_db_is_reported_not_taken_for_a_fresh_start(sentinel, tmp_path, cli):
    results = _copy_of(sentinel, tmp_path)
    (results / "toy" / "small" / "study.db").write_bytes(b"")
    shown = cli("results", "show", str(sentinel["spec"]), "-t", "small", "--results", str(results))
    assert shown.code == 1 and "no longer holds study 'toy.small', whose 3 trials" in shown.err
    status = cli("status", str(sentinel["spec"]), "-t", "small", "--results", str(results), "-o", "json")
    (row,) = json.loads(status.out)
    assert row["state"] == "store lost" and "restore the copy taken after the last finished stage" in row["detail"]
