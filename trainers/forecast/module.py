"""The forecasters as a LightningModule: windows cut from the series by origin, pinball loss, Adam, and the
walk-forward metrics (mae, picp, picp_error, val_loss) once per epoch."""

from __future__ import annotations

import numpy as np
import torch
from pydantic import BaseModel

from hpoctl.trainers.common.lightning_loop import TrialModule
from hpoctl.trainers.forecast.config import NOMINAL_COVERAGE
from hpoctl.trainers.forecast.model import build_network, pinball_loss


def interval_metrics(quantiles: np.ndarray, actual: np.ndarray) -> dict[str, float]:
    """MAE of the median and PICP (share of actuals inside the 10%-90% interval) of ``[..., 3]`` forecasts."""
    inside = (actual >= quantiles[..., 0]) & (actual <= quantiles[..., 2])
    picp = float(inside.mean())
    return {
        "mae": float(np.abs(quantiles[..., 1] - actual).mean()),
        "picp": picp,
        "picp_error": abs(picp - NOMINAL_COVERAGE),
    }


class ForecastModule(TrialModule):
    """A batch is a tensor of forecast origins; the module cuts each origin's input and forecast hours from the
    standardised series it holds, so no window is ever stored twice."""

    def __init__(
        self,
        model: str,
        hparams: BaseModel,
        inputs: torch.Tensor,
        scale: tuple[float, float],
        input_size: int,
        horizon: int,
    ) -> None:
        super().__init__(divergence_hint=f"learning_rate={hparams.learning_rate!r}")  # type: ignore[attr-defined]
        self.config = hparams
        self.register_buffer("series", inputs, persistent=False)  # [T, 1 + F]: value first
        self.register_buffer("offsets", torch.arange(-input_size, horizon), persistent=False)
        self.input_size = input_size
        self.mean, self.std = scale
        self.net = build_network(model, hparams, input_size, horizon, n_features=inputs.shape[1] - 1)
        self._val_quantiles: list[torch.Tensor] = []
        self._val_targets: list[torch.Tensor] = []

    def windows(self, origins: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(past [B, input_size, 1 + F], future covariates [B, horizon, F], target [B, horizon]) for origins [B]."""
        window = self.series[origins[:, None] + self.offsets]
        past, ahead = window[:, : self.input_size], window[:, self.input_size :]
        return past, ahead[..., 1:], ahead[..., 0]

    def forward(self, origins: torch.Tensor) -> torch.Tensor:
        past, future, _ = self.windows(origins)
        return self.net(past, future)

    def training_step(self, batch: tuple[torch.Tensor], batch_idx: int) -> torch.Tensor:
        (origins,) = batch
        past, future, target = self.windows(origins)
        loss = pinball_loss(self.net(past, future).float(), target)
        self.check_loss(loss, batch_idx)
        self.track_train_loss(loss, len(origins))
        return loss

    def on_validation_epoch_start(self) -> None:
        self._val_quantiles, self._val_targets = [], []

    def validation_step(self, batch: tuple[torch.Tensor], batch_idx: int) -> None:
        (origins,) = batch
        past, future, target = self.windows(origins)
        self._val_quantiles.append(self.net(past, future).float())
        self._val_targets.append(target)

    def on_validation_epoch_end(self) -> None:
        quantiles, targets = torch.cat(self._val_quantiles), torch.cat(self._val_targets)
        val_loss = float(pinball_loss(quantiles, targets))
        in_units = (quantiles.double() * self.std + self.mean).cpu().numpy()
        actual = (targets.double() * self.std + self.mean).cpu().numpy()
        if np.isfinite(in_units).all():
            self.val_metrics = {**interval_metrics(in_units, actual), "val_loss": val_loss}
        else:
            self.val_metrics = {"mae": float("nan"), "picp": float("nan"), "picp_error": float("nan")}
            self.val_metrics["val_loss"] = val_loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.config.learning_rate)  # type: ignore[attr-defined]


__all__ = ["ForecastModule", "interval_metrics"]
