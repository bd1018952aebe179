"""Trials on one GPU (run by `make bench` and on a lent GPU machine, never by the tests): EVEREST at the seed's
sizes (200,000 sequences, embed_dim 128, 6 blocks, 3 epochs).

1. One trial alone: epoch time, sequences per second, mean GPU utilisation and peak memory (the trainer's
   `gpu_memory` in metrics.json, what `trials_per_gpu: auto` packs by), and the same trial at each of the seed's
   batch sizes with its data on the GPU (the default) and on the host (HPOCTL_DATA_ON_GPU=0).
2. 1, 2, 4 and 8 trials on the GPU side by side, started together as `trials_per_gpu` packs them: trials per
   GPU-hour, each trial's slowdown against one alone, mean utilisation. Aims (issue 18): at least 4x the trials
   per GPU-hour of one trial a GPU, each at most 15 % slower, mean utilisation at least 60 %.
3. With --with-cpu (the default where no GPU is found): bench/bench_warm.py's launch, warm processes against fresh
   interpreters.

It runs on a bare GPU machine that has torch and Lightning and nothing else of hpoctl's: `--wheels DIR` holds the
hpoctl wheel and its other dependencies for CPython 3.12 (`make gpu-wheels` downloads them into
.cache/gpu-wheels), installed with `pip install --no-index --no-deps --target` and no network. Sized to finish in
about 8 minutes on an H100; `--samples`, `--epochs` and `--packs` shrink it (a CPU run checks the script).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NEEDED = ("pydantic", "yaml", "hpoctl.trainers.everest")


def importable(env: dict[str, str], cwd: Path) -> bool:
    """Whether the trainers' imports work in a child run from `cwd` (not the repository root, whose hpoctl/ folder
    lacks the trainers an installed hpoctl maps in)."""
    probe = "import importlib, sys; [importlib.import_module(n) for n in sys.argv[1:]]"
    done = subprocess.run([sys.executable, "-c", probe, *NEEDED], env=env, cwd=cwd, capture_output=True)
    return done.returncode == 0


def install_wheels(wheels: Path, site: Path, cwd: Path) -> dict[str, str]:
    """hpoctl and its light dependencies into `site` from the wheels given, when this Python lacks them; the
    environment the trainers run with."""
    env = dict(os.environ)
    if importable(env, cwd):
        return env
    found = sorted(wheels.glob("*.whl"))
    if not found:
        raise SystemExit(f"bench_gpu: hpoctl is not importable and {wheels} holds no wheels (make gpu-wheels)")
    site.mkdir(parents=True, exist_ok=True)
    pip = [sys.executable, "-m", "pip", "install", "--no-index", "--no-deps", "--quiet", "--target", str(site)]
    subprocess.run([*pip, *map(str, found)], check=True)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(site), env.get("PYTHONPATH")) if p)
    if not importable(env, cwd):
        raise SystemExit(f"bench_gpu: still cannot import {', '.join(NEEDED)} after installing {wheels}")
    return env


class Utilisation:
    """The GPU's utilisation and memory in use, sampled by `nvidia-smi` every 200 ms while it runs."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float]] = []
        self._proc: subprocess.Popen | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Utilisation:
        if shutil.which("nvidia-smi"):
            query = ["nvidia-smi", "--query-gpu=utilization.gpu,memory.used", "--format=csv,noheader,nounits"]
            self._proc = subprocess.Popen([*query, "-lms", "200", "-i", "0"], stdout=subprocess.PIPE, text=True)
            self._thread = threading.Thread(target=self._read, daemon=True)
            self._thread.start()
        return self

    def _read(self) -> None:
        for line in self._proc.stdout:
            parts = [p.strip() for p in line.split(",")]
            if len(parts) == 2 and all(p.replace(".", "").isdigit() for p in parts):
                self.samples.append((float(parts[0]), float(parts[1])))

    def __exit__(self, *exc) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait()

    @property
    def mean(self) -> float | None:
        return statistics.fmean(s[0] for s in self.samples) if self.samples else None


@dataclass
class Trial:
    wall_s: float
    train_s: float
    epochs: int
    peak_bytes: int | None
    device: str


def trainer_command(args: argparse.Namespace, out: Path, *, batch: int, seed: int, epochs: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "hpoctl.trainers.everest",
        "--target",
        "M_24h",
        "--flare-class",
        "M",
        "--window",
        "24",
        f"--n-samples={args.samples}",
        f"--epochs={epochs}",
        f"--seed={seed}",
        "--embed_dim=128",
        "--num_blocks=6",
        "--dropout=0.2",
        "--focal_gamma=1.0",
        "--learning_rate=0.0003",
        f"--batch_size={batch}",
        "--output",
        str(out),
        "--cache-dir",
        str(args.cache),
    ]


