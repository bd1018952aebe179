"""The three quantile forecasters in plain torch, their quantile head and the pinball loss.

Every network maps ``past`` [batch, input_size, 1 + F] (the standardised value and the F covariate and calendar
columns of the input hours) and ``future`` [batch, horizon, F] (the covariates and calendar of the forecast
hours, known in advance) to ``[batch, horizon, 3]``: the 10%, 50% and 90% quantiles, never crossing.

- :class:`NhitsNet` (N-HiTS, Challu et al. 2023): stacks of MLP blocks; each stack max-pools its input at its own
  rate (``pooling_kernel_sizes``, cycled over the stacks), forecasts a few knots that are interpolated to the
  horizon (one knot per pooling kernel of hours) and hands the residual of its backcast to the next block.
- :class:`TftNet` (Temporal Fusion Transformer, Lim et al. 2021): variable selection with softmax weights, an LSTM
  encoder over the input hours and an LSTM decoder over the forecast hours, gated skip connections with layer
  norm, multi-head attention of each forecast hour over the past and the earlier forecast hours.
- :class:`TimesNet` (Wu et al. 2023): the input embedded and extended linearly to the horizon; each block finds
  the ``top_k`` strongest periods in the FFT amplitude spectrum, folds the series into [cycles, period] 2-D
  grids, convolves them with an inception of kernel sizes 1..2*num_kernels-1 and sums the results weighted by
  the periods' amplitudes.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from pydantic import BaseModel
from torch import nn

from hpoctl.trainers.forecast.config import (
    FIXED_DROPOUT,
    QUANTILES,
    NhitsHparams,
    TftHparams,
    TimesnetHparams,
)

TIMESNET_BLOCKS = 2
"""TimesNet's e_layers, not searched in the seed study."""


def monotone_quantiles(raw: torch.Tensor) -> torch.Tensor:
    """``[..., 3]`` unconstrained outputs -> 10%, 50%, 90% quantiles: the median, and the bounds below and above
    it by softplus distances, so the interval never inverts."""
    median = raw[..., 1]
    return torch.stack([median - F.softplus(raw[..., 0]), median, median + F.softplus(raw[..., 2])], dim=-1)


