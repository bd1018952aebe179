"""The MLP and its LightningModule: cross-entropy, AdamW, validation error once per epoch."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hpoctl.trainers.common.lightning_loop import TrialModule
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


class MlpModule(TrialModule):
    def __init__(self, hparams: MlpHparams, n_features: int, n_classes: int) -> None:
        super().__init__(divergence_hint=f"lr={hparams.lr!r}")
        self.config = hparams
        self.net = mlp(n_features, hparams.hidden_sizes, hparams.dropout, n_classes)
        self._val_logits: list[torch.Tensor] = []
        self._val_labels: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = F.cross_entropy(self.net(x).float(), y)
        self.check_loss(loss, batch_idx)
        self.track_train_loss(loss, len(y))
        return loss

    def on_validation_epoch_start(self) -> None:
        self._val_logits, self._val_labels = [], []

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        self._val_logits.append(self.net(x).float())
        self._val_labels.append(y)

    def on_validation_epoch_end(self) -> None:
        logits, labels = torch.cat(self._val_logits), torch.cat(self._val_labels)
        accuracy = float((logits.argmax(dim=1) == labels).double().mean())
        self.val_metrics = {
            "validation_error": 1.0 - accuracy,
            "val_loss": float(F.cross_entropy(logits, labels)),
        }

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.parameters(), lr=self.config.lr)


__all__ = ["MlpModule", "mlp"]
