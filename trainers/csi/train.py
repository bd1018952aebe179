"""CSI training: ``setup()`` takes the command line's argument groups, ``main()`` prepares the images and the
model, and Lightning trains it until the last epoch or early stopping."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import torch

from hpoctl.trainers.common import lightning_loop
from hpoctl.trainers.common.args import RunArgs
from hpoctl.trainers.common.exit_codes import TrialStatus
from hpoctl.trainers.common.lightning_loop import EpochBatches
from hpoctl.trainers.common.report import Reporter
from hpoctl.trainers.common.runner import Trial, run_trial
from hpoctl.trainers.csi.config import SPEC, CsiDataArgs, CsiHparams, ignored_hyperparameters
from hpoctl.trainers.csi.data import TRAIN, VAL, load_prepared
from hpoctl.trainers.csi.module import CsiModule


class EarlyStoppingReporter(Reporter):
    """The trial's Reporter, adding ``early_stopped`` to metrics.json: null, or the module's record of why
    training ended before ``--epochs`` (the epoch, the best epoch and its val_f1, the patience)."""

    early_stopped: dict[str, Any] | None = None

    @classmethod
    def adopt(cls, reporter: Reporter) -> EarlyStoppingReporter:
        # The runner owns this instance and finishes it; only the summary is extended, so the class is switched.
        reporter.__class__ = cls
        assert isinstance(reporter, EarlyStoppingReporter)
        return reporter

    def summary(self, status: TrialStatus, reason: str | None) -> dict[str, Any]:
        return {**super().summary(status, reason), "early_stopped": self.early_stopped}


class TrainingBatches(EpochBatches):
    """Shuffled training batches, leaving out a last batch of a single image: batch norm needs two per batch."""

    def __len__(self) -> int:
        full, rest = divmod(self.num_samples, self.batch_size)
        return full + (rest > 1 or (full == 0 and rest > 0))

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        for batch in super().__iter__():
            if len(batch[0]) > 1 or self.num_samples == 1:
                yield batch


def setup(run: RunArgs, hparams: CsiHparams, data: CsiDataArgs) -> int:
    """Run one CSI trial; returns the process exit code (see ``ExitCode``)."""
    return run_trial(SPEC, run, hparams, data, main)


def main(trial: Trial) -> None:
    """Prepared images (cached) -> tensors and batches -> model -> fit."""
    run, hparams, data = trial.run, trial.hparams, trial.data
    assert isinstance(hparams, CsiHparams) and isinstance(data, CsiDataArgs)
    for name in ignored_hyperparameters(hparams):
        print(f"note: --{name} ignored: optimizer {hparams.optimizer} does not use it", file=sys.stderr)
    reporter = EarlyStoppingReporter.adopt(trial.reporter)
    arrays = load_prepared(trial, run.data, data)
    x, y, split = torch.from_numpy(arrays["images"]), torch.from_numpy(arrays["labels"]), arrays["split"]
    train_mask, val_mask = torch.from_numpy(split == TRAIN), torch.from_numpy(split == VAL)
    module = CsiModule(hparams, width=data.base_width)
    train = TrainingBatches((x[train_mask], y[train_mask]), hparams.batch_size, shuffle=True, seed=run.seed)
    val = EpochBatches((x[val_mask], y[val_mask]), data.eval_batch_size, shuffle=False)
    lightning_loop.fit(module, train, val, trial, data.max_train_batches)
    reporter.early_stopped = module.early_stopping.stopped


__all__ = ["EarlyStoppingReporter", "TrainingBatches", "main", "setup"]
