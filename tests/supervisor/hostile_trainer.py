"""A trainer that breaks the contract on purpose, one way per mode (argv[1]); the supervisor must survive each.
HOSTILE_PIDS names a file to which each process this trainer starts appends its PID."""

import os
import signal
import sys
import time


def note_pid() -> None:
    path = os.environ.get("HOSTILE_PIDS")
    if path:
        with open(path, "a") as f:
            f.write(f"{os.getpid()}\n")


def out(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def main() -> int:
    mode = sys.argv[1]
    note_pid()
    if mode == "long-line":
        out("x" * 1_000_000 + " loss=5\n")
        out("epoch=1 loss=0.5\n")
    elif mode == "no-newline":
        chunk = "y" * 65536
        for _ in range(1024):  # 64 MiB with no newline at all
            out(chunk)
    elif mode == "binary":
        sys.stdout.buffer.write(bytes(range(256)) * 64 + b"\n\xff\xfeepoch=1 loss=0.25\n")
        sys.stdout.flush()
    elif mode.startswith("lines:"):  # lines:epoch=1 loss=0.9|epoch=2 loss=nan
        for line in mode[len("lines:") :].split("|"):
            out(line + "\n")
    elif mode == "ignores-term":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        out("epoch=1 loss=0.5\n")
        time.sleep(600)
    elif mode == "children":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for _ in range(3):
            if os.fork() == 0:
                note_pid()
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
                time.sleep(600)  # holds stdout open
                os._exit(0)
        out("epoch=1 loss=0.5\n")
        if os.environ.get("HOSTILE_PARENT_EXITS"):
            return 0  # the children stay behind, holding the pipe
        time.sleep(600)
    elif mode == "silent-exit":
        return 0
    elif mode == "paced":  # a well-behaved trial of 8 epochs, half a second each
        for epoch in range(1, 9):
            time.sleep(0.5)
            out(f"epoch={epoch} loss={1 / epoch}\n")
    elif mode == "crash":
        out("epoch=1 loss=0.5\n")
        os.kill(os.getpid(), signal.SIGSEGV)
    elif mode == "raises":
        raise RuntimeError("the trainer broke")
    elif mode == "sleeps":
        out("epoch=1 loss=0.5\n")
        time.sleep(600)
    return 0


if __name__ == "__main__":
    sys.exit(main())
