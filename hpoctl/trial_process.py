"""Run one trial as a child process of the trainer command, reading its metric lines as they come.

The child gets the same command a Katib pod or a SLURM task runs, behind hpoctl/trial_guard.py (its own process
group; nothing it starts outlives the launcher). Its stdout is read in chunks, in bounded memory: a line longer
than LINE_CAP is cut to that length in stdout.log, dropped from parsing and counted. Each `epoch=N name=value ...`
line is handed to `on_epoch`, which may ask for the trial to stop (pruning); the trainer is then sent SIGTERM,
which the trainer contract answers by stopping at the next batch, and SIGKILL after the grace period. The
timeout and a stop request (Ctrl-C) are watched by a thread of their own, whatever the trainer prints.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpoctl.metric_lines import parse_metric_line
from hpoctl.trainer_contract import ExitCode
from hpoctl.warm_slot import WarmSlot, WarmSlotError, WarmTrial

INTERRUPTED_EXIT = int(ExitCode.INTERRUPTED)
GpuMemory = tuple[int, int] | None
EXIT_MEANINGS = {
    ExitCode.ERROR: "error",
    ExitCode.USAGE: "bad arguments",
    ExitCode.DIVERGED: "diverged (NaN or infinite loss)",
    ExitCode.DATA: "data could not be loaded",
    ExitCode.OUT_OF_MEMORY: "out of memory",
    ExitCode.INTERRUPTED: "stopped by SIGTERM",
    127: "command not found",
    -9: "killed (SIGKILL)",
}
#: The longest stdout line read as metrics (and kept whole in stdout.log); the rest of a longer line is dropped.
LINE_CAP = 64 * 1024
_CHUNK = 64 * 1024
_GUARD = str(Path(__file__).with_name("trial_guard.py"))
#: After the trainer's own process has exited, how long stray holders of its stdout are waited for.
_DRAIN_S = 2.0


@dataclass
class TrialRun:
    """What happened to one trainer process. `history` keeps non-finite values as read (nan, inf) for the
    caller to judge; `malformed` holds (epoch, name, text) of values that were not numbers."""

    exit_code: int
    history: list[dict[str, float]] = field(default_factory=list)
    stopped_by_us: str | None = None  # "pruned", "timeout", "interrupted" when we sent SIGTERM
    error_line: str | None = None
    duration_s: float = 0.0
    malformed: list[tuple[float, str, str]] = field(default_factory=list)
    dropped_lines: int = 0
    dropped_bytes: int = 0
    gpu_memory: GpuMemory = None
    """(peak, total) bytes of the trial's GPU, from its metrics.json (`trials_per_gpu: auto` packs by it)."""

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.stopped_by_us is None

    def failure_reason(self) -> str:
        meaning = EXIT_MEANINGS.get(self.exit_code, f"exit code {self.exit_code}")
        if self.error_line:
            return f"{self.error_line} (exit {self.exit_code}: {meaning})"
        return f"trainer exited with code {self.exit_code} ({meaning})"


class _LineReader:
    """Splits stdout chunks into lines of at most LINE_CAP bytes, logging each and handing whole ones on."""

    def __init__(self, log, on_line: Callable[[str], None], run: TrialRun):
        self.log, self.on_line, self.run = log, on_line, run
        self.line = bytearray()
        self.cut = 0  # bytes of the current line dropped past LINE_CAP

    def feed(self, chunk: bytes) -> None:
        start = 0
        while start <= len(chunk):
            newline = chunk.find(b"\n", start)
            piece = chunk[start : len(chunk) if newline == -1 else newline]
            room = LINE_CAP - len(self.line)
            if self.cut or len(piece) > room:
                self.line += piece[: max(room, 0)]
                self.cut += len(piece) - max(room, 0)
            else:
                self.line += piece
            if newline == -1:
                return
            self.end_line()
            start = newline + 1

    def end_line(self) -> None:
        if self.cut:
            self.log.write(bytes(self.line) + f" [hpoctl: {self.cut} more bytes dropped]\n".encode())
            self.run.dropped_lines += 1
            self.run.dropped_bytes += self.cut
        else:
            self.log.write(bytes(self.line) + b"\n")
            self.on_line(self.line.decode("utf-8", errors="replace"))
        self.log.flush()
        self.line.clear()
        self.cut = 0

    def close(self) -> None:
        if self.line or self.cut:
            self.end_line()


