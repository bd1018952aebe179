"""Several trials on one GPU (hpoctl.gpu_share): how many fit, the leases, and whole launches on a GPU stood in for
by the toy trainer (tests/local/toy_trainer.py, TOY_GPU_DIR): `auto` sizing from the first trial's memory, a trial
out of memory beside others run again alone, and SIGTERM to one of several trials sharing a GPU."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import optuna
import pytest
import yaml

from hpoctl import trial_record as rec
from hpoctl.backends.local import packing
from hpoctl.gpu_share import MAX_TRIALS_PER_GPU, GpuLeases, fitting_trials, sharing_mode
from tests.local.conftest import toy_spec

GIB = 2**30


def test_how_many_trials_fit():
    assert fitting_trials(1 * GIB, 8 * GIB) == 4  # 6.8 GiB usable, 1.5 GiB a trial with its CUDA context
    assert fitting_trials(1 * GIB, 141 * GIB) == MAX_TRIALS_PER_GPU
    assert fitting_trials(10 * GIB, 8 * GIB) == 1
    assert fitting_trials(0, 8 * GIB) == 1


def test_auto_starts_alone_and_opens_up_when_a_trial_reports_its_memory():
    leases = GpuLeases(["0"], "auto")
    assert (leases.slots, leases.capacities()) == (MAX_TRIALS_PER_GPU, [1])
    first = leases.acquire()
    stop = threading.Event()
    stop.set()
    assert leases.acquire(stop=stop) is None  # full: one trial until a measurement
    leases.measured(1 * GIB, 8 * GIB)
    others = [leases.acquire() for _ in range(3)]
    assert leases.capacities() == [4] and all(lease.crowded for lease in [first, *others])
    leases.crowded_out(others[-1])
    assert leases.capacities() == [3]
    leases.measured(512 * 2**20, 8 * GIB)  # a smaller peak does not undo what a larger one showed
    assert leases.sized_from == 1 * GIB


def test_a_trial_alone_waits_for_an_idle_gpu_and_keeps_it():
    leases = GpuLeases(["0", "1"], 2)
    busy = [leases.acquire(), leases.acquire()]
    assert {lease.id for lease in busy} == {"0", "1"}  # spread out first
    alone = leases.acquire(alone=True, stop=_stopped())
    assert alone is None
    leases.release(busy[1])
    alone = leases.acquire(alone=True)
    assert alone.id == busy[1].id and not alone.crowded
    other = leases.acquire()
    assert other.id == busy[0].id  # not beside the trial alone


def _stopped() -> threading.Event:
    event = threading.Event()
    event.set()
    return event


def test_the_sharing_mode_follows_an_mps_daemon(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_MPS_PIPE_DIRECTORY", str(tmp_path))
    assert sharing_mode() == "time-slicing"
    (tmp_path / "control").touch()
    assert sharing_mode() == "MPS"


def test_packing_shares_gpus_between_one_gpu_trials():
    pack = packing(cores=16, gpus=1, trial_gpus=1, parallelism=4, trials_per_gpu="auto")
    assert (pack.n_jobs, pack.threads, pack.devices, pack.shared_gpus) == (4, 4, None, ["0"])
    assert pack.describe().startswith("up to 4 trials side by side, 4 threads each, on GPUs 0 (trials per GPU auto")
    pack = packing(cores=16, gpus=2, trial_gpus=1, parallelism=16, trials_per_gpu=3)
    assert (pack.n_jobs, pack.gpu_leases().capacities()) == (6, [3, 3])
    pack = packing(cores=16, gpus=4, trial_gpus=2, parallelism=4, trials_per_gpu="auto")
    assert (pack.shared_gpus, pack.devices) == (None, ["0,1", "2,3"])  # a trial of two GPUs has them to itself


def gpu_spec(tmp_path: Path, trials_per_gpu, trials: int) -> Path:
    spec = toy_spec(
        targets={"small": {"args": {"size": 1}}},
        protocol=[{"name": "explore", "trials": trials, "epochs": 3}],
        resources={"gpu": 1, "trials_per_gpu": trials_per_gpu},
        limits={"parallelism": 4, "max_failed_trials": 20},
    )
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def gpu_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "CUDA_VISIBLE_DEVICES": "0", "TOY_GPU_DIR": str(tmp_path / "gpu"), **extra}


def launch(spec: Path, results: Path, env: dict[str, str]) -> subprocess.Popen:
    command = [sys.executable, "-m", "hpoctl", "launch", str(spec), "-t", "small", "--results", str(results)]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def trials_of(results: Path) -> list[optuna.trial.FrozenTrial]:
    storage = f"sqlite:///{results / 'toy' / 'small' / 'study.db'}"
    return optuna.load_study(study_name=None, storage=storage).get_trials()


def test_auto_packs_by_the_first_trials_memory_and_runs_a_crowded_out_trial_again_alone(tmp_path):
    env = gpu_env(tmp_path, TOY_GPU_FITS="3", TOY_GPU_PEAK=str(1 * GIB), TOY_EPOCH_SLEEP="0.5")
    proc = launch(gpu_spec(tmp_path, "auto", 8), tmp_path / "results", env)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert "trials per GPU auto" in err
    together = [int(n) for n in (tmp_path / "gpu" / "0.together").read_text().split()]
    assert together[0] == 1 and max(together) == 4  # alone until measured, then the 4 that 1 GiB allows
    trials = trials_of(tmp_path / "results")
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    crowded = [t for t in trials if t.state == optuna.trial.TrialState.FAIL]
    assert len(complete) == 8 and crowded, [(t.number, t.state, t.user_attrs.get(rec.FAILURE)) for t in trials]
    for trial in crowded:  # not a failed configuration: interrupted, and run again alone
        assert trial.user_attrs[rec.INTERRUPTED] and "beside other trials" in trial.user_attrs[rec.FAILURE]
        again = [t for t in complete if t.user_attrs.get(rec.RUN_ALONE) and t.params == trial.params]
        assert again, f"trial {trial.number}'s configuration was not run again alone"
    assert all(t.user_attrs.get(rec.GPU_MEMORY) == 1 * GIB for t in complete)


def test_sigterm_to_one_of_several_trials_on_a_gpu_leaves_the_others_running(tmp_path):
    env = gpu_env(tmp_path, TOY_EPOCH_SLEEP="1.0")
    proc = launch(gpu_spec(tmp_path, 3, 6), tmp_path / "results", env)
    gpu = tmp_path / "gpu" / "0"
    deadline = time.monotonic() + 120
    while not (gpu.is_dir() and len(list(gpu.iterdir())) == 3) and time.monotonic() < deadline:
        time.sleep(0.1)
    victim = int(sorted(gpu.iterdir())[1].name.split("-")[1])
    os.kill(victim, signal.SIGTERM)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    trials = trials_of(tmp_path / "results")
    failed = [t for t in trials if t.state == optuna.trial.TrialState.FAIL]
    assert len(failed) == 1 and "SIGTERM" in failed[0].user_attrs[rec.FAILURE]
    assert len([t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]) == 5
    assert max(int(n) for n in (tmp_path / "gpu" / "0.together").read_text().split()) == 3


@pytest.mark.parametrize("bad", [0, 65, "many"])
def test_trials_per_gpu_is_checked(bad, tmp_path, cli):
    result = cli("validate", str(gpu_spec(tmp_path, bad, 4)))
    assert result.code == 1 and "resources.trials_per_gpu" in result.err
