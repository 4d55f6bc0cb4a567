"""The Perceiver Resampler (Flamingo, Alayrac et al. 2022), built in notebook 02.

A few learned latent queries cross-attend, layer after layer, to every frame's patch tokens (plus
a learned embedding of each frame's index) and to themselves, so any number of frames × patches
becomes a fixed number of visual tokens. Attention is torch's `scaled_dot_product_attention`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def feed_forward(dim: int, mult: int = 4) -> nn.Sequential:
    """Pre-norm feed-forward: LayerNorm → Linear(dim, mult·dim) → GELU → Linear(mult·dim, dim)."""
    return nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, mult * dim), nn.GELU(), nn.Linear(mult * dim, dim))


def split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """(B, L, D) → (B, H, L, D/H)."""
    b, n, d = x.shape
    return x.view(b, n, heads, d // heads).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """(B, H, L, D/H) → (B, L, D)."""
    b, h, n, dh = x.shape
    return x.transpose(1, 2).reshape(b, n, h * dh)


class PerceiverAttention(nn.Module):
    """Latents attend to [media tokens; latents] (keys and values from both, queries from latents)."""

    def __init__(self, dim: int, heads: int = 4):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim={dim} must be divisible by heads={heads}")
        self.heads = heads
        self.norm_media, self.norm_latents = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_kv = nn.Linear(dim, 2 * dim, bias=False)
        self.to_out = nn.Linear(dim, dim, bias=False)

    def forward(self, media: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
        """media (B, S, D), latents (B, N, D) → update for the latents (B, N, D)."""
        media, latents = self.norm_media(media), self.norm_latents(latents)
        k, v = self.to_kv(torch.cat([media, latents], dim=1)).chunk(2, dim=-1)
        q, k, v = (split_heads(t, self.heads) for t in (self.to_q(latents), k, v))
        return self.to_out(merge_heads(F.scaled_dot_product_attention(q, k, v)))


class PerceiverResampler(nn.Module):
    """Flamingo's vision tokenizer: any number of frames × patches → `num_latents` tokens.

    `temporal=False` drops the frame embeddings, and then the resampler cannot tell the frames'
    order. Flamingo used 64 latents and 6 layers; a toy world needs far fewer.
    forward: (B, T, P, D) → (B, num_latents, D).
    """

    def __init__(self, dim: int, num_latents: int = 8, depth: int = 2, heads: int = 4, ff_mult: int = 2,
                 max_frames: int = 16, temporal: bool = True):
        super().__init__()
        self.num_latents, self.max_frames, self.temporal = num_latents, max_frames, temporal
        self.latents = nn.Parameter(torch.randn(num_latents, dim) * 0.02)
        self.frame_embeddings = nn.Parameter(torch.randn(max_frames, 1, dim) * 0.02) if temporal else None
        self.layers = nn.ModuleList(
            nn.ModuleList([PerceiverAttention(dim, heads), feed_forward(dim, ff_mult)]) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)

    def num_tokens(self, num_frames: int, num_patches: int) -> int:
        return self.num_latents

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, P, D) → (B, num_latents, D)"""
        if x.ndim != 4:
            raise ValueError(f"the resampler expects frame tokens (B, T, P, D), got shape {tuple(x.shape)}")
        b, t = x.shape[:2]
        if self.temporal:
            if t > self.max_frames:
                raise ValueError(f"{t} frames but the resampler has temporal embeddings for {self.max_frames}; "
                                 "build it with a larger max_frames or sample fewer frames")
            x = x + self.frame_embeddings[:t]  # (T, 1, D) broadcasts over patches
        media = x.flatten(1, 2)  # (B, T*P, D): space and time in one set of tokens
        latents = self.latents.expand(b, -1, -1)
        for attn, ff in self.layers:
            latents = latents + attn(media, latents)
            latents = latents + ff(latents)
        return self.norm(latents)
