"""In-memory batches: moved to a device once, they yield the same batches in the same order; on the CPU nothing
moves, so CPU runs stay bit-identical."""

from __future__ import annotations

import torch

from hpoctl.trainers.common.lightning_loop import Device, EpochBatches, on_device


def _batches(seed: int) -> EpochBatches:
    x = torch.arange(50, dtype=torch.float32).reshape(25, 2)
    return EpochBatches((x, torch.arange(25)), batch_size=4, shuffle=True, seed=seed)


def test_moved_batches_keep_the_order_and_values():
    plain, moved = _batches(7), _batches(7).to("cpu")
    for _ in range(3):  # three epochs: each a fresh permutation from the same generator
        expected, got = list(plain), list(moved)
        assert len(expected) == len(got) == 7
        for a, b in zip(expected, got, strict=True):
            assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))
    assert moved.nbytes == 25 * 2 * 4 + 25 * 8


def test_on_the_cpu_nothing_moves():
    train, val = _batches(1), _batches(2)
    assert on_device(train, val, Device("cpu", "32-true")) == (train, val)
