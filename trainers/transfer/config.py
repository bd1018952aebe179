"""The transfer trainer's command line: stage-1 hyperparameters (seed study 004), the fixed stage-2 settings,
data arguments, targets, and the transfer objective.

Importable without torch: ``--help`` and usage errors are answered from here.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, Field, field_validator

from hpoctl.trainers.common.args import ARG_MODEL_CONFIG, RunArgs
from hpoctl.trainers.common.spec import TrainerSpec
from hpoctl.trainers.common.targets import resolve_target as resolve_common

TARGETS = ("default",)
OBJECTIVE_WEIGHTS = {"exp_mae": 1.5, "sol_f1": 2.0, "sol_recall": 1.5, "stage1_mae": 0.1}
"""Seed 004's transfer objective: 1.5 exp_mae + 2 (1 - sol_f1) + 1.5 (1 - sol_recall) + 0.1 stage1_mae."""
STAGE1_METRICS = ("stage1_mae", "stage1_val_loss", "train_loss")
"""Reported after every stage-1 epoch."""
FINAL_METRICS = ("stage1_mae", "exp_mae", "sol_f1", "sol_recall", "sol_precision", "objective")
"""Reported once, after stage 2, on a last line numbered like the last stage-1 epoch."""


def transfer_objective(exp_mae: float, sol_f1: float, sol_recall: float, stage1_mae: float) -> float:
    """The composite seed 004 minimises (the catalog's ``objective`` expression)."""
    w = OBJECTIVE_WEIGHTS
    return (
        w["exp_mae"] * exp_mae
        + w["sol_f1"] * (1 - sol_f1)
        + w["sol_recall"] * (1 - sol_recall)
        + w["stage1_mae"] * stage1_mae
    )


class TransferHparams(BaseModel):
    """Stage-1 hyperparameters; names, defaults and search ranges as in the seed study (004)."""

    model_config = ARG_MODEL_CONFIG

    encoder_latent_dim: int = Field(128, ge=1)
    """Width of the encoder's output, the representation stage 2 reuses (search space: categorical 64, 128, 256)."""
    encoder_hidden_dims: str = "512_256"
    """Widths of the encoder's hidden layers, joined by underscores (search space: categorical "512_256",
    "1024_512_256", "256_128")."""
    encoder_dropout: float = Field(0.2, ge=0.0, lt=1.0)
    """Dropout after each encoder hidden layer (search space: float 0.15..0.35)."""
    chi_head_dropout: float = Field(0.1, ge=0.0, lt=1.0)
    """Dropout in the chi regression heads (search space: float 0.05..0.25)."""
    lr_pretrain: float = Field(1e-3, gt=0.0)
    """Stage-1 AdamW learning rate (search space: log-float 5e-4..2e-3)."""
    weight_decay: float = Field(1e-4, ge=0.0)
    """Stage-1 AdamW weight decay (search space: log-float 1e-5..1e-3)."""

    @field_validator("encoder_hidden_dims")
    @classmethod
    def _widths(cls, value: str) -> str:
        if not re.fullmatch(r"[1-9]\d*(_[1-9]\d*)*", value):
            raise ValueError(f"must be widths >= 1 joined by underscores, such as 512_256, got {value!r}")
        return value

    @property
    def hidden_dims(self) -> list[int]:
        return [int(width) for width in self.encoder_hidden_dims.split("_")]


class TransferDataArgs(BaseModel):
    """Fixed stage-2 settings (the same for every trial, for a fair comparison) and data sizing arguments."""

    model_config = ARG_MODEL_CONFIG

    stage2_epochs: int = Field(20, ge=1)
    """Stage-2 fine-tuning epochs per cross-validation fold."""
    cv_folds: int = Field(5, ge=2)
    """Folds of the stage-2 cross-validation over the experimental set, stratified by solubility."""
    freeze_encoder_stage2: bool = True
    """Stage 2 trains only the heads on the frozen stage-1 encoder (true), or fine-tunes the encoder too."""
    lambda_exp: float = Field(3.0, ge=0.0)
    """Stage-2 loss weight of the experimental chi regression (mean squared error)."""
    lambda_sol: float = Field(1.0, ge=0.0)
    """Stage-2 loss weight of the solubility classification (binary cross-entropy)."""
    class_weight_pos: float = Field(5.0, gt=0.0)
    """Weight of the soluble (positive) class in the solubility loss."""
    lr_finetune: float = Field(1e-3, gt=0.0)
    """Stage-2 Adam learning rate."""
    batch_size: int = Field(256, ge=1)
    """Stage-1 batch size."""
    stage2_batch_size: int = Field(32, ge=1)
    """Stage-2 batch size."""
    n_dft: int = Field(20000, ge=100)
    """Synthetic data only: DFT samples (stage 1), split 90/10 into training and validation."""
    n_exp: int = Field(400, ge=20)
    """Synthetic data only: experimental samples (stage 2)."""
    data_seed: int = Field(0, ge=0)
    """Seed of the synthetic generator, of the stage-1 split and of the folds (not --seed)."""
    max_train_batches: int = Field(0, ge=0)
    """Stage 1: train on at most this many batches per epoch (0: all)."""
    eval_batch_size: int = Field(4096, ge=1)
    """Batch size of the stage-1 validation pass (memory only; does not change the metrics)."""


SYNTHETIC_ONLY = ("n_dft", "n_exp")


def resolve_target(run: RunArgs, data: BaseModel) -> tuple[str, BaseModel]:
    """One target, ``default``; synthetic sizing arguments conflict with ``--data``."""
    assert isinstance(data, TransferDataArgs)
    return resolve_common(run, data, synthetic_only=SYNTHETIC_ONLY)


SPEC = TrainerSpec(
    name="transfer",
    description=(
        "Transfer-aware search (seed study 004): stage 1 trains an encoder and a chi head on a large DFT set with "
        "the sampled hyperparameters; stage 2 fine-tunes experimental-chi and solubility heads on a small "
        "experimental set with k-fold cross-validation.\n"
        "Per stage-1 epoch: stage1_mae, stage1_val_loss, train_loss. Then one line, numbered like the last epoch: "
        "stage1_mae, exp_mae, sol_f1, sol_recall, sol_precision and objective = 1.5 exp_mae + 2 (1 - sol_f1) + "
        "1.5 (1 - sol_recall) + 0.1 stage1_mae, minimised."
    ),
    hparams=TransferHparams,
    data_args=TransferDataArgs,
    data_format=(
        "  A folder with dft.csv (feature columns, chi, optional split) and exp.csv (the same features, chi,\n"
        "  soluble 0/1), or transfer.npz: dft_X, dft_chi, exp_X, exp_chi, exp_soluble.\n"
    ),
    targets=TARGETS,
    target_fields=(),
    resolve_target=resolve_target,
    metrics=STAGE1_METRICS + FINAL_METRICS[1:],
    primary_metric="objective",
    direction="minimize",
    entry_point="hpoctl.trainers.transfer.train:setup",
)

__all__ = [
    "FINAL_METRICS",
    "OBJECTIVE_WEIGHTS",
    "SPEC",
    "STAGE1_METRICS",
    "TARGETS",
    "TransferDataArgs",
    "TransferHparams",
    "resolve_target",
    "transfer_objective",
]
