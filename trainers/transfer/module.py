"""Stage 1 as a LightningModule: encoder and chi head on the DFT set, mean squared error, AdamW with the sampled
learning rate and weight decay, ``stage1_mae`` and ``stage1_val_loss`` once per epoch."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from hpoctl.trainers.common.lightning_loop import TrialModule
from hpoctl.trainers.transfer.config import TransferHparams
from hpoctl.trainers.transfer.model import Stage1Net


class Stage1Module(TrialModule):
    def __init__(self, hparams: TransferHparams, n_features: int) -> None:
        super().__init__(divergence_hint=f"lr_pretrain={hparams.lr_pretrain!r}")
        self.config = hparams
        self.net = Stage1Net(
            n_features,
            hparams.hidden_dims,
            hparams.encoder_latent_dim,
            hparams.encoder_dropout,
            hparams.chi_head_dropout,
        )
        self._val_predictions: list[torch.Tensor] = []
        self._val_targets: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, chi = batch
        loss = F.mse_loss(self.net(x).float(), chi)
        self.check_loss(loss, batch_idx)
        self.track_train_loss(loss, len(chi))
        return loss

    def on_validation_epoch_start(self) -> None:
        self._val_predictions, self._val_targets = [], []

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, chi = batch
        self._val_predictions.append(self.net(x).float())
        self._val_targets.append(chi)

    def on_validation_epoch_end(self) -> None:
        predicted, actual = torch.cat(self._val_predictions), torch.cat(self._val_targets)
        self.val_metrics = {
            "stage1_mae": float((predicted - actual).abs().mean()),
            "stage1_val_loss": float(F.mse_loss(predicted, actual)),
        }

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.parameters(), lr=self.config.lr_pretrain, weight_decay=self.config.weight_decay)


__all__ = ["Stage1Module"]
