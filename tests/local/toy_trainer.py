"""A trainer keeping the trainer contract with no torch: a noisy quadratic that improves per epoch.

Used by the local-backend tests to run whole studies in seconds. `--x`, `--y` are the
hyperparameters; `--mode` picks the objective(s); TOY_FAIL_ABOVE makes configurations with x above
a value exit like a diverged trainer; TOY_EPOCH_SLEEP slows epochs down; TOY_PARENTS names a file each trial appends
its parent's PID to. TOY_GPU_DIR stands in for the memory of the GPU in CUDA_VISIBLE_DEVICES: each trial holds a
file there while it runs, and those that joined after the first TOY_GPU_FITS run out of memory (exit 5); with
TOY_GPU_PEAK (bytes of 8 GiB) it reports that peak in metrics.json. It runs as a script or as the module
`tests.local.toy_trainer`. `--check-data` accepts a
`--data` file whose first line is `toy data` (each other line a problem); the trial records the `--data` it got.
"""

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

stop = False


def on_term(signum, frame):
    global stop
    stop = True


def main() -> int:
    signal.signal(signal.SIGTERM, on_term)
    parser = argparse.ArgumentParser()
    for flag in ("--target", "--output", "--cache-dir", "--data"):
        parser.add_argument(flag)
    if "--check-data" in sys.argv:
        return check_data(sys.argv[sys.argv.index("--data") + 1] if "--data" in sys.argv else None)
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--x", type=float, required=True)
    parser.add_argument("--y", type=float, default=0.5)
    parser.add_argument("--kind", default="a")
    parser.add_argument("--size", type=int, default=1)
    args = parser.parse_args()
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    if os.environ.get("TOY_PARENTS"):  # which process started this trial: a guard, or a warm process
        with open(os.environ["TOY_PARENTS"], "a") as f:
            f.write(f"{os.getppid()}\n")
    gpu = GpuStandIn.from_environment()
    try:
        return train(args, out, gpu)
    finally:
        if gpu is not None:
            gpu.leave()


class GpuStandIn:
    def __init__(self, folder: Path, fits: int) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.me, self.fits = folder / f"{time.time_ns()}-{os.getpid()}", fits
        self.me.touch()
        with open(f"{folder}.together", "a") as f:  # how many trials shared the GPU, as each one joined
            f.write(f"{len(list(folder.iterdir()))}\n")

    @classmethod
    def from_environment(cls):
        folder = os.environ.get("TOY_GPU_DIR")
        if not folder:
            return None
        return cls(Path(folder) / os.environ["CUDA_VISIBLE_DEVICES"], int(os.environ.get("TOY_GPU_FITS", "99")))

    def out_of_memory(self) -> bool:
        return sorted(p.name for p in self.me.parent.iterdir()).index(self.me.name) >= self.fits

    def leave(self) -> None:
        self.me.unlink(missing_ok=True)


def train(args, out: Path, gpu) -> int:
    sleep = float(os.environ.get("TOY_EPOCH_SLEEP", "0"))
    fail_above = os.environ.get("TOY_FAIL_ABOVE")
    history = []
    for epoch in range(1, args.epochs + 1):
        if stop:
            break
        if gpu is not None and gpu.out_of_memory():
            print("CUDA out of memory. Tried to allocate 2.00 GiB", file=sys.stderr)
            return 5
        time.sleep(sleep)
        if fail_above is not None and args.x > float(fail_above):
            print(f"trial failed: loss became nan at epoch {epoch} (x={args.x})", file=sys.stderr)
            return 3
        base = (args.x - 0.3) ** 2 + (args.y - 0.5) ** 2 + (0.1 if args.kind == "b" else 0.0)
        loss = base + 1.0 / epoch
        if os.environ.get("TOY_SEED_NOISE"):  # a seed-dependent curve, as real training has
            loss += 0.01 * ((args.seed * 7919 + epoch) % 13) / 13
        row = {"epoch": epoch, "loss": round(loss, 6), "a": round(args.x, 6), "b": round((1 - args.x) ** 2, 6)}
        history.append(row)
        print(" ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    status = "interrupted" if stop else "completed"
    report = {"status": status, "history": history, "data": args.data}
    if os.environ.get("TOY_GPU_PEAK"):
        report["gpu_memory"] = {"peak_bytes": int(os.environ["TOY_GPU_PEAK"]), "total_bytes": 8 * 2**30}
    (out / "metrics.json").write_text(json.dumps(report))
    return 143 if stop else 0


def check_data(path: str | None) -> int:
    try:
        lines = Path(path).read_text().splitlines() if path else []
    except OSError as e:
        lines = ["", f"cannot read {path}: {e.strerror}"]
    if lines[:1] == ["toy data"] and len(lines) == 1:
        print(f"data ok: {path} is toy data")
        return 0
    for problem in lines[1:] or ["not toy data"]:
        print(f"data problem: {problem}", file=sys.stderr)
    return 4


if __name__ == "__main__":
    sys.exit(main())