def pinball_loss(quantiles: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean quantile (pinball) loss of ``[..., 3]`` forecasts at :data:`QUANTILES` against ``[...]`` actuals."""
    levels = torch.tensor(QUANTILES, dtype=quantiles.dtype, device=quantiles.device)
    error = target.unsqueeze(-1) - quantiles
    return torch.maximum(levels * error, (levels - 1) * error).mean()


class NhitsBlock(nn.Module):
    """Pool the input at one rate, two hidden layers, then a backcast of the input and knots of the forecast."""

    def __init__(self, input_size: int, horizon: int, n_features: int, pool: int, width: int, dropout: float) -> None:
        super().__init__()
        self.pool = nn.MaxPool1d(pool, stride=pool, ceil_mode=True)
        pooled = math.ceil(input_size / pool)
        self.horizon = horizon
        self.knots = max(1, math.ceil(horizon / pool))
        self.mlp = nn.Sequential(
            nn.Linear(pooled * (1 + n_features) + horizon * n_features, width),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(width, width),
            nn.ReLU(),
            nn.Dropout(dropout),
        )
        self.backcast = nn.Linear(width, input_size)
        self.forecast = nn.Linear(width, 3 * self.knots)

    def forward(
        self, residual: torch.Tensor, past_covariates: torch.Tensor, future: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        batch = residual.shape[0]
        pooled_value = self.pool(residual.unsqueeze(1)).flatten(1)
        pooled_covariates = self.pool(past_covariates.transpose(1, 2)).flatten(1)
        hidden = self.mlp(torch.cat([pooled_value, pooled_covariates, future.flatten(1)], dim=1))
        knots = self.forecast(hidden).view(batch, 3, self.knots)
        if self.knots == 1:
            forecast = knots.expand(batch, 3, self.horizon)
        else:
            forecast = F.interpolate(knots, size=self.horizon, mode="linear", align_corners=True)
        return self.backcast(hidden), forecast.transpose(1, 2)


class NhitsNet(nn.Module):
    def __init__(self, hp: NhitsHparams, input_size: int, horizon: int, n_features: int) -> None:
        super().__init__()
        kernels = hp.pooling_kernel_sizes
        self.blocks = nn.ModuleList(
            NhitsBlock(input_size, horizon, n_features, kernels[stack % len(kernels)], hp.layer_widths, hp.dropout)
            for stack in range(hp.num_stacks)
            for _ in range(hp.num_blocks)
        )

    def forward(self, past: torch.Tensor, future: torch.Tensor) -> torch.Tensor:
        residual, covariates = past[..., 0], past[..., 1:]
        total = None
        for block in self.blocks:
            backcast, forecast = block(residual, covariates, future)
            residual = residual - backcast
            total = forecast if total is None else total + forecast
        assert total is not None
        return monotone_quantiles(total)


class GatedResidual(nn.Module):
    """TFT's gated residual network: ELU layer, linear, dropout, a GLU gate, add the skip, layer norm."""

    def __init__(self, size: int, dropout: float, input_size: int | None = None, output_size: int | None = None):
        super().__init__()
        input_size, output_size = input_size or size, output_size or size
        self.skip = nn.Linear(input_size, output_size) if input_size != output_size else nn.Identity()
        self.hidden = nn.Linear(input_size, size)
        self.out = nn.Linear(size, size)
        self.dropout = nn.Dropout(dropout)
        self.gate = nn.Linear(size, 2 * output_size)
        self.norm = nn.LayerNorm(output_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = self.dropout(self.out(F.elu(self.hidden(x))))
        return self.norm(self.skip(x) + F.glu(self.gate(hidden), dim=-1))


class GateAddNorm(nn.Module):
    """A GLU-gated connection: ``norm(skip + glu(dropout(x)))``."""

    def __init__(self, size: int, dropout: float) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.gate = nn.Linear(size, 2 * size)
        self.norm = nn.LayerNorm(size)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.norm(skip + F.glu(self.gate(self.dropout(x)), dim=-1))


class VariableSelection(nn.Module):
    """TFT's variable selection: each input variable embedded on its own (at a small width, as TFT's
    ``hidden_continuous_size``), softmax weights per time step from a gated residual network over all the
    embeddings, and the weighted embeddings projected to the model width, one projection per variable."""

    def __init__(self, n_variables: int, size: int, dropout: float, embedding: int = 8) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_variables, embedding) * 0.1)
        self.bias = nn.Parameter(torch.zeros(n_variables, embedding))
        flat = n_variables * embedding
        self.select = GatedResidual(n_variables, dropout, input_size=flat, output_size=n_variables)
        self.project = nn.Linear(flat, size)  # = the sum over variables of a projection of each

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        embedded = x.unsqueeze(-1) * self.weight + self.bias  # [batch, time, variables, embedding]
        weights = torch.softmax(self.select(embedded.flatten(-2)), dim=-1).unsqueeze(-1)
        return self.project((weights * embedded).flatten(-2))


class TftNet(nn.Module):
    def __init__(self, hp: TftHparams, input_size: int, horizon: int, n_features: int) -> None:
        super().__init__()
        size, dropout = hp.hidden_size, hp.dropout
        self.input_size = input_size
        self.past_selection = VariableSelection(1 + n_features, size, dropout)
        self.future_selection = VariableSelection(n_features, size, dropout)
        lstm_dropout = dropout if hp.lstm_layers > 1 else 0.0
        self.encoder = nn.LSTM(size, size, hp.lstm_layers, batch_first=True, dropout=lstm_dropout)
        self.decoder = nn.LSTM(size, size, hp.lstm_layers, batch_first=True, dropout=lstm_dropout)
        self.lstm_gate = GateAddNorm(size, dropout)
        self.enrichment = GatedResidual(size, dropout)
        self.attention = nn.MultiheadAttention(size, hp.attention_heads, dropout=dropout, batch_first=True)
        self.attention_gate = GateAddNorm(size, dropout)
        self.position_wise = GatedResidual(size, dropout)
        self.output_gate = GateAddNorm(size, 0.0)
        self.head = nn.Linear(size, 3)
        # A forecast hour attends to every input hour and to the forecast hours up to itself.
        mask = torch.ones(horizon, input_size + horizon, dtype=torch.bool).triu(input_size + 1)
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, past: torch.Tensor, future: torch.Tensor) -> torch.Tensor:
        past_embedded, future_embedded = self.past_selection(past), self.future_selection(future)
        encoded, state = self.encoder(past_embedded)
        decoded, _ = self.decoder(future_embedded, state)
        temporal = self.lstm_gate(torch.cat([encoded, decoded], 1), torch.cat([past_embedded, future_embedded], 1))
        enriched = self.enrichment(temporal)
        query = enriched[:, self.input_size :]
        attended, _ = self.attention(query, enriched, enriched, attn_mask=self.mask, need_weights=False)
        x = self.position_wise(self.attention_gate(attended, query))
        return monotone_quantiles(self.head(self.output_gate(x, temporal[:, self.input_size :])))