def run_trial_process(
    argv: Sequence[str],
    workdir: Path,
    *,
    on_epoch: Callable[[dict[str, float]], bool] | None = None,
    timeout_s: float | None = None,
    stop_event: threading.Event | None = None,
    env: dict[str, str] | None = None,
    grace_s: float = 30.0,
    warm: WarmSlot | None = None,
) -> TrialRun:
    """Run the trainer; `on_epoch` returns True to stop the trial (pruning). Logs go to `workdir`. With `warm`,
    a `python -m` trainer is forked from that slot's warm process instead of starting a fresh interpreter."""
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    run = TrialRun(exit_code=-1)
    with open(workdir / "stdout.log", "wb") as out_log, open(workdir / "stderr.log", "w+b") as err_log:
        with _start(argv, workdir, env, err_log, grace_s, warm) as process:
            stopper = _Stopper(process, grace_s)
            watchdog = threading.Thread(
                target=_watch, args=(process, stopper, started, timeout_s, stop_event), daemon=True
            )
            watchdog.start()

            def on_line(line: str) -> None:
                parsed = parse_metric_line(line)
                epoch = parsed.metrics.get("epoch")
                if epoch is None or not math.isfinite(epoch):
                    return
                run.history.append(parsed.metrics)
                run.malformed += [(epoch, name, text) for name, text in parsed.malformed.items()]
                if on_epoch is not None and stopper.reason is None and on_epoch(parsed.metrics):
                    stopper.stop("pruned")

            assert process.stdout is not None
            _read_until_closed(process, _LineReader(out_log, on_line, run))
            run.exit_code = process.wait()
            stopper.done.set()
            watchdog.join()
        run.stopped_by_us = stopper.reason
        err_log.seek(0, os.SEEK_END)
        err_log.seek(max(0, err_log.tell() - 8192))
        run.error_line = _last_line(err_log.read().decode("utf-8", errors="replace"))
    run.history, run.gpu_memory = _read_metrics_file(workdir, run.history)
    run.duration_s = time.monotonic() - started
    return run


def _start(
    argv: Sequence[str], workdir: Path, env: dict[str, str] | None, err_log, grace_s: float, warm: WarmSlot | None
) -> subprocess.Popen | WarmTrial:
    """The trainer behind its guard, or forked from the slot's warm process when `argv` is its `python -m MODULE`."""
    if warm is not None and list(argv[:3]) == [sys.executable, "-m", warm.module]:
        with contextlib.suppress(WarmSlotError):  # a warm process that cannot start: this trial starts fresh
            return warm.spawn(argv[3:], str(workdir), {**os.environ, **(env or {})}, err_log, grace_s)
    environment = {**os.environ, **(env or {}), "HPOCTL_GUARD_PARENT": str(os.getpid())}
    if list(argv[1:2]) == ["-m"]:
        # `python -m` finds modules from the trial's folder; a module of the launcher's folder is found too, as a
        # warm process (started there) finds it.
        environment["PYTHONPATH"] = os.pathsep.join(filter(None, [os.getcwd(), environment.get("PYTHONPATH")]))
    return subprocess.Popen(
        [sys.executable, "-I", _GUARD, str(grace_s), *argv],
        stdout=subprocess.PIPE,
        stderr=err_log,
        stdin=subprocess.DEVNULL,
        env=environment,
        # A group of its own, so a Ctrl-C in the terminal reaches the launcher, which decides. No preexec_fn:
        # Python code between fork and exec can deadlock in a threaded launcher (Python's subprocess docs), and
        # did, stuck for good when scancel's SIGTERM came during a trial's start; the guard arms its own
        # parent-death signal.
        process_group=0,
        cwd=workdir,
    )


def _read_until_closed(process: subprocess.Popen | WarmTrial, reader: _LineReader) -> None:
    """Read stdout to its end; once the guard has exited, stop waiting for stray holders of the pipe."""
    fd = process.stdout.fileno()
    exited_at = None
    while True:
        ready, _, _ = select.select([fd], [], [], 0.25)
        if ready:
            chunk = os.read(fd, _CHUNK)
            if not chunk:
                break
            reader.feed(chunk)
            continue
        if process.poll() is not None:
            exited_at = exited_at or time.monotonic()
            if time.monotonic() - exited_at > _DRAIN_S:
                break
    reader.close()


class _Stopper:
    def __init__(self, process: subprocess.Popen | WarmTrial, grace_s: float):
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
        """The guard kills the trainer's group after the grace period; should the guard itself hang, it goes too."""
        if not self.done.wait(self.grace_s + 10):
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


def _read_metrics_file(workdir: Path, parsed: list[dict[str, float]]) -> tuple[list[dict[str, float]], GpuMemory]:
    """The history with the full precision of the trainer's metrics.json, and the GPU memory it reports."""
    path = workdir / "output" / "metrics.json"
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError):
        return parsed, None
    if not isinstance(document, dict):
        return parsed, None
    return _merge_history(document.get("history"), parsed), _gpu_memory(document.get("gpu_memory"))


def _merge_history(history: Any, parsed: list[dict[str, float]]) -> list[dict[str, float]]:
    """The trainer's metrics.json history carries full precision: its numbers replace the parsed ones epoch by
    epoch, and a value only stdout carried (a nan the file could not hold) stays."""
    if not isinstance(history, list) or len(history) < len(parsed):
        return parsed
    merged = []
    for i, row in enumerate(history):
        if not isinstance(row, dict):
            continue
        numbers = {k: float(v) for k, v in row.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        merged.append({**(parsed[i] if i < len(parsed) else {}), **numbers})
    return merged


def _gpu_memory(reported: Any) -> GpuMemory:
    """(peak, total) bytes from metrics.json's `gpu_memory`, when the trainer ran on a GPU and said so."""
    if not isinstance(reported, dict):
        return None
    peak, total = reported.get("peak_bytes"), reported.get("total_bytes")
    if isinstance(peak, int) and isinstance(total, int) and 0 < peak <= total:
        return peak, total
    return None
