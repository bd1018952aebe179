"""Benchmark the trainers (run by hand, not a test): Lightning's overhead and the data cache's gain.

    python bench/bench_trainers.py [--epochs 3] [--repeats 2] [--threads N] [--embed-dim 128 --num-blocks 6]

1. Seconds per epoch of the EVEREST trainer's Lightning loop vs a plain PyTorch loop doing the same work
   (same model and initial weights, same batches, same optimizer, the same validation metrics and
   metrics.json per epoch). Ratio = Lightning's overhead; the aim is <= 1.10.
2. Data preparation of a trial with an empty cache vs the next trial on the same target (real trainer
   subprocesses, figures from their metrics.json). Ratio aim: <= 0.05.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import lightning as L
import torch

from hpoctl.trainers.common import signals
from hpoctl.trainers.common.args import RunArgs
from hpoctl.trainers.common.cache import Arrays, DataCache
from hpoctl.trainers.common.lightning_loop import EpochBatches, configure_torch, fit, quiet_libraries
from hpoctl.trainers.common.report import Reporter
from hpoctl.trainers.common.runner import Trial
from hpoctl.trainers.everest.config import SPEC, EverestDataArgs, EverestHparams, resolve_target
from hpoctl.trainers.everest.data import load_prepared, target_split
from hpoctl.trainers.everest.metrics import best_tss
from hpoctl.trainers.everest.model import focal_loss
from hpoctl.trainers.everest.module import EverestModule


class _BenchTrial:
    """Just enough of a Trial for ``load_prepared``."""

    def __init__(self, cache_dir: Path) -> None:
        self.cache = DataCache(cache_dir)

    def prepare_data(self, source: object, params: dict, prepare: Callable[[], Arrays]) -> Arrays:
        return self.cache.load_or_prepare(SPEC.name, source, params, prepare).arrays


def _data(target: str, cache_dir: Path) -> tuple[torch.Tensor, ...]:
    run = RunArgs(target=target)
    _, data = resolve_target(run, EverestDataArgs())
    arrays = load_prepared(_BenchTrial(cache_dir), None, data)
    return tuple(torch.from_numpy(a) for a in target_split(arrays, target))


def _reporter(out_dir: Path, epochs: int) -> Reporter:
    return Reporter(SPEC, "M_24h", epochs, out_dir, io.StringIO())


class _Clock:
    """Wall and process-CPU seconds; CPU time is the steadier figure on a machine shared with other jobs."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def per_epoch(self, epochs: int) -> tuple[float, float]:
        return (time.perf_counter() - self.wall) / epochs, (time.process_time() - self.cpu) / epochs


def lightning_epoch_seconds(hp: EverestHparams, tensors, epochs: int, seed: int, out_dir: Path) -> tuple[float, float]:
    x_train, y_train, x_val, y_val = tensors
    device = configure_torch(seed, None, "cpu")
    module = EverestModule(hp, n_features=x_train.shape[2], seq_len=x_train.shape[1])
    train = EpochBatches((x_train, y_train), hp.batch_size, shuffle=True, seed=seed)
    val = EpochBatches((x_val, y_val), 1024, shuffle=False)
    reporter = _reporter(out_dir, epochs)
    run = RunArgs(target="M_24h", epochs=epochs, seed=seed)
    trial = Trial(SPEC, run, hp, EverestDataArgs(), out_dir, reporter, DataCache(out_dir), device)
    clock = _Clock()
    fit(module, train, val, trial)
    return clock.per_epoch(epochs)


