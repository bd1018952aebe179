"""The MLP and its LightningModule: cross-entropy, AdamW, validation error once per epoch."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hpoctl.trainers.common.lightning_loop import ClassifierModule
from hpoctl.trainers.mlp.config import MlpHparams


def mlp(n_features: int, hidden_sizes: list[int], dropout: float, n_classes: int) -> nn.Sequential:
    """Linear -> ReLU -> Dropout per hidden width, then a linear classifier."""
    layers: list[nn.Module] = []
    width = n_features
    for hidden in hidden_sizes:
        layers += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(dropout)]
        width = hidden
    layers.append(nn.Linear(width, n_classes))
    return nn.Sequential(*layers)


class MlpModule(ClassifierModule):
    def __init__(self, hparams: MlpHparams, n_features: int, n_classes: int) -> None:
        super().__init__(mlp(n_features, hparams.hidden_sizes, hparams.dropout, n_classes), f"lr={hparams.lr!r}")
        self.config = hparams

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits.float(), labels)

    def validation_metrics(self, logits: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
        accuracy = float((logits.argmax(dim=1) == labels).double().mean())
        return {
            "validation_error": 1.0 - accuracy,
            "val_loss": float(F.cross_entropy(logits, labels)),
        }

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.parameters(), lr=self.config.lr)


__all__ = ["MlpModule", "mlp"]
