"""The forecast trainer's command line: one hyperparameter group per model (seed study 001), data and target
arguments, targets, and the check that only the chosen model's hyperparameters were given.

Importable without torch: ``--help`` and usage errors are answered from here.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from hpoctl.trainers.common.args import ARG_MODEL_CONFIG, RunArgs
from hpoctl.trainers.common.errors import UsageError
from hpoctl.trainers.common.spec import TrainerSpec
from hpoctl.trainers.common.targets import TargetFields
from hpoctl.trainers.common.targets import resolve_target as resolve_common

MODELS = ("NHITS_Q", "TFT_Q", "TIMESNET_Q")
DATASETS = ("heat", "water_centrum", "water_tommerby")
DATASET_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
TARGETS = tuple(f"{model}@{dataset}" for model in MODELS for dataset in DATASETS)
DEFAULT_TARGET = "NHITS_Q@heat"
QUANTILES = (0.1, 0.5, 0.9)
"""The forecast quantiles: the median and the bounds of the 10%-90% interval."""
NOMINAL_COVERAGE = QUANTILES[2] - QUANTILES[0]
"""0.80: the share of actuals the interval should hold; ``picp_error`` is the distance to it."""
FIXED_BATCH_SIZE = 64
"""Training batch size of TFT_Q and TIMESNET_Q, which the seed study does not search."""
FIXED_DROPOUT = 0.1
"""Dropout of TIMESNET_Q, which the seed study does not search."""


def _kernel_list(value: Any) -> Any:
    if isinstance(value, str) and value.replace(",", "").replace(" ", "").isdigit():
        return [int(part) for part in value.split(",")]
    if isinstance(value, int) and not isinstance(value, bool):
        return [value]
    return value


def _positive_kernels(value: list[int] | None) -> list[int] | None:
    if value is not None and (not value or any(k < 1 for k in value)):
        raise ValueError(f"need one or more kernel sizes >= 1, got {value}")
    return value


class NhitsHparams(BaseModel):
    """NHITS_Q hyperparameters; names, defaults and search ranges as in seed study 001."""

    model_config = ARG_MODEL_CONFIG

    num_stacks: int = Field(3, ge=1)
    """Stacks of blocks, each at its own input pooling and output rate (search space: int 2..5)."""
    num_blocks: int = Field(1, ge=1)
    """Blocks per stack (search space: int 1..3)."""
    layer_widths: int = Field(512, ge=1)
    """Width of each block's two hidden layers (search space: categorical 256, 512, 1024)."""
    pooling_kernel_sizes: list[int] = Field(default_factory=lambda: [8, 4, 2])
    """Max-pooling kernel per stack, as JSON, cycled over the stacks; also the stack's forecast knot spacing
    (search space: [2,2,2], [4,4,4], [8,8,8], [8,4,2], [2,4,8])."""
    learning_rate: float = Field(1e-3, gt=0.0)
    """Adam learning rate (search space: log-float 1e-5..1e-2)."""
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    """Dropout after each hidden layer (search space: float 0..0.3)."""
    batch_size: int = Field(64, ge=1)
    """Training batch size in windows (search space: categorical 32, 64, 128)."""

    _kernels = field_validator("pooling_kernel_sizes", mode="before")(_kernel_list)
    _positive = field_validator("pooling_kernel_sizes")(_positive_kernels)


class TftHparams(BaseModel):
    """TFT_Q hyperparameters; names, defaults and search ranges as in seed study 001."""

    model_config = ARG_MODEL_CONFIG

    hidden_size: int = Field(64, ge=1)
    """Width of the embeddings, LSTMs, attention and gated layers (search space: categorical 32..256)."""
    lstm_layers: int = Field(1, ge=1)
    """Layers of the LSTM encoder and decoder (search space: int 1..3)."""
    attention_heads: int = Field(4, ge=1)
    """Heads of the multi-head attention; must divide hidden_size (search space: categorical 2, 4, 8)."""
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    """Dropout in the gated layers, between LSTM layers and on the attention (search space: float 0..0.3)."""
    learning_rate: float = Field(1e-3, gt=0.0)
    """Adam learning rate (search space: log-float 1e-5..1e-3)."""

    @model_validator(mode="after")
    def _heads_divide_width(self) -> TftHparams:
        if self.hidden_size % self.attention_heads:
            raise ValueError(f"attention_heads={self.attention_heads} must divide hidden_size={self.hidden_size}")
        return self


