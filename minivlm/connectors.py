"""Connectors: map vision tokens (…, D_vision) to the LM's width (…, D_lm).

LLaVA used one linear layer; LLaVA-1.5 a 2-layer MLP with GELU, which aligned better.
"""

from __future__ import annotations

import torch
from torch import nn

from .parts import register


@register
class Linear(nn.Module):
    """LLaVA's projector: one linear map per token."""

    def __init__(self, in_dim: int, out_dim: int):
        super().__init__()
        self.proj = nn.Linear(in_dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (…, in_dim) → (…, out_dim)"""
        return self.proj(x)


@register
class MLP(nn.Module):
    """LLaVA-1.5's projector: Linear → GELU → Linear, per token."""

    def __init__(self, in_dim: int, out_dim: int, hidden_dim: int | None = None):
        super().__init__()
        hidden_dim = hidden_dim or out_dim
        self.net = nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.GELU(), nn.Linear(hidden_dim, out_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (…, in_dim) → (…, out_dim)"""
        return self.net(x)
