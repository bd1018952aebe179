"""The CSI trainer's command line: hyperparameters (seed study 002), data arguments, targets.

Importable without torch: ``--help`` and usage errors are answered from here.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from hpoctl.trainers.common.args import ARG_MODEL_CONFIG, RunArgs
from hpoctl.trainers.common.spec import TrainerSpec
from hpoctl.trainers.common.targets import resolve_target as resolve_common

TARGETS = ("default",)
CLASSES = ("0", "1", "2", "3", "unknown")
"""Class names: CSI grades 0-3 and the unknown class (index 4); also the ``--data`` class folder names."""
UNKNOWN = CLASSES.index("unknown")
ARCHITECTURES = ("ResNet50", "CheXNet", "Custom_1")
OPTIMIZER_TAKES = {"adam": (), "adamw": ("weight_decay",), "sgd": ("weight_decay", "momentum")}
"""The conditional hyperparameters each optimizer uses (seed 002: weight decay for AdamW and SGD, momentum for
SGD); the others are accepted, because Katib passes every parameter, and ignored with a note on stderr."""


class CsiHparams(BaseModel):
    """CSI hyperparameters; names, defaults and search ranges as in the seed study (002)."""

    model_config = ARG_MODEL_CONFIG

    architecture: Literal["ResNet50", "CheXNet", "Custom_1"] = "ResNet50"
    """Network family: bottleneck residual (ResNet50), densely connected (CheXNet: DenseNet-121) or a plain CNN
    (Custom_1), at the width --base-width sets (search space: categorical)."""
    optimizer: Literal["adam", "adamw", "sgd"] = "adamw"
    """Optimizer (search space: categorical adam, adamw, sgd)."""
    learning_rate: float = Field(1e-3, gt=0.0)
    """Learning rate (search space: log-float 1e-5..1e-1)."""
    weight_decay: float = Field(1e-4, ge=0.0)
    """Weight decay of adamw and sgd; ignored by adam (search space: log-float 1e-6..1e-2, when adamw or sgd)."""
    momentum: float = Field(0.9, ge=0.0, lt=1.0)
    """Momentum of sgd; ignored by the others (search space: float 0.5..0.99, when sgd)."""
    batch_size: int = Field(32, ge=1)
    """Training batch size (search space: categorical 16, 32, 64, 128)."""
    patience: int = Field(10, ge=1)
    """Early stopping: stop once val_f1 has not improved for this many epochs (search space: int 5..20)."""
    unknown_weight: float = Field(0.5, gt=0.0)
    """Cross-entropy weight of the unknown class; the graded classes weigh 1 (search space: float 0.1..1)."""


class CsiDataArgs(BaseModel):
    """Data arguments: image size and model width, synthetic data sizing, how to read --data."""

    model_config = ARG_MODEL_CONFIG

    image_size: int = Field(32, ge=16)
    """Images are resized to IMAGE_SIZE x IMAGE_SIZE grey levels."""
    base_width: int = Field(16, ge=4)
    """Channels of each network's first stage (the originals: 64; CheXNet's growth rate is half of it)."""
    n_images: int = Field(1500, ge=50)
    """Synthetic data only: number of images, classes balanced, split 80/20 by a seeded shuffle."""
    data_seed: int = Field(0, ge=0)
    """Seed of the synthetic generator, or of the 80/20 split of --data without one (not --seed)."""
    max_train_batches: int = Field(0, ge=0)
    """Train on at most this many batches per epoch (0: all)."""
    eval_batch_size: int = Field(256, ge=1)
    """Batch size for the validation pass (memory only; does not change the metrics)."""


SYNTHETIC_ONLY = ("n_images",)


def resolve_target(run: RunArgs, data: BaseModel) -> tuple[str, BaseModel]:
    """One target, ``default``; synthetic sizing arguments conflict with ``--data``."""
    assert isinstance(data, CsiDataArgs)
    return resolve_common(run, data, synthetic_only=SYNTHETIC_ONLY)


def ignored_hyperparameters(hparams: CsiHparams) -> list[str]:
    """Hyperparameters given on the command line that the chosen optimizer does not use."""
    used = OPTIMIZER_TAKES[hparams.optimizer]
    return [name for name in ("weight_decay", "momentum") if name in hparams.model_fields_set and name not in used]


SPEC = TrainerSpec(
    name="csi",
    description=(
        "CSI image classifier (seed study 002): CSI grades 0-3 and an unknown class from grey-level images, "
        "synthetic by default, or a folder of PNG images per class (or an NPZ) via --data.\n"
        "Target: default. Maximise val_f1 (validation macro-F1); early stopping after --patience epochs."
    ),
    hparams=CsiHparams,
    data_args=CsiDataArgs,
    data_format=(
        "  Image folders (PNG or JPEG, any size, made grey and resized): DIR/<class>/*.png with classes 0, 1, 2, 3,\n"
        "  unknown (split 80/20 by --data-seed), or DIR/train/<class>/ and DIR/val/<class>/. Or csi.npz: images\n"
        "  [N, H, W], labels [N], optional split [N].\n"
    ),
    targets=TARGETS,
    target_fields=(),
    resolve_target=resolve_target,
    metrics=("val_f1", "val_loss", "train_loss"),
    primary_metric="val_f1",
    direction="maximize",
    entry_point="hpoctl.trainers.csi.train:setup",
)

__all__ = [
    "ARCHITECTURES",
    "CLASSES",
    "SPEC",
    "TARGETS",
    "UNKNOWN",
    "CsiDataArgs",
    "CsiHparams",
    "ignored_hyperparameters",
    "resolve_target",
]
