"""The Q-Former (BLIP-2, Li et al. 2023) as Video-LLaMA uses it over frames and audio segments,
built in notebook 05.

A fixed set of learned queries reads any number of input tokens: in every layer the queries
first attend to each other (self-attention), then to the inputs (cross-attention: queries from
the queries, keys and values from the inputs), then pass a feed-forward layer. Video-LLaMA puts a
learned position embedding on each frame's tokens (all tokens of frame t get embedding t), flattens
frames × tokens into one sequence, and lets 32 queries read it in 2 layers (the video Q-Former);
the audio Q-Former reads 8 segment embeddings with 8 queries. Compared with Flamingo's Perceiver
Resampler (`minivlm.resampler`), which attends to [inputs; latents] in one attention, the
Q-Former keeps the queries' self-attention and their cross-attention apart, as BLIP-2's BERT
layers do. Attention is torch's `scaled_dot_product_attention`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .resampler import feed_forward, merge_heads, split_heads


def cross_attention(queries: torch.Tensor, inputs: torch.Tensor, heads: int) -> torch.Tensor:
    """Multi-head attention of queries (B, Q, D) — already projected — over inputs (B, S, 2D)
    holding keys then values: (B, Q, D). Each query's output is the softmax(q·k/√d)-weighted mean
    of the values. Built in notebook 05."""
    k, v = inputs.chunk(2, dim=-1)
    q, k, v = (split_heads(t, heads) for t in (queries, k, v))
    return merge_heads(F.scaled_dot_product_attention(q, k, v))


class QFormerLayer(nn.Module):
    """Pre-norm BLIP-2 layer: queries += SelfAttn(queries); queries += CrossAttn(queries → inputs);
    queries += FF(queries)."""

    def __init__(self, dim: int, heads: int = 4, ff_mult: int = 2):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim={dim} must be divisible by heads={heads}")
        self.heads = heads
        self.self_norm = nn.LayerNorm(dim)
        self.self_attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.cross_norm, self.input_norm = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_kv = nn.Linear(dim, 2 * dim, bias=False)
        self.to_out = nn.Linear(dim, dim, bias=False)
        self.ff = feed_forward(dim, ff_mult)

    def forward(self, queries: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        """queries (B, Q, D), inputs (B, S, D) → queries (B, Q, D)"""
        x = self.self_norm(queries)
        queries = queries + self.self_attn(x, x, x, need_weights=False)[0]
        q = self.to_q(self.cross_norm(queries))
        queries = queries + self.to_out(cross_attention(q, self.to_kv(self.input_norm(inputs)), self.heads))
        return queries + self.ff(queries)


class QFormer(nn.Module):
    """Video-LLaMA's video / audio Q-Former: frame tokens (B, T, P, D) + a learned position
    embedding per frame (or audio segment) → `num_queries` tokens (B, num_queries, D).

    `positions=False` drops the position embeddings (the order of frames is then invisible).
    Video-LLaMA: 32 queries and 2 layers for video, 8 queries and 2 layers for audio."""

    def __init__(self, dim: int, num_queries: int = 32, depth: int = 2, heads: int = 4, ff_mult: int = 2,
                 max_frames: int = 32, positions: bool = True):
        super().__init__()
        self.num_queries, self.max_frames = num_queries, max_frames
        self.queries = nn.Parameter(torch.randn(num_queries, dim) * 0.02)
        self.position = nn.Parameter(torch.randn(max_frames, 1, dim) * 0.02) if positions else None
        self.layers = nn.ModuleList(QFormerLayer(dim, heads, ff_mult) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)

    def num_tokens(self, num_frames: int, num_patches: int) -> int:
        return self.num_queries

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, P, D) → (B, num_queries, D)"""
        if x.ndim != 4:
            raise ValueError(f"the Q-Former expects frame tokens (B, T, P, D), got shape {tuple(x.shape)}")
        b, t = x.shape[:2]
        if self.position is not None:
            if t > self.max_frames:
                raise ValueError(f"{t} frames but the Q-Former has position embeddings for {self.max_frames}; "
                                 "build it with a larger max_frames or sample fewer frames")
            x = x + self.position[:t]  # (T, 1, D): every token of frame t gets embedding t
        inputs = x.flatten(1, 2)  # (B, T·P, D)
        queries = self.queries.expand(b, -1, -1)
        for layer in self.layers:
            queries = layer(queries, inputs)
        return self.norm(queries)
