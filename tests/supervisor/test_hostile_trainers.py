"""The trial supervisor (hpoctl/trial_process.py, behind hpoctl/trial_guard.py) against trainers that break the
contract: lines far over the cap, output with no newline at all, binary output, nan/inf and malformed numbers
at each position, a trainer that ignores SIGTERM, one whose children hold its stdout, one that exits before
printing, one that sleeps past the timeout, and a launcher SIGKILLed under all of them. Each must end, in
bounded memory, with the reason, and leave no process behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from hpoctl.metric_lines import parse_metric_line
from hpoctl.search.objectives import objective_problem
from hpoctl.spec.objectives import Objective
from hpoctl.trial_process import LINE_CAP, run_trial_process

HOSTILE = str(Path(__file__).with_name("hostile_trainer.py"))


def run(mode: str, tmp_path: Path, **kwargs):
    return run_trial_process([sys.executable, HOSTILE, mode], tmp_path / "trial", grace_s=1, **kwargs)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def pids(path: Path) -> list[int]:
    return [int(line) for line in path.read_text().split()] if path.exists() else []


def wait_dead(found: list[int], timeout: float = 15.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(p) for p in found):
        time.sleep(0.1)
    return [p for p in found if alive(p)]


def test_a_line_over_the_cap_is_dropped_counted_and_the_next_line_read(tmp_path):
    done = run("long-line", tmp_path)
    assert done.exit_code == 0 and done.history == [{"epoch": 1.0, "loss": 0.5}]
    assert (done.dropped_lines, done.dropped_bytes) == (1, 1_000_007 - LINE_CAP)
    log = (tmp_path / "trial" / "stdout.log").read_bytes()
    assert len(log) < 2 * LINE_CAP and b"more bytes dropped" in log and log.endswith(b"epoch=1 loss=0.5\n")


def test_64_mib_without_a_newline_is_read_in_bounded_memory(tmp_path):
    done = run("no-newline", tmp_path)
    assert done.exit_code == 0 and done.history == []
    assert (done.dropped_lines, done.dropped_bytes) == (1, 64 * 1024 * 1024 - LINE_CAP)
    assert (tmp_path / "trial" / "stdout.log").stat().st_size < 2 * LINE_CAP


def test_binary_output_is_survived_and_a_metric_line_after_it_read(tmp_path):
    done = run("binary", tmp_path)
    assert done.exit_code == 0 and done.history == [{"epoch": 1.0, "loss": 0.25}]


LATEST = Objective(metric="loss", direction="minimize", strategy="latest")
BEST = Objective(metric="loss", direction="minimize", strategy="min")


@pytest.mark.parametrize(
    ("lines", "objective", "problem"),
    [
        ("epoch=1 loss=0.9|epoch=2 loss=nan", LATEST, "loss was nan at epoch 2"),
        ("epoch=1 loss=0.9|epoch=2 loss=nan", BEST, "loss was nan at epoch 2"),
        ("epoch=1 loss=nan|epoch=2 loss=0.5", LATEST, None),  # the strategy uses the last epoch only
        ("epoch=1 loss=nan|epoch=2 loss=0.5", BEST, "loss was nan at epoch 1"),
        ("epoch=1 loss=0.9|epoch=2 loss=inf", LATEST, "loss was inf at epoch 2"),
        ("epoch=1 loss=-inf|epoch=2 loss=0.4", BEST, "loss was -inf at epoch 1"),
        ("epoch=1 loss=0.9|epoch=2 loss=0.3e", LATEST, "trainer printed loss='0.3e' at epoch 2, which is not a number"),
        ("epoch=1 loss=1_000", LATEST, "loss='1_000'"),
        ("epoch=1 loss=0.9 acc=nan|epoch=2 loss=0.5 acc=nan", LATEST, None),  # not an objective
        ("epoch=1 loss=0.9|epoch=2 loss=0.5", BEST, None),
    ],
)
def test_a_non_finite_or_malformed_objective_at_an_epoch_the_strategy_uses_is_a_problem(
    lines, objective, problem, tmp_path
):
    done = run(f"lines:{lines}", tmp_path)
    assert done.exit_code == 0
    found = objective_problem(objective, done.history, done.malformed)
    assert (found is None) if problem is None else (problem in (found or "")), found


def test_a_trainer_ignoring_sigterm_is_killed_after_the_grace_period(tmp_path):
    record = tmp_path / "pids"
    done = run("ignores-term", tmp_path, timeout_s=1, env={"HOSTILE_PIDS": str(record)})
    assert done.stopped_by_us == "timeout" and done.exit_code == -signal.SIGKILL
    assert done.history == [{"epoch": 1.0, "loss": 0.5}]
    assert wait_dead(pids(record)) == []


def test_children_that_ignore_sigterm_die_with_their_trainer(tmp_path):
    record = tmp_path / "pids"
    done = run("children", tmp_path, timeout_s=1, env={"HOSTILE_PIDS": str(record)})
    assert done.stopped_by_us == "timeout"
    assert len(pids(record)) == 4 and wait_dead(pids(record)) == []


def test_children_left_holding_stdout_do_not_keep_the_trial_open(tmp_path):
    record = tmp_path / "pids"
    done = run("children", tmp_path, env={"HOSTILE_PIDS": str(record), "HOSTILE_PARENT_EXITS": "1"})
    assert done.exit_code == 0 and done.stopped_by_us is None
    assert len(pids(record)) == 4 and wait_dead(pids(record)) == []


def test_a_trainer_that_exits_before_printing_has_no_history(tmp_path):
    done = run("silent-exit", tmp_path)
    assert done.exit_code == 0 and done.history == [] and done.stopped_by_us is None


def test_a_stop_request_ends_a_sleeping_trainer(tmp_path):
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    done = run("sleeps", tmp_path, stop_event=stop)
    assert done.stopped_by_us == "interrupted" and done.exit_code == -signal.SIGTERM


def test_a_missing_trainer_command_fails_with_the_reason(tmp_path):
    done = run_trial_process([str(tmp_path / "no-such-trainer")], tmp_path / "trial", grace_s=1)
    assert done.exit_code == 127 and "cannot run the trainer command" in done.failure_reason()


def sigkill_launcher_once_started(source: str, record: Path, on_started=None) -> None:
    """Run `source` as a launcher, wait until the hostile trainer and its 3 children have recorded their PIDs in
    `record`, call `on_started()`, then SIGKILL the launcher."""
    env = {**os.environ, "HOSTILE_PIDS": str(record)}
    with subprocess.Popen([sys.executable, "-c", source], env=env) as process:
        deadline = time.monotonic() + 60
        while len(pids(record)) < 4 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(pids(record)) == 4, "the hostile trainer did not start its children"
        if on_started is not None:
            on_started()
        process.send_signal(signal.SIGKILL)
        process.wait()


def test_no_trainer_outlives_a_sigkilled_launcher(tmp_path):
    record = tmp_path / "pids"
    launcher = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from hpoctl.trial_process import run_trial_process
        run_trial_process([sys.executable, {HOSTILE!r}, "children"], Path({str(tmp_path / "trial")!r}), grace_s=1)
        """
    )
    sigkill_launcher_once_started(launcher, record)
    assert wait_dead(pids(record)) == [], "processes outlived the launcher"


def test_the_parser_reads_what_katibs_filter_reads_for_the_trainers_own_lines():
    from hpoctl.trainers.common.metrics_io import KATIB_STDOUT_REGEX, format_metric_line

    line = format_metric_line({"epoch": 3, "tss": 0.6123, "val_loss": 1e-05, "delta": -2.5e12, "big": 12})
    katib = {name: float(value) for name, value, *_ in KATIB_STDOUT_REGEX.findall(line)}
    assert parse_metric_line(line).metrics == katib and not parse_metric_line(line).malformed