class Inception(nn.Module):
    """TimesNet's inception block (``Inception_Block_V1``): the mean of 2-D convolutions with kernel sizes 1, 3,
    ..., 2 * num_kernels - 1. Computed as one convolution whose kernel is the mean of the zero-padded kernels:
    the same function and gradients as the separate convolutions, at the cost of the largest one alone."""

    def __init__(self, channels_in: int, channels_out: int, num_kernels: int) -> None:
        super().__init__()
        kernels = []
        for i in range(num_kernels):
            kernel = torch.empty(channels_out, channels_in, 2 * i + 1, 2 * i + 1)
            kernels.append(nn.Parameter(nn.init.kaiming_normal_(kernel, mode="fan_out", nonlinearity="relu")))
        self.kernels = nn.ParameterList(kernels)
        self.biases = nn.Parameter(torch.zeros(num_kernels, channels_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        widest = len(self.kernels) - 1
        weight = torch.stack([F.pad(k, [widest - i] * 4) for i, k in enumerate(self.kernels)]).mean(dim=0)
        return F.conv2d(x, weight, self.biases.mean(dim=0), padding=widest)


class TimesBlock(nn.Module):
    def __init__(self, width: int, conv_width: int, num_kernels: int, top_k: int) -> None:
        super().__init__()
        self.top_k = top_k
        self.conv = nn.Sequential(
            Inception(width, conv_width, num_kernels),
            nn.GELU(),
            Inception(conv_width, width, num_kernels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, width = x.shape
        amplitude = torch.fft.rfft(x.float(), dim=1).abs()  # [batch, frequencies, width]; no FFT in bf16
        spectrum = amplitude.mean(dim=(0, 2)).detach()
        spectrum[0] = 0.0  # the mean level is no period
        frequencies = torch.topk(spectrum, min(self.top_k, len(spectrum) - 1)).indices
        outputs = []
        for frequency in frequencies.tolist():
            period = length // frequency
            cycles = math.ceil(length / period)
            padded = F.pad(x, (0, 0, 0, cycles * period - length))
            grid = padded.reshape(batch, cycles, period, width).permute(0, 3, 1, 2)
            folded = self.conv(grid).permute(0, 2, 3, 1).reshape(batch, cycles * period, width)
            outputs.append(folded[:, :length])
        weights = torch.softmax(amplitude.mean(dim=2)[:, frequencies], dim=1)  # [batch, k]
        return x + (torch.stack(outputs, dim=-1) * weights[:, None, None, :]).sum(dim=-1)


class TimesNet(nn.Module):
    def __init__(self, hp: TimesnetHparams, input_size: int, horizon: int, n_features: int) -> None:
        super().__init__()
        width = hp.hidden_size
        self.input_size = input_size
        self.embed = nn.Conv1d(1 + n_features, width, 3, padding=1, padding_mode="circular")
        self.extend = nn.Linear(input_size, input_size + horizon)  # TimesNet's predict_linear, along time
        self.future = nn.Linear(n_features, width)
        self.position = nn.Parameter(torch.randn(1, input_size + horizon, width) * 0.02)
        self.dropout = nn.Dropout(FIXED_DROPOUT)
        self.blocks = nn.ModuleList(
            TimesBlock(width, hp.conv_hidden_size, hp.num_kernels, hp.top_k) for _ in range(TIMESNET_BLOCKS)
        )
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, 3)

    def forward(self, past: torch.Tensor, future: torch.Tensor) -> torch.Tensor:
        embedded = self.embed(past.transpose(1, 2))  # [batch, width, input_size]
        x = self.extend(embedded).transpose(1, 2) + self.position
        x = x + F.pad(self.future(future), (0, 0, self.input_size, 0))
        x = self.dropout(x)
        for block in self.blocks:
            x = self.norm(block(x))
        return monotone_quantiles(self.head(x[:, self.input_size :]))


def build_network(model: str, hp: BaseModel, input_size: int, horizon: int, n_features: int) -> nn.Module:
    """The network ``--model`` names, with its hyperparameters."""
    if model == "NHITS_Q":
        assert isinstance(hp, NhitsHparams)
        return NhitsNet(hp, input_size, horizon, n_features)
    if model == "TFT_Q":
        assert isinstance(hp, TftHparams)
        return TftNet(hp, input_size, horizon, n_features)
    assert model == "TIMESNET_Q" and isinstance(hp, TimesnetHparams)
    return TimesNet(hp, input_size, horizon, n_features)


__all__ = ["NhitsNet", "TftNet", "TimesNet", "build_network", "monotone_quantiles", "pinball_loss"]