def plain_epoch_seconds(hp: EverestHparams, tensors, epochs: int, seed: int, out_dir: Path) -> tuple[float, float]:
    """The same work without Lightning: train, NaN check, validation metrics, metrics.json per epoch."""
    x_train, y_train, x_val, y_val = tensors
    configure_torch(seed, None, "cpu")
    module = EverestModule(hp, n_features=x_train.shape[2], seq_len=x_train.shape[1])
    net = module.net
    optimizer = torch.optim.AdamW(net.parameters(), lr=hp.learning_rate)
    train = EpochBatches((x_train, y_train), hp.batch_size, shuffle=True, seed=seed)
    val = EpochBatches((x_val, y_val), 1024, shuffle=False)
    reporter = _reporter(out_dir, epochs)
    clock = _Clock()
    for epoch in range(1, epochs + 1):
        net.train()
        loss_sum, count = torch.zeros(()), 0
        for batch_idx, (x, y) in enumerate(train):
            signals.check()
            loss = focal_loss(net(x), y, hp.focal_gamma)
            if not bool(torch.isfinite(loss)):
                raise RuntimeError(f"loss became nan at batch {batch_idx}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.detach() * len(y)
            count += len(y)
        net.eval()
        with torch.inference_mode():
            logits = torch.cat([net(x).float() for x, _ in val])
            labels = torch.cat([y for _, y in val])
            val_loss = float(focal_loss(logits, labels, hp.focal_gamma))
            tss, threshold = best_tss(torch.sigmoid(logits.double()).numpy(), labels.numpy())
        reporter.epoch_end(
            epoch, {"tss": tss, "val_loss": val_loss, "threshold": threshold, "train_loss": float(loss_sum) / count}
        )
    return clock.per_epoch(epochs)


def data_prep_figures(target: str, threads: int | None) -> tuple[float, float]:
    """data_prep_seconds of a trial with an empty cache, then of the next trial (cache hit)."""
    seconds = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(2):
            out = Path(tmp) / f"trial{i}"
            command = [
                sys.executable, "-m", "hpoctl.trainers.everest", "--target", target, "--epochs", "1",
                "--output", str(out), "--cache-dir", str(Path(tmp) / "cache"), "--max-train-batches", "1",
                "--embed_dim=16", "--num_blocks=1",
            ]  # fmt: skip
            if threads:
                command += ["--threads", str(threads)]
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            metrics = json.loads((out / "metrics.json").read_text())
            assert metrics["cache_hit"] == (i == 1), metrics
            seconds.append(metrics["data_prep_seconds"])
    return seconds[0], seconds[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--target", default="M_24h")
    parser.add_argument("--embed-dim", type=int, default=128)
    parser.add_argument("--num-blocks", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=512)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    quiet_libraries()
    hp = EverestHparams(embed_dim=args.embed_dim, num_blocks=args.num_blocks, batch_size=args.batch_size)
    with tempfile.TemporaryDirectory() as tmp:
        tensors = _data(args.target, Path(tmp) / "cache")
        print(
            f"EVEREST {args.target}: {len(tensors[0])} train / {len(tensors[2])} val sequences of "
            f"{tensors[0].shape[1]} x {tensors[0].shape[2]}; embed_dim={hp.embed_dim} num_blocks={hp.num_blocks} "
            f"batch_size={hp.batch_size}; {torch.get_num_threads()} threads; torch {torch.__version__}, "
            f"lightning {L.__version__}"
        )
        plain_epoch_seconds(hp, tensors, 1, 0, Path(tmp) / "warm-up")  # one-off allocator and kernel set-up
        plain, lightning = [], []
        for r in range(args.repeats):  # interleaved, so drifts in machine load hit both alike
            plain.append(plain_epoch_seconds(hp, tensors, args.epochs, 0, Path(tmp) / f"p{r}"))
            lightning.append(lightning_epoch_seconds(hp, tensors, args.epochs, 0, Path(tmp) / f"l{r}"))
    for i, clock in enumerate(("wall", "CPU")):
        p, lt = min(run[i] for run in plain), min(run[i] for run in lightning)
        print(
            f"{clock} seconds per epoch (best of {args.repeats} x {args.epochs} epochs): plain PyTorch {p:.3f}, "
            f"Lightning {lt:.3f}, ratio {lt / p:.3f} (aim <= 1.10)"
        )
    print(f"  all runs (wall, CPU): plain {[tuple(round(v, 3) for v in r) for r in plain]}")
    print(f"                        Lightning {[tuple(round(v, 3) for v in r) for r in lightning]}")
    uncached, cached = data_prep_figures(args.target, args.threads)
    print(
        f"data prep per trial: uncached {uncached:.4f} s, cached {cached:.4f} s, ratio {cached / uncached:.3f} "
        "(aim <= 0.05)"
    )


if __name__ == "__main__":
    main()
