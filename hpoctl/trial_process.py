"""Run one trial as a child process of the trainer command, reading its metric lines as they come.

The child gets the same command a Katib pod or a SLURM task runs. Each `epoch=N name=value ...` line
is handed to `on_epoch`, which may ask for the trial to stop (pruning); the child is then sent
SIGTERM, which the trainer contract answers by stopping at the next batch.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import math
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hpoctl.trainer_contract import KATIB_STDOUT_REGEX, ExitCode

KATIB_METRIC = KATIB_STDOUT_REGEX  # what counts as a metric on a line, as Katib's StdOut collector reads it
INTERRUPTED_EXIT = int(ExitCode.INTERRUPTED)
EXIT_MEANINGS = {
    ExitCode.ERROR: "error",
    ExitCode.USAGE: "bad arguments",
    ExitCode.DIVERGED: "diverged (NaN or infinite loss)",
    ExitCode.DATA: "data could not be loaded",
    ExitCode.OUT_OF_MEMORY: "out of memory",
    ExitCode.INTERRUPTED: "stopped by SIGTERM",
    -9: "killed (SIGKILL)",
}
_PR_SET_PDEATHSIG = 1


def parse_metric_line(line: str) -> dict[str, float]:
    """The `name=value` pairs of a line, as Katib's collector reads them (non-numbers ignored)."""
    metrics: dict[str, float] = {}
    for name, value, *_ in KATIB_METRIC.findall(line):
        if not value or value in "+-":
            continue
        try:
            number = float(value)
        except ValueError:
            continue
        if math.isfinite(number):
            metrics[name] = number
    return metrics


@dataclass
class TrialRun:
    """What happened to one trainer process."""

    exit_code: int
    history: list[dict[str, float]] = field(default_factory=list)
    stopped_by_us: str | None = None  # "pruned", "timeout", "interrupted" when we sent SIGTERM
    error_line: str | None = None
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.stopped_by_us is None

    def failure_reason(self) -> str:
        meaning = EXIT_MEANINGS.get(self.exit_code, f"exit code {self.exit_code}")
        if self.error_line:
            return f"{self.error_line} (exit {self.exit_code}: {meaning})"
        return f"trainer exited with code {self.exit_code} ({meaning})"


def _die_with_parent() -> None:
    """In the child: get SIGTERM if the launching thread dies, so a SIGKILLed launcher leaves no orphan."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    os.setpgrp()  # our own process group: a Ctrl-C in the terminal reaches the launcher, which decides


def run_trial_process(
    argv: Sequence[str],
    workdir: Path,
    *,
    on_epoch: Callable[[dict[str, float]], bool] | None = None,
    timeout_s: float | None = None,
    stop_event: threading.Event | None = None,
    env: dict[str, str] | None = None,
    grace_s: float = 30.0,
) -> TrialRun:
    """Run the trainer; `on_epoch` returns True to stop the trial (pruning). Logs go to `workdir`."""
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    run = TrialRun(exit_code=-1)
    with open(workdir / "stdout.log", "w") as out_log, open(workdir / "stderr.log", "w+") as err_log:
        with subprocess.Popen(
            list(argv),
            stdout=subprocess.PIPE,
            stderr=err_log,
            stdin=subprocess.DEVNULL,
            text=True,
            bufsize=1,
            env={**os.environ, **(env or {})},
            preexec_fn=_die_with_parent,
            cwd=workdir,
        ) as process:
            stopper = _Stopper(process, grace_s)
            watchdog = threading.Thread(
                target=_watch, args=(process, stopper, started, timeout_s, stop_event), daemon=True
            )
            watchdog.start()
            assert process.stdout is not None
            for line in process.stdout:
                out_log.write(line)
                out_log.flush()
                metrics = parse_metric_line(line)
                if "epoch" not in metrics:
                    continue
                run.history.append(metrics)
                if on_epoch is not None and stopper.reason is None and on_epoch(metrics):
                    stopper.stop("pruned")
            run.exit_code = process.wait()
            stopper.done.set()
            watchdog.join()
        run.stopped_by_us = stopper.reason
        err_log.seek(0)
        run.error_line = _last_line(err_log.read())
    run.history = _prefer_metrics_file(workdir, run.history)
    run.duration_s = time.monotonic() - started
    return run


class _Stopper:
    def __init__(self, process: subprocess.Popen, grace_s: float):
        self.process, self.grace_s = process, grace_s
        self.reason: str | None = None
        self.done = threading.Event()
        self._lock = threading.Lock()

    def stop(self, reason: str) -> None:
        with self._lock:
            if self.reason is not None:
                return
            self.reason = reason
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGTERM)
        threading.Thread(target=self._kill_after_grace, daemon=True).start()

    def _kill_after_grace(self) -> None:
        if not self.done.wait(self.grace_s):
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()


def _watch(process, stopper: _Stopper, started: float, timeout_s, stop_event) -> None:
    while not stopper.done.wait(0.2):
        if stop_event is not None and stop_event.is_set():
            stopper.stop("interrupted")
        elif timeout_s is not None and time.monotonic() - started > timeout_s:
            stopper.stop("timeout")


def _last_line(text: str) -> str | None:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:500] if lines else None


def _prefer_metrics_file(workdir: Path, parsed: list[dict[str, float]]) -> list[dict[str, float]]:
    """The trainer's metrics.json history carries full precision; fall back to the parsed lines."""
    path = workdir / "output" / "metrics.json"
    try:
        history = json.loads(path.read_text()).get("history")
    except (OSError, ValueError, AttributeError):
        return parsed
    if not isinstance(history, list) or len(history) < len(parsed):
        return parsed
    clean = []
    for row in history:
        if isinstance(row, dict):
            clean.append(
                {
                    k: float(v)
                    for k, v in row.items()
                    if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                }
            )
    return clean
