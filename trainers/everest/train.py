"""EVEREST training: ``setup()`` takes the command line's argument groups, ``main()`` prepares the data and
the model, and Lightning trains it."""

from __future__ import annotations

import torch

from hpoctl.trainers.common import lightning_loop
from hpoctl.trainers.common.args import RunArgs
from hpoctl.trainers.common.lightning_loop import EpochBatches
from hpoctl.trainers.common.runner import Trial, run_trial
from hpoctl.trainers.everest.config import SPEC, EverestDataArgs, EverestHparams
from hpoctl.trainers.everest.data import load_prepared, target_split
from hpoctl.trainers.everest.module import EverestModule


def setup(run: RunArgs, hparams: EverestHparams, data: EverestDataArgs) -> int:
    """Run one EVEREST trial; returns the process exit code (see ``ExitCode``)."""
    return run_trial(SPEC, run, hparams, data, main)


def main(trial: Trial) -> None:
    """Prepared data (cached) -> tensors and batches -> model -> fit."""
    run, hparams, data = trial.run, trial.hparams, trial.data
    assert isinstance(hparams, EverestHparams) and isinstance(data, EverestDataArgs) and run.target
    arrays = load_prepared(trial, run.data, data)
    x_train, y_train, x_val, y_val = (torch.from_numpy(a) for a in target_split(arrays, run.target))
    module = EverestModule(hparams, n_features=x_train.shape[2], seq_len=x_train.shape[1])
    train = EpochBatches((x_train, y_train), hparams.batch_size, shuffle=True, seed=run.seed)
    val = EpochBatches((x_val, y_val), data.eval_batch_size, shuffle=False)
    lightning_loop.fit(module, train, val, trial, data.max_train_batches)


__all__ = ["main", "setup"]
