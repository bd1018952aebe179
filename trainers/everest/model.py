"""The EVEREST network and its focal loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def num_heads_for(embed_dim: int) -> int:
    """Attention heads: 4 when they divide ``embed_dim`` (any int from the search space works), else 2 or 1."""
    return next(h for h in (4, 2, 1) if embed_dim % h == 0)


class EverestNet(nn.Module):
    """Transformer-encoder classifier: per-step embedding, pre-norm encoder blocks, attention pooling over time.

    Input [batch, time, features]; output one logit per sequence (the event within the window).
    """

    def __init__(self, n_features: int, seq_len: int, embed_dim: int, num_blocks: int, dropout: float) -> None:
        super().__init__()
        self.embed = nn.Linear(n_features, embed_dim)
        self.position = nn.Parameter(torch.randn(1, seq_len, embed_dim) * 0.02)
        # Separate layers rather than nn.TransformerEncoder, whose deep copies all start from the same weights.
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(
                embed_dim,
                num_heads_for(embed_dim),
                dim_feedforward=2 * embed_dim,
                dropout=dropout,
                activation="gelu",
                batch_first=True,
                norm_first=True,
            )
            for _ in range(num_blocks)
        )
        self.norm = nn.LayerNorm(embed_dim)
        self.pool = nn.Linear(embed_dim, 1)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(embed_dim, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(x) + self.position
        for block in self.blocks:
            h = block(h)
        h = self.norm(h)
        weights = torch.softmax(self.pool(h), dim=1)  # [batch, time, 1]: which hours matter
        return self.head((weights * h).sum(dim=1)).squeeze(-1)


def focal_loss(logits: torch.Tensor, targets: torch.Tensor, gamma: float) -> torch.Tensor:
    """Mean binary focal loss ``-(1 - p_t)^gamma log p_t``, computed from log-sigmoids so that saturated
    logits give finite gradients for every gamma (a plain ``pow`` has an infinite slope at 0 for gamma < 1)."""
    logits = logits.float()
    signed = torch.where(targets > 0.5, logits, -logits)
    log_pt = F.logsigmoid(signed)
    if gamma == 0:
        return (-log_pt).mean()
    return (-torch.exp(gamma * F.logsigmoid(-signed)) * log_pt).mean()


__all__ = ["EverestNet", "focal_loss", "num_heads_for"]