class TimesnetHparams(BaseModel):
    """TIMESNET_Q hyperparameters; names, defaults and search ranges as in seed study 001."""

    model_config = ARG_MODEL_CONFIG

    hidden_size: int = Field(64, ge=1)
    """Channels of the embedded series (TimesNet's d_model; search space: categorical 64, 128, 256)."""
    conv_hidden_size: int = Field(64, ge=1)
    """Channels inside each block's 2-D convolutions (TimesNet's d_ff; search space: categorical 32, 64, 128)."""
    num_kernels: int = Field(6, ge=1)
    """Kernels of the inception convolutions, sizes 1, 3, ..., 2*num_kernels-1 (search space: int 3..6)."""
    top_k: int = Field(3, ge=1)
    """Periods kept from the FFT amplitude spectrum, each folded into 2-D (search space: int 2..5)."""
    learning_rate: float = Field(1e-3, gt=0.0)
    """Adam learning rate (search space: log-float 1e-5..1e-3)."""


MODEL_HPARAMS: dict[str, type[BaseModel]] = {
    "NHITS_Q": NhitsHparams,
    "TFT_Q": TftHparams,
    "TIMESNET_Q": TimesnetHparams,
}


class ForecastHparams(BaseModel):
    """Every model's hyperparameters in one command line; ``--model`` decides which ones apply.

    Each field defaults to None: the chosen model's own default (see :data:`MODEL_HPARAMS`) fills it in, and a
    value given for a hyperparameter the chosen model does not have is a usage error.
    """

    model_config = ARG_MODEL_CONFIG

    num_stacks: int | None = Field(None, ge=1)
    """NHITS_Q: stacks of blocks (default 3; search space int 2..5)."""
    num_blocks: int | None = Field(None, ge=1)
    """NHITS_Q: blocks per stack (default 1; search space int 1..3)."""
    layer_widths: int | None = Field(None, ge=1)
    """NHITS_Q: width of the blocks' hidden layers (default 512; search space 256, 512, 1024)."""
    pooling_kernel_sizes: list[int] | None = None
    """NHITS_Q: max-pooling kernel per stack as JSON, cycled over the stacks (default [8,4,2])."""
    batch_size: int | None = Field(None, ge=1)
    """NHITS_Q: training batch size (default 64; search space 32, 64, 128); the others train with 64."""
    hidden_size: int | None = Field(None, ge=1)
    """TFT_Q and TIMESNET_Q: model width (default 64; search spaces 32..256 and 64..256)."""
    lstm_layers: int | None = Field(None, ge=1)
    """TFT_Q: LSTM layers (default 1; search space int 1..3)."""
    attention_heads: int | None = Field(None, ge=1)
    """TFT_Q: attention heads, dividing hidden_size (default 4; search space 2, 4, 8)."""
    conv_hidden_size: int | None = Field(None, ge=1)
    """TIMESNET_Q: channels inside the 2-D convolutions (default 64; search space 32, 64, 128)."""
    num_kernels: int | None = Field(None, ge=1)
    """TIMESNET_Q: inception kernels per convolution (default 6; search space int 3..6)."""
    top_k: int | None = Field(None, ge=1)
    """TIMESNET_Q: periods kept from the FFT (default 3; search space int 2..5)."""
    dropout: float | None = Field(None, ge=0.0, lt=1.0)
    """NHITS_Q and TFT_Q: dropout (default 0.1; search space float 0..0.3); TIMESNET_Q uses 0.1."""
    learning_rate: float | None = Field(None, gt=0.0)
    """Every model: Adam learning rate (default 1e-3; search space log 1e-5..1e-2 NHITS_Q, 1e-5..1e-3 others)."""

    _kernels = field_validator("pooling_kernel_sizes", mode="before")(_kernel_list)
    _positive = field_validator("pooling_kernel_sizes")(_positive_kernels)


def select_hparams(model: str, given: BaseModel) -> BaseModel:
    """The chosen model's hyperparameters from the command line's; another model's hyperparameter is an error."""
    assert isinstance(given, ForecastHparams) and model in MODEL_HPARAMS
    chosen = MODEL_HPARAMS[model]
    foreign = sorted(name for name in given.model_fields_set if name not in chosen.model_fields)
    if foreign:
        flags = ", ".join(f"--{name}" for name in foreign)
        allowed = ", ".join(f"--{name}" for name in chosen.model_fields)
        raise UsageError(f"{flags}: not a hyperparameter of {model} (its hyperparameters: {allowed})")
    try:
        return chosen.model_validate({name: getattr(given, name) for name in given.model_fields_set})
    except ValidationError as e:
        problems = [str(item["msg"]).removeprefix("Value error, ") for item in e.errors(include_url=False)]
        raise UsageError(f"{model}: {'; '.join(problems)}") from None


