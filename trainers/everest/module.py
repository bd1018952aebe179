"""EVEREST as a LightningModule: focal loss, AdamW, TSS and val_loss once per epoch on the validation split."""

from __future__ import annotations

import numpy as np
import torch

from hpoctl.trainers.common.lightning_loop import ClassifierModule
from hpoctl.trainers.everest.config import EverestHparams
from hpoctl.trainers.everest.metrics import best_tss
from hpoctl.trainers.everest.model import EverestNet, focal_loss


class EverestModule(ClassifierModule):
    def __init__(self, hparams: EverestHparams, n_features: int, seq_len: int) -> None:
        net = EverestNet(n_features, seq_len, hparams.embed_dim, hparams.num_blocks, hparams.dropout)
        super().__init__(net, divergence_hint=f"learning_rate={hparams.learning_rate!r}")
        self.config = hparams

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return focal_loss(logits, labels, self.config.focal_gamma)

    def validation_metrics(self, logits: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
        val_loss = float(focal_loss(logits, labels, self.config.focal_gamma))
        probabilities = torch.sigmoid(logits.double()).cpu().numpy()
        if np.isfinite(probabilities).all():
            tss, threshold = best_tss(probabilities, labels.cpu().numpy())
        else:
            tss, threshold = float("nan"), float("nan")
        return {"tss": tss, "val_loss": val_loss, "threshold": threshold}

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.parameters(), lr=self.config.learning_rate)


__all__ = ["EverestModule"]
