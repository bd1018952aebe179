"""Transfer training: ``setup()`` takes the command line's argument groups, ``main()`` prepares both sets, trains
stage 1 with Lightning, then cross-validates stage 2 and reports the final line."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import torch

from hpoctl.trainers.common import lightning_loop
from hpoctl.trainers.common.args import RunArgs
from hpoctl.trainers.common.exit_codes import TrialStatus
from hpoctl.trainers.common.lightning_loop import EpochBatches
from hpoctl.trainers.common.report import Reporter
from hpoctl.trainers.common.runner import Trial, run_trial
from hpoctl.trainers.transfer.config import FINAL_METRICS, SPEC, STAGE1_METRICS, TransferDataArgs, TransferHparams
from hpoctl.trainers.transfer.data import TRAIN, VAL, load_prepared
from hpoctl.trainers.transfer.module import Stage1Module
from hpoctl.trainers.transfer.stage2 import cross_validate, final_metrics


class StagedReporter(Reporter):
    """The trial's Reporter for a trial in stages: a line holds the current stage's metrics (stage-1 epochs:
    :data:`STAGE1_METRICS`; the last line: :data:`FINAL_METRICS`). In metrics.json, ``best`` is the entry with
    the best ``objective`` (the last one, null until it is there), ``epochs_completed`` counts stage-1 epochs
    and ``train_seconds`` includes stage 2."""

    stage_metrics: tuple[str, ...] = STAGE1_METRICS

    @classmethod
    def adopt(cls, reporter: Reporter) -> StagedReporter:
        # The runner owns this instance and finishes it; only what an entry holds changes, so the class is switched.
        reporter.__class__ = cls
        assert isinstance(reporter, StagedReporter)
        return reporter

    def epoch_end(self, epoch: int, metrics: Mapping[str, float]) -> None:
        every = self.spec
        self.spec = dataclasses.replace(every, metrics=self.stage_metrics)
        try:
            super().epoch_end(epoch, metrics)
        finally:
            self.spec = every

    def training_stopped(self) -> None:
        """Training ends with stage 2, not when Lightning's stage 1 does."""
        if self.stage_metrics == FINAL_METRICS:
            super().training_stopped()

    def summary(self, status: TrialStatus, reason: str | None) -> dict[str, Any]:
        summary = super().summary(status, reason)
        summary["epochs_completed"] = len({entry["epoch"] for entry in self.history})  # the last line adds none
        return summary

    def best(self) -> dict[str, float | int] | None:
        primary = self.spec.primary_metric
        best = None
        for entry in self.history:
            if primary in entry and (best is None or self.spec.is_better(entry[primary], best[primary])):
                best = entry
        return best


def setup(run: RunArgs, hparams: TransferHparams, data: TransferDataArgs) -> int:
    """Run one transfer trial; returns the process exit code (see ``ExitCode``)."""
    return run_trial(SPEC, run, hparams, data, main)


def main(trial: Trial) -> None:
    """Prepared sets (cached) -> stage 1 (one line per epoch) -> stage-2 cross-validation -> the final line."""
    run, hparams, data = trial.run, trial.hparams, trial.data
    assert isinstance(hparams, TransferHparams) and isinstance(data, TransferDataArgs)
    reporter = StagedReporter.adopt(trial.reporter)
    arrays = load_prepared(trial, run.data, data)
    x, chi, split = torch.from_numpy(arrays["dft_x"]), torch.from_numpy(arrays["dft_chi"]), arrays["dft_split"]
    train_mask, val_mask = torch.from_numpy(split == TRAIN), torch.from_numpy(split == VAL)
    module = Stage1Module(hparams, n_features=x.shape[1])
    train = EpochBatches((x[train_mask], chi[train_mask]), data.batch_size, shuffle=True, seed=run.seed)
    val = EpochBatches((x[val_mask], chi[val_mask]), data.eval_batch_size, shuffle=False)
    lightning_loop.fit(module, train, val, trial, data.max_train_batches)

    device = torch.device("cuda" if trial.device.accelerator == "gpu" else "cpu")
    experimental = tuple(torch.from_numpy(arrays[k]).to(device) for k in ("exp_x", "exp_chi", "exp_soluble"))
    stage2 = cross_validate(module.net.to(device), experimental, hparams, data, seed=run.seed)  # type: ignore[arg-type]
    reporter.stage_metrics = FINAL_METRICS
    reporter.epoch_end(run.epochs, final_metrics(float(reporter.history[-1]["stage1_mae"]), stage2))


__all__ = ["StagedReporter", "main", "setup"]
