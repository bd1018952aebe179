"""The launcher's side of a warm trainer process (hpoctl/warm_server.py): one per slot, reused trial after trial.

A launcher starts its slots from its main thread (`start_warm_slots`), so that they serve every stage; a slot a
worker thread starts lives as long as that thread. `WarmSlot.spawn` starts a trial from the slot's server and
returns a `WarmTrial`, which `run_trial_process` drives as it drives a fresh process: read its stdout, signal it
(SIGTERM to its group, SIGKILL to the group after the grace period), wait for its exit code (negative for a
signal, as `subprocess` gives). A server that died is started again for the next trial; one that cannot start
makes the slot fall back to fresh processes.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from typing import IO, TYPE_CHECKING

from hpoctl.errors import HpoctlError

if TYPE_CHECKING:
    from hpoctl.spec.study import Trainer

_MAX_MESSAGE = 1 << 20


class WarmSlotError(HpoctlError):
    """The slot's warm process is gone; the trial it was running is lost, the next one starts a new process."""


class WarmSlot:
    """A warm process for `python -m MODULE` trials, started on first use from the thread that runs them."""

    def __init__(self, module: str, cwd: str | None = None) -> None:
        self.module, self.cwd = module, cwd
        self.preloaded: list[str] = []
        self._server: subprocess.Popen | None = None
        self._sock: socket.socket | None = None
        self._starting = False

    @property
    def server_pid(self) -> int | None:
        return self._server.pid if self._server is not None else None

    def spawn(
        self, argv: Sequence[str], cwd: str, env: Mapping[str, str], stderr: IO[bytes], grace_s: float
    ) -> WarmTrial:
        """Start one trial: `argv` are the trainer's arguments (after `python -m MODULE`); SIGTERM to it is
        followed by SIGKILL to its group `grace_s` later."""
        if self._server is None or self._server.poll() is not None:
            self.start()
        if self._starting:
            self._await_ready()
        assert self._sock is not None
        read_end, write_end = os.pipe()
        try:
            request = json.dumps({"argv": list(argv), "cwd": cwd, "env": dict(env)}).encode()
            socket.send_fds(self._sock, [request], [write_end, stderr.fileno()])
            pid = self._receive()["pid"]
        except (OSError, KeyError, ValueError) as e:
            os.close(read_end)
            self.close()
            raise WarmSlotError(f"the warm trainer process for {self.module} stopped answering: {e}") from e
        finally:
            os.close(write_end)
        return WarmTrial(self, pid, os.fdopen(read_end, "rb", buffering=0), grace_s)

    def close(self) -> None:
        self._starting = False
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._server is not None:
            try:
                self._server.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._server.kill()
                self._server.wait()
            self._server = None

    def start(self) -> None:
        """Start the server now, without waiting for its imports: its parent-death signal follows the calling
        thread, so a launcher that starts its slots from its main thread keeps them for every stage."""
        self.close()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with theirs:
            self._server = subprocess.Popen(
                [sys.executable, "-m", "hpoctl.warm_server", self.module, str(theirs.fileno()), str(os.getpid())],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                process_group=0,  # a terminal's Ctrl-C reaches the launcher only; no preexec_fn (trial_process)
                cwd=self.cwd,
            )
        self._sock = ours
        self._starting = True

    def _await_ready(self) -> None:
        try:
            self.preloaded = self._receive()["preloaded"]
        except (OSError, KeyError, ValueError) as e:
            self.close()
            raise WarmSlotError(f"the warm trainer process for {self.module} did not start: {e}") from e
        self._starting = False

    def _receive(self) -> dict:
        assert self._sock is not None
        message = self._sock.recv(_MAX_MESSAGE)
        if not message:
            raise OSError("it exited")
        return json.loads(message)

    def exit_status_ready(self) -> bool:
        """Whether the server has sent the running trial's exit status (a server gone counts: reading says so)."""
        if self._sock is None:
            return False
        ready, _, _ = select.select([self._sock], [], [], 0)
        return bool(ready)

    def exit_status(self) -> int:
        """The running trial's wait status, waiting for it; OSError, KeyError or ValueError if the server is gone."""
        if self._sock is None:
            raise OSError("the warm process is closed")
        return int(self._receive()["status"])


def start_warm_slots(trainer: Trainer, count: int) -> list[WarmSlot]:
    """`count` started slots for a `module` trainer that may start warm (`trainer.warm`), else none."""
    if not (trainer.module and trainer.warm):
        return []
    slots = [WarmSlot(trainer.module) for _ in range(count)]
    for slot in slots:
        slot.start()
    return slots


class WarmTrial:
    """One trial forked by a warm process, driven like a `subprocess.Popen` of a fresh one."""

    def __init__(self, slot: WarmSlot, pid: int, stdout: IO[bytes], grace_s: float) -> None:
        self.slot, self.pid, self.stdout, self.grace_s = slot, pid, stdout, grace_s
        self.returncode: int | None = None
        self._lock = threading.Lock()
        self._killer: threading.Timer | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            with self._lock:
                if self.returncode is None and self.slot.exit_status_ready():
                    self._collect()
        return self.returncode

    def wait(self) -> int:
        with self._lock:
            if self.returncode is None:
                self._collect()
        assert self.returncode is not None
        if self._killer is not None:
            self._killer.cancel()
        return self.returncode

    def send_signal(self, signum: int) -> None:
        """`signum` to the trial's whole group; after SIGTERM, SIGKILL to the group once the grace period is over
        (what the guard does for a fresh process)."""
        self._signal(signum)
        if signum == signal.SIGTERM and self._killer is None:
            self._killer = threading.Timer(self.grace_s, self._signal, args=(signal.SIGKILL,))
            self._killer.daemon = True
            self._killer.start()

    def kill(self) -> None:
        self._signal(signal.SIGKILL)

    def _signal(self, signum: int) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signum)

    def _collect(self) -> None:
        try:
            status = self.slot.exit_status()
        except (OSError, KeyError, ValueError):
            self.slot.close()  # the server died with its trial (PDEATHSIG): the next trial starts a new one
            self.returncode = -signal.SIGKILL
            return
        self.returncode = os.waitstatus_to_exitcode(status)

    def __enter__(self) -> WarmTrial:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stdout.close()
        if self.returncode is None:
            self.kill()
            self.wait()


__all__ = ["WarmSlot", "WarmSlotError", "WarmTrial", "start_warm_slots"]