class ForecastDataArgs(BaseModel):
    """Target arguments (fixed per target), the validation scheme and data sizing arguments."""

    model_config = ARG_MODEL_CONFIG

    model: Literal["NHITS_Q", "TFT_Q", "TIMESNET_Q"] | None = None
    """Forecasting model (fixed by --target)."""
    dataset: Annotated[str, Field(pattern=DATASET_NAME)] | None = None
    """Hourly series (fixed by --target): synthetic heat, water_centrum or water_tommerby, or with --data any
    name, the file DATA/<dataset>.csv or .parquet."""
    walk_forward_steps: int = Field(10, ge=1)
    """Validation: forecasts from this many origins evenly spaced over the validation period, in order, each
    from the INPUT_SIZE hours before it, the model not retrained."""
    validation_days: int = Field(28, ge=1)
    """The validation period: the last VALIDATION_DAYS days of the series (at least WALK_FORWARD_STEPS x
    HORIZON hours); training windows end before it."""
    horizon: int = Field(24, ge=1)
    """Hours forecast from each origin."""
    input_size: int = Field(168, ge=8)
    """Hours of history each forecast sees (a week: the weekly cycle)."""
    n_days: int = Field(365, ge=21)
    """Synthetic data only: length of the series in days."""
    data_seed: int = Field(0, ge=0)
    """Synthetic data only: seed of the generator (the same series for every trial, whatever --seed)."""
    max_train_batches: int = Field(0, ge=0)
    """Train on at most this many batches per epoch (0: every training window once)."""


SYNTHETIC_ONLY = ("n_days", "data_seed")
TARGET_FIELDS = TargetFields(
    names=("model", "dataset"),
    default=DEFAULT_TARGET,
    compose=lambda model, dataset: f"{model}@{dataset}",
    parse=lambda target: tuple(target.split("@")),
)


def resolve_target(run: RunArgs, data: BaseModel) -> tuple[str, BaseModel]:
    """``TFT_Q@heat`` -> ``--model TFT_Q --dataset heat``; given fixed arguments must agree with the target."""
    assert isinstance(data, ForecastDataArgs)
    target, data = resolve_common(run, data, synthetic_only=SYNTHETIC_ONLY, fields=TARGET_FIELDS)
    if run.data is None and data.dataset not in DATASETS:
        raise UsageError(
            f"--dataset={data.dataset}: the synthetic series are {', '.join(DATASETS)}; give --data with "
            f"{data.dataset}.csv or .parquet for a series of your own"
        )
    if 24 * data.validation_days < data.walk_forward_steps * data.horizon:
        raise UsageError(
            f"--validation-days={data.validation_days} cannot hold --walk-forward-steps={data.walk_forward_steps} "
            f"forecasts of --horizon={data.horizon} hours"
        )
    return target, data


SPEC = TrainerSpec(
    name="forecast",
    description=(
        "Probabilistic hourly load forecasting (seed study 001): NHITS_Q, TFT_Q or TIMESNET_Q forecast the 10%, "
        "50% and 90% quantiles, trained with the pinball loss and validated by a walk-forward over the last days.\n"
        f"Targets: MODEL@DATASET, {', '.join(TARGETS)}. Only --model's hyperparameters are accepted.\n"
        "Objectives: minimise mae (of the median forecast); picp (actuals inside the 10%-90% interval) closest to "
        "0.80, i.e. minimise picp_error."
    ),
    hparams=ForecastHparams,
    data_args=ForecastDataArgs,
    data_format=(
        "  An hourly series as CSV or Parquet: timestamp (ISO 8601), value, and any numeric covariate columns (known\n"
        "  in advance, like a weather forecast). A folder means DIR/<dataset>.csv or .parquet, the dataset named by\n"
        "  the target (MODEL@dataset: any name with --data, e.g. NHITS_Q@my_site).\n"
    ),
    targets=TARGETS,
    target_pattern=rf"({'|'.join(MODELS)})@{DATASET_NAME[1:-1]}",
    target_fields=("model", "dataset"),
    resolve_target=resolve_target,
    metrics=("mae", "picp", "picp_error", "val_loss", "train_loss"),
    primary_metric="mae",
    direction="minimize",
    entry_point="hpoctl.trainers.forecast.train:setup",
)

__all__ = [
    "DATASETS",
    "MODELS",
    "MODEL_HPARAMS",
    "QUANTILES",
    "SPEC",
    "TARGETS",
    "ForecastDataArgs",
    "ForecastHparams",
    "NhitsHparams",
    "TftHparams",
    "TimesnetHparams",
    "resolve_target",
    "select_hparams",
]
