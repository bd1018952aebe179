"""The transfer networks: an MLP encoder, a chi regression head (stage 1), and the stage-2 multitask network
(experimental chi and solubility heads on the encoder)."""

from __future__ import annotations

import copy

import torch
from torch import nn


def encoder(n_features: int, hidden_dims: list[int], latent_dim: int, dropout: float) -> nn.Sequential:
    """Linear -> ReLU -> Dropout per hidden width, then a linear map to the latent representation and ReLU."""
    layers: list[nn.Module] = []
    width = n_features
    for hidden in hidden_dims:
        layers += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(dropout)]
        width = hidden
    return nn.Sequential(*layers, nn.Linear(width, latent_dim), nn.ReLU())


def head(latent_dim: int, dropout: float) -> nn.Sequential:
    """A small regression (or logit) head: Dropout -> Linear -> ReLU -> Linear to one output."""
    hidden = max(1, latent_dim // 2)
    return nn.Sequential(nn.Dropout(dropout), nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, 1))


class Stage1Net(nn.Module):
    """Encoder and chi head, trained on the DFT set."""

    def __init__(self, n_features: int, hidden_dims: list[int], latent_dim: int, dropout: float, head_dropout: float):
        super().__init__()
        self.encoder = encoder(n_features, hidden_dims, latent_dim, dropout)
        self.chi_head = head(latent_dim, head_dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.chi_head(self.encoder(x)).squeeze(-1)


class Stage2Net(nn.Module):
    """The stage-1 encoder (``nn.Identity`` when frozen: the inputs are then its precomputed latents), an
    experimental chi head starting from the stage-1 chi head, and a new solubility head giving a logit."""

    def __init__(self, stage1: Stage1Net, frozen: bool, latent_dim: int, head_dropout: float) -> None:
        super().__init__()
        self.encoder = nn.Identity() if frozen else copy.deepcopy(stage1.encoder)
        self.exp_head = copy.deepcopy(stage1.chi_head)
        self.sol_head = head(latent_dim, head_dropout)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        latent = self.encoder(x)
        return self.exp_head(latent).squeeze(-1), self.sol_head(latent).squeeze(-1)


__all__ = ["Stage1Net", "Stage2Net", "encoder", "head"]
