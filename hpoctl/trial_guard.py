"""The guard between a launcher and one trainer process: `python -I trial_guard.py GRACE_S ARGV...`.

It runs the trainer in a process group of its own and outlives it only to clean up, so that no trainer, nor
any process the trainer started, outlives the launcher:

* the launcher's SIGTERM (pruning, a timeout, Ctrl-C) is passed to the trainer's whole group; whatever is left
  of the group GRACE_S seconds later gets SIGKILL;
* the guard itself gets SIGTERM when the launcher dies, even by SIGKILL (PR_SET_PDEATHSIG, which it arms
  itself at its start; a launcher gone before that shows in the parent pid), and does the same;
* when the trainer exits, what it left running in its group (stray children holding the output pipe) is killed.

The guard then exits as the trainer did: its exit code, or the signal that ended it. Standard library only, run
with -I, so it starts in milliseconds and imports nothing of the user's.
"""

import contextlib
import ctypes
import os
import signal
import sys

_group = 0
_stopping = False
_PR_SET_PDEATHSIG = 1


def _signal_group(signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(_group, signum)


def _on_term(_signum, _frame) -> None:
    global _stopping
    if _stopping:
        return
    _stopping = True
    _signal_group(signal.SIGTERM)
    signal.alarm(max(1, int(float(sys.argv[1]))))


def _on_alarm(_signum, _frame) -> None:
    _signal_group(signal.SIGKILL)


def main() -> None:
    global _group
    argv = sys.argv[2:]
    expected_parent = os.environ.pop("HPOCTL_GUARD_PARENT", "")
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C is the launcher's to decide on
    signal.signal(signal.SIGTERM, _on_term)
    signal.signal(signal.SIGALRM, _on_alarm)
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    child = os.fork()
    if child == 0:
        os.setpgid(0, 0)
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGALRM):
            signal.signal(signum, signal.SIG_DFL)
        try:
            os.execvp(argv[0], argv)
        except OSError as e:
            os.write(2, f"hpoctl: cannot run the trainer command {argv[0]!r}: {e.strerror}\n".encode())
            os._exit(127)
    _group = child
    with contextlib.suppress(OSError):  # also from this side, so the group exists before a signal is sent to it
        os.setpgid(child, child)
    if expected_parent and str(os.getppid()) != expected_parent:
        _on_term(signal.SIGTERM, None)  # the launcher died before the parent-death signal was armed
    while True:
        try:
            _, status = os.waitpid(child, 0)
            break
        except InterruptedError:
            continue
    _signal_group(signal.SIGKILL)  # whatever the trainer left behind in its group
    if os.WIFSIGNALED(status):
        signum = os.WTERMSIG(status)
        if signum not in (signal.SIGKILL, signal.SIGSTOP):  # those two keep their default action anyway
            signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
    sys.exit(os.waitstatus_to_exitcode(status))


if __name__ == "__main__":
    main()
