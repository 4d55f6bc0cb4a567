"""Connectors: map vision tokens (…, D_vision) to the LM's width (…, D_lm).

LLaVA used one linear layer; LLaVA-1.5 a 2-layer MLP with GELU, which aligned better.
"""

from __future__ import annotations

import torch
from torch import nn


class Linear(nn.Module):
    """LLaVA's projector: one linear map per token. Built in notebook 03."""

    def __init__(self, in_dim: int, out_dim: int):
        super().__init__()
        self.proj = nn.Linear(in_dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (…, in_dim) → (…, out_dim)"""
        return self.proj(x)


class MLP(nn.Module):
    """LLaVA-1.5's projector: Linear → GELU → Linear, per token. Built in notebook 03."""

    def __init__(self, in_dim: int, out_dim: int, hidden_dim: int | None = None):
        super().__init__()
        hidden_dim = hidden_dim or out_dim
        self.net = nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.GELU(), nn.Linear(hidden_dim, out_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (…, in_dim) → (…, out_dim)"""
        return self.net(x)


CONNECTORS = {"linear": Linear, "mlp": MLP}


def build_connector(name: str, in_dim: int, out_dim: int) -> nn.Module:
    """'linear' (LLaVA) or 'mlp' (LLaVA-1.5): (…, in_dim) → (…, out_dim)."""
    if name not in CONNECTORS:
        raise ValueError(f"unknown connector {name!r}; use one of {sorted(CONNECTORS)}")
    return CONNECTORS[name](in_dim, out_dim)
