"""Reducers: choose which vision tokens reach the LM, and how many.

Input is always frame tokens (B, T, P, D) — T frames of P patch tokens — and output a token
sequence (B, N, D). `num_tokens(T, P)` says N, so prompts can hold exactly N slots.
"""

from __future__ import annotations

import torch
from torch import nn

from .parts import register


@register
class ConcatFrames(nn.Module):
    """Keep every token: the frames' patch tokens one after another (N = T * P)."""

    def __init__(self):
        super().__init__()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, P, D) → (B, T*P, D)"""
        return x.flatten(1, 2)

    def num_tokens(self, num_frames: int, num_patches: int) -> int:
        return num_frames * num_patches
