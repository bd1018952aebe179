"""EVEREST as a LightningModule: focal loss, AdamW, TSS and val_loss once per epoch on the validation split."""

from __future__ import annotations

import numpy as np
import torch

from hpoctl.trainers.common.lightning_loop import TrialModule
from hpoctl.trainers.everest.config import EverestHparams
from hpoctl.trainers.everest.metrics import best_tss
from hpoctl.trainers.everest.model import EverestNet, focal_loss


class EverestModule(TrialModule):
    def __init__(self, hparams: EverestHparams, n_features: int, seq_len: int) -> None:
        super().__init__(divergence_hint=f"learning_rate={hparams.learning_rate!r}")
        self.config = hparams
        self.net = EverestNet(n_features, seq_len, hparams.embed_dim, hparams.num_blocks, hparams.dropout)
        self._val_logits: list[torch.Tensor] = []
        self._val_labels: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = focal_loss(self.net(x), y, self.config.focal_gamma)
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
        val_loss = float(focal_loss(logits, labels, self.config.focal_gamma))
        probabilities = torch.sigmoid(logits.double()).cpu().numpy()
        if np.isfinite(probabilities).all():
            tss, threshold = best_tss(probabilities, labels.cpu().numpy())
        else:
            tss, threshold = float("nan"), float("nan")
        self.val_metrics = {"tss": tss, "val_loss": val_loss, "threshold": threshold}

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.parameters(), lr=self.config.learning_rate)


__all__ = ["EverestModule"]