def run_together(
    args: argparse.Namespace, env: dict[str, str], work: Path, count: int, *, batch: int, epochs: int, **extra: str
) -> tuple[list[Trial], float, float | None]:
    """`count` trials started at once on GPU 0: each trial's figures, the makespan, the mean utilisation."""
    env = {**env, "CUDA_VISIBLE_DEVICES": env.get("CUDA_VISIBLE_DEVICES", "0"), **extra}
    work.mkdir(parents=True, exist_ok=True)
    outs = [work / f"k{count}-b{batch}-{'-'.join(extra.values()) or 'gpu'}-{i}" for i in range(count)]
    with Utilisation() as utilisation:
        started = time.perf_counter()
        procs = [
            subprocess.Popen(
                trainer_command(args, out, batch=batch, seed=i, epochs=epochs),
                env=env,
                cwd=work,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i, out in enumerate(outs)
        ]
        ends = []
        for proc in procs:
            _, err = proc.communicate()
            ends.append(time.perf_counter() - started)
            if proc.returncode != 0:
                raise SystemExit(f"bench_gpu: a trainer failed (exit {proc.returncode}): {err.strip()[-400:]}")
        makespan = max(ends)
    trials = []
    for out, end in zip(outs, ends, strict=True):
        report = json.loads((out / "metrics.json").read_text())
        peak = (report.get("gpu_memory") or {}).get("peak_bytes")
        trials.append(Trial(end, report["train_seconds"], report["epochs_completed"], peak, report.get("device", "")))
    return trials, makespan, utilisation.mean


def _pct(value: float | None) -> str:
    return "n/a (no nvidia-smi)" if value is None else f"{value:.0f} %"


def _gib(value: int | None) -> str:
    return "n/a (CPU)" if not value else f"{value / 2**30:.2f} GiB"


def one_trial(args: argparse.Namespace, env: dict[str, str], work: Path) -> Trial:
    run_together(args, env, work / "warm-up", 1, batch=512, epochs=1)  # the data prepared into the cache once
    (trial,), _, utilisation = run_together(args, env, work, 1, batch=512, epochs=args.epochs)
    epoch_s = trial.train_s / trial.epochs
    print(f"device: {trial.device}")
    print(
        f"one trial alone (batch 512, {args.epochs} epochs): {epoch_s:.2f} s an epoch, "
        f"{args.samples / epoch_s:,.0f} sequences/s, mean GPU utilisation {_pct(utilisation)}, "
        f"peak memory {_gib(trial.peak_bytes)}"
    )
    return trial


def data_placement(args: argparse.Namespace, env: dict[str, str], work: Path) -> None:
    print("one trial, 1 epoch, by batch size: data on the GPU (default) against on the host (HPOCTL_DATA_ON_GPU=0)")
    for batch in (256, 512, 1024):
        (on_gpu,), _, use_gpu = run_together(args, env, work, 1, batch=batch, epochs=1)
        (on_host,), _, use_host = run_together(args, env, work, 1, batch=batch, epochs=1, HPOCTL_DATA_ON_GPU="0")
        print(
            f"  batch {batch:4d}: {on_gpu.train_s:6.2f} s ({_pct(use_gpu)}) against {on_host.train_s:6.2f} s "
            f"({_pct(use_host)}): {on_host.train_s / on_gpu.train_s:.2f}x"
        )


def packing(args: argparse.Namespace, env: dict[str, str], work: Path, alone: Trial) -> None:
    print(f"trials side by side on one GPU (batch 512, {args.epochs} epochs each, started together):")
    print("   K  makespan  trials/GPU-hour  vs K=1  slowdown  mean utilisation  peak memory a trial")
    base_rate = None
    verdicts = []
    for count in args.packs:
        trials, makespan, utilisation = run_together(args, env, work, count, batch=512, epochs=args.epochs)
        rate = count * 3600 / makespan
        base_rate = base_rate or (rate if count == 1 else 3600 / alone.wall_s)
        slowdown = statistics.fmean(t.train_s for t in trials) / alone.train_s - 1
        peak = max((t.peak_bytes or 0) for t in trials)
        print(
            f"  {count:2d}  {makespan:7.1f} s  {rate:15.1f}  {rate / base_rate:5.2f}x  {slowdown:+7.0%}  "
            f"{_pct(utilisation):>16}  {_gib(peak)}"
        )
        verdicts.append((count, rate / base_rate, slowdown, utilisation))
    best = max(verdicts, key=lambda v: v[1])
    met = best[1] >= 4 and best[2] <= 0.15 and (best[3] or 0) >= 60
    print(
        f"aims: >= 4x trials per GPU-hour with each trial <= 15 % slower and >= 60 % utilisation: "
        f"best K={best[0]}: {best[1]:.2f}x, {best[2]:+.0%}, {_pct(best[3])}: {'met' if met else 'not met'}"
    )


def cpu_comparison() -> None:
    print("== warm processes against fresh interpreters (bench/bench_warm.py), on the CPU")
    subprocess.run([sys.executable, str(ROOT / "bench" / "bench_warm.py")], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=200_000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--packs", type=lambda s: [int(k) for k in s.split(",")], default=[1, 2, 4, 8])
    parser.add_argument("--wheels", type=Path, default=ROOT / ".cache" / "gpu-wheels")
    parser.add_argument("--with-cpu", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--no-placement", action="store_true", help="Skip the data-placement comparison.")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-gpu-"))
    args.cache = work / "cache"
    env = install_wheels(args.wheels.resolve(), work / "site", work)
    gpu = shutil.which("nvidia-smi") is not None and env.get("CUDA_VISIBLE_DEVICES") not in ("", "-1")
    started = time.perf_counter()
    alone = one_trial(args, env, work)
    if not args.no_placement:
        data_placement(args, env, work)
    packing(args, env, work, alone)
    print(f"GPU part: {time.perf_counter() - started:.0f} s")
    if args.with_cpu or (args.with_cpu is None and not gpu):
        cpu_comparison()
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
