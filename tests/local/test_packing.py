"""The local backend's default packing: trials side by side and threads per trial, for throughput."""

from __future__ import annotations

import pytest

from hpoctl.backends.local import Packing, available_cores, packing, visible_gpu_ids
from hpoctl.spec.study import DEFAULT_PARALLELISM


@pytest.mark.parametrize(
    ("machine", "trial", "expected"),
    [
        # CPU trials: as many side by side as cores, one thread each; limits.parallelism (default 4) caps them.
        ({"cores": 2, "gpus": 0}, {"trial_gpus": 0, "parallelism": DEFAULT_PARALLELISM}, (2, 1, None)),
        ({"cores": 16, "gpus": 0}, {"trial_gpus": 0, "parallelism": DEFAULT_PARALLELISM}, (4, 4, None)),
        ({"cores": 16, "gpus": 0}, {"trial_gpus": 0, "parallelism": 16}, (16, 1, None)),
        ({"cores": 16, "gpus": 0}, {"trial_gpus": 0, "parallelism": 4}, (4, 4, None)),
        ({"cores": 2, "gpus": 0}, {"trial_gpus": 0, "parallelism": 1}, (1, 2, None)),
        ({"cores": 2, "gpus": 0}, {"trial_gpus": 0, "parallelism": 8}, (2, 1, None)),
        # A trial asking for a GPU on a machine without one runs on the CPU, packed like a CPU trial.
        ({"cores": 2, "gpus": 0}, {"trial_gpus": 1, "parallelism": 4}, (2, 1, None)),
        # GPU trials: one per GPU (each its own), the cores shared out.
        ({"cores": 16, "gpus": 1}, {"trial_gpus": 1, "parallelism": 4}, (1, 16, ["0"])),
        ({"cores": 16, "gpus": 4}, {"trial_gpus": 1, "parallelism": DEFAULT_PARALLELISM}, (4, 4, ["0", "1", "2", "3"])),
        ({"cores": 16, "gpus": 4}, {"trial_gpus": 1, "parallelism": 2}, (2, 8, ["0", "1"])),
        ({"cores": 16, "gpus": 4}, {"trial_gpus": 2, "parallelism": DEFAULT_PARALLELISM}, (2, 8, ["0,1", "2,3"])),
    ],
)
def test_default_packing(machine, trial, expected):
    pack = packing(**machine, **trial)
    assert (pack.n_jobs, pack.threads, pack.devices) == expected


def test_flags_override_the_default():
    assert (packing(cores=2, gpus=0, trial_gpus=0, parallelism=DEFAULT_PARALLELISM, n_jobs=1).n_jobs, 2) == (1, 2)
    pack = packing(cores=2, gpus=0, trial_gpus=0, parallelism=DEFAULT_PARALLELISM, n_jobs=1, threads=1)
    assert (pack.n_jobs, pack.threads) == (1, 1)
    pack = packing(cores=16, gpus=2, trial_gpus=1, parallelism=DEFAULT_PARALLELISM, n_jobs=4)
    assert pack.devices == ["0", "1", "0", "1"]  # more trials than GPUs, when asked: they share
    pack = packing(cores=8, gpus=2, trial_gpus=1, parallelism=DEFAULT_PARALLELISM, gpu_ids=["GPU-a", "GPU-b"])
    assert pack.devices == ["GPU-a", "GPU-b"]


def test_describe_says_what_was_chosen_and_why():
    text = packing(cores=2, gpus=0, trial_gpus=0, parallelism=DEFAULT_PARALLELISM).describe()
    assert text == "2 trials side by side, 1 thread each (2 cores, CPU trials)"
    assert isinstance(packing(cores=2, gpus=0, trial_gpus=0, parallelism=DEFAULT_PARALLELISM), Packing)


def test_visible_gpus_follow_cuda_visible_devices(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1,3")
    assert visible_gpu_ids() == ["1", "3"]
    for hidden in ("", "-1"):
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", hidden)
        assert visible_gpu_ids() == []


def test_a_launch_says_how_it_packs(write_spec, tmp_path, cli, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    spec = write_spec(protocol=[{"name": "explore", "trials": 2, "epochs": 1}], limits={"max_failed_trials": 2})
    result = cli("launch", spec, "-t", "small", "--results", str(tmp_path / "results"))
    assert result.code == 0, result.err
    cores = available_cores()
    assert f"toy/small: {cores} trials side by side, 1 thread each ({cores} cores, CPU trials)" in result.err
