"""The CSI classifier as a LightningModule: class-weighted cross-entropy, the chosen optimizer, macro-F1 and
val_loss once per epoch, and early stopping after ``patience`` epochs without a better val_f1."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from hpoctl.trainers.common.lightning_loop import ClassifierModule
from hpoctl.trainers.csi.config import CLASSES, UNKNOWN, CsiHparams
from hpoctl.trainers.csi.metrics import macro_f1
from hpoctl.trainers.csi.model import build_network


def class_weights(unknown_weight: float) -> torch.Tensor:
    """Cross-entropy weights: 1 for each CSI grade, ``unknown_weight`` for the unknown class."""
    weights = torch.ones(len(CLASSES))
    weights[UNKNOWN] = unknown_weight
    return weights


def build_optimizer(hparams: CsiHparams, parameters: Any) -> torch.optim.Optimizer:
    """adam (no weight decay), adamw (decoupled weight decay) or sgd (weight decay, momentum), as in seed 002."""
    if hparams.optimizer == "adam":
        return torch.optim.Adam(parameters, lr=hparams.learning_rate)
    if hparams.optimizer == "adamw":
        return torch.optim.AdamW(parameters, lr=hparams.learning_rate, weight_decay=hparams.weight_decay)
    return torch.optim.SGD(
        parameters, lr=hparams.learning_rate, momentum=hparams.momentum, weight_decay=hparams.weight_decay
    )


class EarlyStopping:
    """Stop once the monitored value (val_f1, higher is better) has not improved for ``patience`` epochs."""

    def __init__(self, patience: int) -> None:
        self.patience = patience
        self.best, self.best_epoch = float("-inf"), 0
        self.stopped: dict[str, Any] | None = None
        """Once stopped: the epoch, the best epoch and value, the patience."""

    def update(self, epoch: int, value: float) -> bool:
        """Record an epoch's value; True when training should stop after this epoch."""
        if value > self.best:
            self.best, self.best_epoch = value, epoch
        elif epoch - self.best_epoch >= self.patience:
            self.stopped = {
                "epoch": epoch,
                "best_epoch": self.best_epoch,
                "best_val_f1": self.best,
                "patience": self.patience,
            }
            return True
        return False


class CsiModule(ClassifierModule):
    def __init__(self, hparams: CsiHparams, width: int) -> None:
        net = build_network(hparams.architecture, width, len(CLASSES))
        super().__init__(net, divergence_hint=f"learning_rate={hparams.learning_rate!r}")
        self.config = hparams
        self.register_buffer("class_weights", class_weights(hparams.unknown_weight), persistent=False)
        self.early_stopping = EarlyStopping(hparams.patience)

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits.float(), labels, weight=self.class_weights)

    def validation_metrics(self, logits: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
        val_f1 = macro_f1(logits.argmax(dim=1).cpu().numpy(), labels.cpu().numpy())
        val_loss = float(F.cross_entropy(logits, labels, weight=self.class_weights))
        if self.early_stopping.update(self.current_epoch + 1, val_f1):
            self.trainer.should_stop = True  # Lightning ends after this epoch, whose line is still printed
        return {"val_f1": val_f1, "val_loss": val_loss}

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return build_optimizer(self.config, self.parameters())


__all__ = ["CsiModule", "EarlyStopping", "build_optimizer", "class_weights"]
