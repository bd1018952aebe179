"""Probabilistic load forecasting (seed study 001): NHITS_Q, TFT_Q and TIMESNET_Q quantile forecasters.

``python -m hpoctl.trainers.forecast --target NHITS_Q@heat --epochs 30 --seed 0 --walk-forward-steps=10
--num_stacks=3 --num_blocks=1 --layer_widths=512 --pooling_kernel_sizes=[8,4,2] --learning_rate=1e-3
--dropout=0.1 --batch_size=64``

Targets MODEL@DATASET (fixed arguments ``--model`` and ``--dataset``) for the models NHITS_Q, TFT_Q, TIMESNET_Q
and the hourly series heat, water_centrum, water_tommerby; only the chosen model's hyperparameters are accepted.
Each model forecasts the 10%, 50% and 90% quantiles of the next ``--horizon`` hours with the pinball loss.
Per epoch, from a ``--walk-forward-steps`` walk-forward over the validation period (the last
``--validation-days``): ``mae`` (of the median),
``picp`` (share of actuals inside the 10%-90% interval), ``picp_error`` (``|picp - 0.80|``), ``val_loss``
(pinball loss), ``train_loss``. The ``--data`` format and the synthetic series are described in
:mod:`hpoctl.trainers.forecast.data`, the networks in :mod:`hpoctl.trainers.forecast.model`.
"""

from hpoctl.trainers.forecast.config import (
    MODEL_HPARAMS,
    SPEC,
    TARGETS,
    ForecastDataArgs,
    ForecastHparams,
    NhitsHparams,
    TftHparams,
    TimesnetHparams,
)

__all__ = [
    "MODEL_HPARAMS",
    "SPEC",
    "TARGETS",
    "ForecastDataArgs",
    "ForecastHparams",
    "NhitsHparams",
    "TftHparams",
    "TimesnetHparams",
]
