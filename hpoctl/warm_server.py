"""A warm trainer process: `python -m hpoctl.warm_server MODULE FD LAUNCHER_PID`, one per launcher slot.

It imports the trainer once (torch, Lightning and the trainer's own modules: 4-5 s on a quiet 2-core machine,
many times that when loaded) and then forks one child per trial, so a trial starts in milliseconds. The child
is the trial: `python -m MODULE ARGV...` exactly as a fresh interpreter would run it (same argv, metric lines,
exit codes), in a process group of its own that the launcher signals directly. Nothing here touches CUDA: each
child makes its own CUDA context and frees it by exiting, so a trial that crashes or runs out of memory takes
down only itself.

The launcher talks over a SOCK_SEQPACKET socket (FD): a request is a JSON message {argv, cwd, env} carrying the
trial's stdout and stderr descriptors; the answers are {"pid": N} once forked and {"status": S} (a waitpid
status) once the child has exited and whatever it left in its group is killed. The server exits when the
launcher closes the socket; when the launcher's thread dies, even by SIGKILL, the parent-death signal (SIGTERM,
set by the launcher) makes it kill the running trial's whole group first. Each trial also gets SIGKILL should the
server itself die. Standard library only, besides the trainer it preloads.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import json
import os
import runpy
import signal
import socket
import sys
import traceback

_PR_SET_PDEATHSIG = 1
#: Largest request: argv and the whole environment.
MAX_MESSAGE = 1 << 20


def preload(module: str) -> list[str]:
    """Import what every trial of `module` imports, without running it: torch and Lightning when installed, and
    a built-in trainer's training code. Best effort: what fails to import here fails in the trial, as it would."""
    names = ["torch", "lightning", module]
    with contextlib.suppress(Exception):
        config = importlib.import_module(f"{module}.config")
        names.append(config.SPEC.entry_point.partition(":")[0])
        names.append("hpoctl.trainers.common.lightning_loop")
    loaded = []
    for name in names:
        try:
            importlib.import_module(name)
            loaded.append(name)
        except Exception:  # the trial reports it
            continue
    return loaded


def run_child(module: str, request: dict, fds: list[int], server_pid: int) -> None:
    """In the forked child: become the trial, run `python -m module argv...`, exit with its code."""
    code = 1
    try:
        os.setpgid(0, 0)
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != server_pid:
            os._exit(137)
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD):  # the server's handlers are not the trial's
            signal.signal(signum, signal.SIG_DFL)
        devnull = os.open(os.devnull, os.O_RDONLY)
        for target, fd in ((0, devnull), (1, fds[0]), (2, fds[1])):
            os.dup2(fd, target)
        for fd in (devnull, *fds):
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = [module, *request["argv"]]
        try:
            runpy.run_module(module, run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as e:
            code = _exit_code(e.code)
        except BaseException:  # as a fresh interpreter would: traceback on stderr, exit 1
            traceback.print_exc()
            code = 1
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _exit_code(value: object) -> int:
    if value is None:
        return 0
    if isinstance(value, int):
        return value & 0xFF
    print(value, file=sys.stderr)
    return 1


_trial = 0
"""The trial running now (its pid, which is its group), 0 between trials."""


def _on_launcher_death(_signum, _frame) -> None:
    """The launcher is gone (the parent-death signal): the trial and everything in its group go with it."""
    if _trial:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(_trial, signal.SIGKILL)
    os._exit(1)


def serve(module: str, sock: socket.socket) -> None:
    global _trial
    signal.signal(signal.SIGTERM, _on_launcher_death)
    preloaded = preload(module)
    server_pid = os.getpid()
    sock.send(json.dumps({"ready": True, "preloaded": preloaded}).encode())
    while True:
        message, fds, _, _ = socket.recv_fds(sock, MAX_MESSAGE, 2)
        if not message:
            return
        request = json.loads(message)
        pid = os.fork()
        if pid == 0:
            sock.close()
            run_child(module, request, fds, server_pid)
        _trial = pid
        for fd in fds:
            os.close(fd)
        with contextlib.suppress(OSError):  # also from this side, so the group exists before the launcher signals it
            os.setpgid(pid, pid)
        sock.send(json.dumps({"pid": pid}).encode())
        while True:
            try:
                _, status = os.waitpid(pid, 0)
                break
            except InterruptedError:
                continue
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)  # whatever the trial left running in its group
        _trial = 0
        sock.send(json.dumps({"status": status}).encode())


def main() -> None:
    module, fd, launcher = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C is the launcher's to decide on
    # SIGTERM when the launcher's slot thread ends (even by SIGKILL): the server then kills the running trial's
    # group and exits. Armed here rather than between fork and exec, where Python code can deadlock.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != launcher:  # the launcher died before the parent-death signal was armed
        return
    with socket.socket(fileno=fd) as sock:
        try:
            serve(module, sock)
        except (BrokenPipeError, ConnectionResetError):
            return


if __name__ == "__main__":
    main()
