"""MLP's command line: hyperparameters (seed study 003) and data arguments. Importable without torch."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, field_validator

from hpoctl.trainers.common.args import ARG_MODEL_CONFIG, RunArgs
from hpoctl.trainers.common.errors import UsageError
from hpoctl.trainers.common.spec import TrainerSpec
from hpoctl.trainers.common.targets import resolve_target as resolve_common

TARGETS = ("default",)


class MlpHparams(BaseModel):
    """MLP hyperparameters; names, defaults and search ranges as in the seed study (003)."""

    model_config = ARG_MODEL_CONFIG

    lr: float = Field(1e-3, gt=0.0)
    """AdamW learning rate (search space: log-uniform 1e-4..1e-2)."""
    hidden_sizes: list[int] = Field(default_factory=lambda: [128, 128])
    """Widths of the hidden layers, as JSON (search space: categorical [64,64], [128,128], [256,256])."""
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    """Dropout after each hidden layer; the seed's dropout_rate (search space: uniform 0..0.5)."""
    batch_size: int = Field(128, ge=1)
    """Training batch size (not searched in the seed study)."""

    @field_validator("hidden_sizes", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str) and value.replace(",", "").replace(" ", "").isdigit():
            return [int(part) for part in value.split(",")]
        if isinstance(value, int) and not isinstance(value, bool):
            return [value]
        return value

    @field_validator("hidden_sizes")
    @classmethod
    def _positive_widths(cls, value: list[int]) -> list[int]:
        if any(width < 1 for width in value):
            raise ValueError(f"every width must be >= 1, got {value}")
        return value


class MlpDataArgs(BaseModel):
    """Data arguments: synthetic data sizing, or how to read --data."""

    model_config = ARG_MODEL_CONFIG

    n_samples: int = Field(4000, ge=50)
    """Synthetic data only: number of samples (80% train, 20% validation)."""
    n_features: int = Field(20, ge=2)
    """Synthetic data only: number of features (8 informative, 4 redundant, the rest noise)."""
    n_classes: int = Field(3, ge=2)
    """Synthetic data only: number of classes."""
    data_seed: int = Field(0, ge=0)
    """Seed of the synthetic generator, or of the 80/20 split of --data without a split (not --seed)."""
    label_column: str = "label"
    """--data CSV only: the column holding the class label."""
    max_train_batches: int = Field(0, ge=0)
    """Train on at most this many batches per epoch (0: all)."""
    eval_batch_size: int = Field(4096, ge=1)
    """Batch size for the validation pass (memory only; does not change the metrics)."""


SYNTHETIC_ONLY = ("n_samples", "n_features", "n_classes")


def resolve_target(run: RunArgs, data: BaseModel) -> tuple[str, BaseModel]:
    """One target, ``default``; synthetic sizing arguments conflict with ``--data``."""
    assert isinstance(data, MlpDataArgs)
    target, data = resolve_common(run, data, synthetic_only=SYNTHETIC_ONLY)
    if run.data is None and "label_column" in data.model_fields_set:
        raise UsageError("--label-column only applies to a --data CSV file")
    return target, data


SPEC = TrainerSpec(
    name="mlp",
    description=(
        "MLP classifier on tabular data (seed study 003): synthetic by default, or a CSV/NPZ via --data.\n"
        "Target: default. Minimise validation_error (1 - validation accuracy)."
    ),
    hparams=MlpHparams,
    data_args=MlpDataArgs,
    data_format=(
        "  Tabular CSV with a header: the label column (--label-column, default label), optional split (train/val or\n"
        "  0/1), every other column a numeric feature. Or NPZ: X [N, F], y [N], optional split [N].\n"
    ),
    targets=TARGETS,
    target_fields=(),
    resolve_target=resolve_target,
    metrics=("validation_error", "val_loss", "train_loss"),
    primary_metric="validation_error",
    direction="minimize",
    entry_point="hpoctl.trainers.mlp.train:setup",
)

__all__ = ["SPEC", "TARGETS", "MlpDataArgs", "MlpHparams", "resolve_target"]
