"""Forecast training: ``setup()`` takes the command line's argument groups and keeps only ``--model``'s
hyperparameters, ``main()`` prepares the series and the model, and Lightning trains it.

torch is imported inside ``main()``: ``setup()`` answers another model's hyperparameter (exit 2) without it.
"""

from __future__ import annotations

import sys

from hpoctl.trainers.common.args import RunArgs
from hpoctl.trainers.common.errors import UsageError
from hpoctl.trainers.common.exit_codes import ExitCode
from hpoctl.trainers.common.runner import Trial, run_trial
from hpoctl.trainers.forecast.config import FIXED_BATCH_SIZE, SPEC, ForecastDataArgs, ForecastHparams, select_hparams


def setup(run: RunArgs, hparams: ForecastHparams, data: ForecastDataArgs) -> int:
    """Run one forecast trial; returns the process exit code (see ``ExitCode``)."""
    assert data.model is not None
    try:
        chosen = select_hparams(data.model, hparams)
    except UsageError as e:
        print(f"{SPEC.prog}: error: {e}", file=sys.stderr, flush=True)
        return ExitCode.USAGE
    return run_trial(SPEC, run, chosen, data, main)


def main(trial: Trial) -> None:
    """Prepared series (cached) -> training origins and walk-forward origins -> model -> fit."""
    import torch

    from hpoctl.trainers.common import lightning_loop
    from hpoctl.trainers.common.lightning_loop import EpochBatches
    from hpoctl.trainers.forecast.data import load_prepared, training_origins, validation_start, walk_forward_windows
    from hpoctl.trainers.forecast.module import ForecastModule

    run, hparams, data = trial.run, trial.hparams, trial.data
    assert isinstance(data, ForecastDataArgs) and data.model is not None
    arrays = load_prepared(trial, run.data, data)
    n = len(arrays["value"])
    period = 24 * data.validation_days
    train_origins = torch.from_numpy(training_origins(validation_start(n, period), data.input_size, data.horizon))
    windows = walk_forward_windows(n, data.input_size, data.horizon, data.walk_forward_steps, period)
    val_origins = torch.tensor([window.origin for window in windows])
    mean, std = (float(v) for v in arrays["scale"])
    module = ForecastModule(
        data.model, hparams, torch.from_numpy(arrays["inputs"]), (mean, std), data.input_size, data.horizon
    )
    batch_size = getattr(hparams, "batch_size", FIXED_BATCH_SIZE)
    train = EpochBatches((train_origins,), batch_size, shuffle=True, seed=run.seed)
    val = EpochBatches((val_origins,), len(val_origins), shuffle=False)
    lightning_loop.fit(module, train, val, trial, data.max_train_batches)


__all__ = ["main", "setup"]
