"""MLP training: ``setup()`` takes the command line's argument groups, ``main()`` prepares the data and
the model, and Lightning trains it."""

from __future__ import annotations

import numpy as np
import torch

from hpoctl.trainers.common import lightning_loop
from hpoctl.trainers.common.args import RunArgs
from hpoctl.trainers.common.lightning_loop import EpochBatches
from hpoctl.trainers.common.runner import Trial, run_trial
from hpoctl.trainers.mlp.config import SPEC, MlpDataArgs, MlpHparams
from hpoctl.trainers.mlp.data import TRAIN, VAL, load_prepared
from hpoctl.trainers.mlp.module import MlpModule


def setup(run: RunArgs, hparams: MlpHparams, data: MlpDataArgs) -> int:
    """Run one MLP trial; returns the process exit code (see ``ExitCode``)."""
    return run_trial(SPEC, run, hparams, data, main)


def main(trial: Trial) -> None:
    """Prepared data (cached) -> tensors and batches -> model -> fit."""
    run, hparams, data = trial.run, trial.hparams, trial.data
    assert isinstance(hparams, MlpHparams) and isinstance(data, MlpDataArgs)
    arrays = load_prepared(trial, run.data, data)
    x, y, split = torch.from_numpy(arrays["X"]), torch.from_numpy(arrays["y"]), arrays["split"]
    train_mask, val_mask = torch.from_numpy(split == TRAIN), torch.from_numpy(split == VAL)
    module = MlpModule(hparams, n_features=x.shape[1], n_classes=len(np.asarray(arrays["classes"])))
    train = EpochBatches((x[train_mask], y[train_mask]), hparams.batch_size, shuffle=True, seed=run.seed)
    val = EpochBatches((x[val_mask], y[val_mask]), data.eval_batch_size, shuffle=False)
    lightning_loop.fit(module, train, val, trial, data.max_train_batches)


__all__ = ["main", "setup"]
