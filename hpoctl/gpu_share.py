"""Several trials on one GPU: how many fit, which GPU a trial gets, and how the GPU is shared.

A small model leaves most of a GPU idle (EVEREST at the seed's sizes: about a tenth of an H200's time and 1 GB
of its memory), so a launch runs `resources.trials_per_gpu` trials on each GPU side by side. With `auto`, the
first trial runs alone on its GPU and reports its peak memory (`gpu_memory` in its metrics.json); the GPUs
then take as many trials as fit in their memory with a margin, at most MAX_TRIALS_PER_GPU. A trial that runs
out of GPU memory beside others is run again alone and its GPU takes one trial fewer from then on: its
configuration is not counted as failed.

Trials of different processes share a GPU by time-slicing, or through CUDA MPS where its control daemon runs
(CUDA_MPS_PIPE_DIRECTORY, else /tmp/nvidia-mps, holds its control pipe); the launch's first line says which.
"""

from __future__ import annotations

import math
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

MAX_TRIALS_PER_GPU = 8
"""The most trials `auto` puts on one GPU: past this, trials slow each other more than the GPU gains (the
aim in bench/bench_gpu.py: at most 15 % slower than alone)."""
MEMORY_MARGIN = 0.15
"""The share of a GPU's memory `auto` leaves free: allocator fragmentation and other processes' use."""
CONTEXT_BYTES = 512 * 2**20
"""What each process's CUDA context takes beyond the memory PyTorch reports as reserved."""

TrialsPerGpu = int | Literal["auto"]


def fitting_trials(peak_bytes: int, total_bytes: int, *, cap: int = MAX_TRIALS_PER_GPU) -> int:
    """How many trials of `peak_bytes` (PyTorch's peak reserved memory) fit on a GPU of `total_bytes`."""
    if peak_bytes <= 0 or total_bytes <= 0:
        return 1
    usable = total_bytes * (1 - MEMORY_MARGIN)
    return max(1, min(cap, math.floor(usable / (peak_bytes + CONTEXT_BYTES))))


def sharing_mode() -> str:
    """How trials of different processes share a GPU here: `MPS` where its control daemon runs, else
    `time-slicing`."""
    pipe = Path(os.environ.get("CUDA_MPS_PIPE_DIRECTORY") or "/tmp/nvidia-mps")
    return "MPS" if (pipe / "control").exists() else "time-slicing"


@dataclass(eq=False)
class _Gpu:
    id: str
    ceiling: int
    """The most trials this GPU takes whatever the memory says: the cap, lowered by each out-of-memory."""
    leases: list[Lease] = field(default_factory=list)

    @property
    def alone(self) -> bool:
        return any(lease.alone for lease in self.leases)


@dataclass(eq=False)
class Lease:
    """One trial's GPU (`id` is its CUDA_VISIBLE_DEVICES); `crowded` once another trial ran beside it."""

    gpu: _Gpu
    alone: bool
    crowded: bool = False

    @property
    def id(self) -> str:
        return self.gpu.id


class GpuLeases:
    """Which GPU each trial runs on. Each GPU takes up to its capacity of trials at once; a trial `alone` waits
    for an idle GPU and keeps it to itself (others wait while it waits, so that one becomes idle). `auto` starts
    every GPU at one trial and opens them up when a trial says how much memory it needed."""

    def __init__(self, gpu_ids: list[str], trials_per_gpu: TrialsPerGpu) -> None:
        self.auto = trials_per_gpu == "auto"
        self._most = MAX_TRIALS_PER_GPU if self.auto else int(trials_per_gpu)
        self._fit = 1 if self.auto else self._most
        self._gpus = [_Gpu(i, self._most) for i in gpu_ids]
        self._changed = threading.Condition()
        self._waiting_alone = 0
        self.sized_from: int | None = None
        """The peak memory (bytes) `auto` sized the GPUs from; None before a trial reported one."""

    @property
    def slots(self) -> int:
        """Trials that may ever run at once: the worker threads a launch needs."""
        return len(self._gpus) * self._most

    def capacities(self) -> list[int]:
        with self._changed:
            return [self._capacity(g) for g in self._gpus]

    def _capacity(self, gpu: _Gpu) -> int:
        return min(self._fit, gpu.ceiling)

    def acquire(self, *, alone: bool = False, stop: threading.Event | None = None) -> Lease | None:
        """A GPU for one trial, waiting for room; None when `stop` is set first."""
        with self._changed:
            self._waiting_alone += alone
            try:
                while not (stop is not None and stop.is_set()):
                    gpu = self._free(alone)
                    if gpu is not None:
                        return self._lease(gpu, alone)
                    self._changed.wait(0.5)
                return None
            finally:
                self._waiting_alone -= alone

    def release(self, lease: Lease) -> None:
        """Give the lease's place back (again: nothing)."""
        with self._changed:
            if lease in lease.gpu.leases:
                lease.gpu.leases.remove(lease)
                self._changed.notify_all()

    def measured(self, peak_bytes: int, total_bytes: int) -> None:
        """A trial's peak memory: with `auto`, the GPUs take as many trials as the largest peak seen allows."""
        if not self.auto:
            return
        with self._changed:
            if self.sized_from is None or peak_bytes > self.sized_from:
                self.sized_from = peak_bytes
                self._fit = fitting_trials(peak_bytes, total_bytes, cap=self._most)
                self._changed.notify_all()

    def crowded_out(self, lease: Lease) -> None:
        """A trial ran out of memory beside others: its GPU takes one trial fewer than it held from now on."""
        with self._changed:
            gpu = lease.gpu
            gpu.ceiling = max(1, min(self._capacity(gpu), len(gpu.leases)) - 1)

    def _lease(self, gpu: _Gpu, alone: bool) -> Lease:
        lease = Lease(gpu, alone)
        gpu.leases.append(lease)
        if len(gpu.leases) > 1:
            for held in gpu.leases:
                held.crowded = True
        return lease

    def _free(self, alone: bool) -> _Gpu | None:
        if alone:
            return next((g for g in self._gpus if not g.leases), None)
        if self._waiting_alone:
            return None
        open_ = [g for g in self._gpus if not g.alone and len(g.leases) < self._capacity(g)]
        return min(open_, key=lambda g: len(g.leases)) if open_ else None


def visible_gpu_ids() -> list[str]:
    """The NVIDIA GPUs this process may use, without importing torch: CUDA_VISIBLE_DEVICES when set, else the
    driver's device files (/dev/nvidia0, ...)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        ids = [i.strip() for i in visible.split(",") if i.strip()]
        return [] if ids and ids[0].startswith("-") else ids
    found = (p.name.removeprefix("nvidia") for p in Path("/dev").glob("nvidia[0-9]*"))
    return sorted((i for i in found if i.isdigit()), key=int)
