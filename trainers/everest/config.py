"""EVEREST's command line: hyperparameters (seed study 000), data and target arguments, targets.

Importable without torch: ``--help`` and usage errors are answered from here.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator

from hpoctl.trainers.common.args import ARG_MODEL_CONFIG, RunArgs
from hpoctl.trainers.common.errors import UsageError
from hpoctl.trainers.common.spec import TrainerSpec
from hpoctl.trainers.common.targets import TargetFields
from hpoctl.trainers.common.targets import resolve_target as resolve_common

FLARE_CLASSES = ("C", "M", "X")
"""GOES classes; target ``M`` means a flare of class M or above."""
WINDOWS = (24, 48, 72)
"""Prediction windows in hours."""
TARGETS = tuple(f"{c}_{w}h" for c in FLARE_CLASSES for w in WINDOWS)
DEFAULT_TARGET = "M_24h"
SYNTHETIC_DEFAULTS = {"seq_len": 12, "n_features": 12}
"""Synthetic data shape: 12 hourly steps of 12 parameters (an epoch takes seconds on 2 CPU cores)."""
N_SYNTHETIC_FEATURES = 16
"""The synthetic generator imitates this many SHARP parameters."""


class EverestHparams(BaseModel):
    """EVEREST hyperparameters; names, defaults and search ranges as in the seed study (000)."""

    model_config = ARG_MODEL_CONFIG

    embed_dim: int = Field(128, ge=4)
    """Transformer embedding dimension (search space: int 64..256)."""
    num_blocks: int = Field(6, ge=1)
    """Number of transformer encoder blocks (search space: int 4..12)."""
    dropout: float = Field(0.2, ge=0.0, lt=1.0)
    """Dropout rate (search space: float 0.1..0.5)."""
    focal_gamma: float = Field(1.0, ge=0.0)
    """Focal-loss focusing parameter; 0 is plain binary cross-entropy (search space: float 0..3)."""
    learning_rate: float = Field(3e-4, gt=0.0)
    """AdamW learning rate (search space: log-float 1e-5..1e-2)."""
    batch_size: int = Field(512, ge=1)
    """Training batch size (search space: categorical 256, 512, 1024)."""


class EverestDataArgs(BaseModel):
    """Target arguments (fixed per target) and data sizing arguments (for presets that scale down)."""

    model_config = ARG_MODEL_CONFIG

    flare_class: Literal["C", "M", "X"] | None = None
    """Event class: a flare of this GOES class or above (fixed by --target)."""
    window: int | None = None
    """Prediction window in hours: 24, 48 or 72 (fixed by --target)."""
    seq_len: int | None = Field(None, ge=1)
    """Time steps per sample: the last SEQ_LEN hours before the prediction time (default 12 for synthetic data
    and CSV --data; an NPZ --data: at most the file's length, default all)."""
    n_features: int | None = Field(None, ge=1)
    """Magnetic parameters per time step: the first N_FEATURES (synthetic default 12; --data default all)."""
    n_samples: int = Field(2000, ge=100)
    """Synthetic data only: number of samples (sequences), split by active region 70/15/15."""
    data_seed: int = Field(0, ge=0)
    """Seed of the synthetic generator (the same data for every trial, whatever --seed), or of the region split
    of a CSV --data without a split column."""
    signal_strength: float = Field(1.0, gt=0.0)
    """Synthetic data only: how much of the flare-relevant state the parameters show (0.5 harder, 2 easier)."""
    max_train_batches: int = Field(0, ge=0)
    """Train on at most this many batches per epoch (0: all)."""
    eval_batch_size: int = Field(1024, ge=1)
    """Batch size for the validation pass (memory only; does not change the metrics)."""

    @field_validator("window")
    @classmethod
    def _known_window(cls, value: int | None) -> int | None:
        if value is not None and value not in WINDOWS:
            raise ValueError(f"must be one of {', '.join(map(str, WINDOWS))}, got {value}")
        return value


SYNTHETIC_ONLY = ("n_samples", "signal_strength")
TARGET_FIELDS = TargetFields(
    names=("flare_class", "window"),
    default=DEFAULT_TARGET,
    compose=lambda flare_class, window: f"{flare_class}_{window}h",
    parse=lambda target: (target[0], int(target[2:-1])),
)


def resolve_target(run: RunArgs, data: BaseModel) -> tuple[str, BaseModel]:
    """``M_24h`` -> ``--flare-class M --window 24``; given fixed arguments must agree with the target."""
    assert isinstance(data, EverestDataArgs)
    target, data = resolve_common(run, data, synthetic_only=SYNTHETIC_ONLY, fields=TARGET_FIELDS)
    if run.data is None and (data.n_features or 0) > N_SYNTHETIC_FEATURES:
        raise UsageError(f"--n-features={data.n_features}: the synthetic data has {N_SYNTHETIC_FEATURES} parameters")
    if run.data is None:
        data = data.model_copy(
            update={name: getattr(data, name) or default for name, default in SYNTHETIC_DEFAULTS.items()}
        )
    return target, data


SPEC = TrainerSpec(
    name="everest",
    description=(
        "EVEREST: transformer-encoder solar-flare forecaster over SHARP-like magnetic-parameter sequences.\n"
        f"Targets: {', '.join(TARGETS)} (flare class or above within the window). Maximise tss."
    ),
    hparams=EverestHparams,
    data_args=EverestDataArgs,
    data_format=(
        "  SHARP CSV (one row per active region and time): HARPNUM, T_REC (2014.01.31_12:00:00_TAI or ISO 8601),\n"
        "  one numeric column per keyword (USFLUX, TOTUSJH, ...; empty cell = gap), labels max_class_24h/48h/72h\n"
        "  (C, M, X or empty) or y_M_24h (0/1), optional split (train/val/test, per region). A sample is a row\n"
        "  and the --seq-len rows of its region up to it. Or NPZ: X [N, T, F], split [N], max_class_<w>h or\n"
        "  y_<c>_<w>h [N]. A folder means DIR/everest.csv or DIR/everest.npz.\n"
        "  Check a file with `hpoctl data check everest -t M_24h PATH`.\n"
    ),
    targets=TARGETS,
    target_fields=("flare_class", "window"),
    resolve_target=resolve_target,
    metrics=("tss", "val_loss", "threshold", "train_loss"),
    primary_metric="tss",
    direction="maximize",
    entry_point="hpoctl.trainers.everest.train:setup",
)

__all__ = ["FLARE_CLASSES", "SPEC", "TARGETS", "WINDOWS", "EverestDataArgs", "EverestHparams", "resolve_target"]
