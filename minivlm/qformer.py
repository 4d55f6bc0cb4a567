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

    def keys_values(self, inputs: torch.Tensor) -> torch.Tensor:
        """inputs (B, S, D) → their keys and values (B, S, 2D), as the cross-attention reads them."""
        return self.to_kv(self.input_norm(inputs))

    def forward(self, queries: torch.Tensor, inputs: torch.Tensor | None, windows: int = 1,
                self_mask: torch.Tensor | None = None, kv: torch.Tensor | None = None) -> torch.Tensor:
        """queries (B, Q, D), inputs (B, S, D) → queries (B, Q, D).

        windows > 1 (video-SALMONN's windows, `MRCQFormer`): the queries are W groups of Q / W and
        the inputs W groups of S / W; group w of the queries reads only group w of the inputs.
        self_mask (Q, Q) bool, True where a query may *not* look (nn.MultiheadAttention's convention).
        kv: the inputs' `keys_values`, when already computed (then inputs may be None)."""
        x = self.self_norm(queries)
        queries = queries + self.self_attn(x, x, x, attn_mask=self_mask, need_weights=False)[0]
        q = self.to_q(self.cross_norm(queries))
        kv = self.keys_values(inputs) if kv is None else kv
        b, d = queries.shape[0], queries.shape[-1]
        read = cross_attention(q.reshape(b * windows, -1, d), kv.reshape(b * windows, -1, 2 * d), self.heads)
        queries = queries + self.to_out(read.reshape(queries.shape))
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


def query_similarity(queries: torch.Tensor) -> torch.Tensor:
    """video-SALMONN's diversity measure: queries (…, N, D) — the N query outputs of each window —
    → the mean, over windows, of the mean cosine similarity of every pair of different queries
    (off the diagonal). A scalar; 0 with N < 2. Built in notebook 09."""
    n = queries.shape[-2]
    if n < 2:
        return queries.new_zeros(())
    unit = F.normalize(queries, dim=-1)
    sims = unit @ unit.transpose(-1, -2)  # (…, N, N)
    off = ~torch.eye(n, dtype=torch.bool, device=queries.device)
    return sims[..., off].mean()


def causal_window_mask(windows: int, queries: int, device=None) -> torch.Tensor:
    """(W·N, W·N) bool, True where a query may not look: the queries of window w see the queries of
    windows 0 … w (their own and earlier ones), never later ones."""
    window = torch.arange(windows, device=device).repeat_interleave(queries)
    return window[None, :] > window[:, None]


class MRCQFormer(nn.Module):
    """video-SALMONN's multi-resolution causal (MRC) Q-Former: steps (B, T, P, D) — one per
    `sync_seconds` window, each holding a frame's tokens beside its audio frames — → (B, N, D).

    One Q-Former (shared layers) runs at several resolutions (`resolutions`: (w, n) pairs = windows
    of w steps read by n queries of their own): at each, the steps are cut into windows, the
    queries of window k read only window k's inputs (cross-attention) and, with `causal`, attend to
    the queries of windows ≤ k (self-attention). Tokens per step n / w must be equal across
    resolutions, so every resolution gives the same number of tokens, in time order; they are
    concatenated along the feature dimension and merged by a linear layer (video-SALMONN: 5 s × 30
    queries and 0.5 s × 3 queries, then a joint projection). `width`: the Q-Former's own width (the
    inputs are projected to it; default: their width). T is padded with empty steps to a
    multiple of the longest window. After each forward, `similarity` holds the query outputs'
    mean pairwise cosine similarity (`query_similarity`, averaged over resolutions): the diversity
    loss video-SALMONN adds to its training loss (weight 0.01)."""

    def __init__(self, dim: int, resolutions=((4, 8), (1, 2)), depth: int = 2, heads: int = 4, ff_mult: int = 2,
                 max_frames: int = 32, causal: bool = True, width: int | None = None):
        super().__init__()
        self.resolutions = tuple((int(w), int(n)) for w, n in resolutions)
        if not self.resolutions or any(w < 1 or n < 1 for w, n in self.resolutions):
            raise ValueError(f"resolutions must be (window steps, queries) pairs ≥ 1, got {resolutions}")
        rates = {n / w for w, n in self.resolutions}
        if len(rates) > 1:
            raise ValueError(f"every resolution must give the same tokens per step (queries / window), got "
                             f"{self.resolutions}; e.g. ((4, 8), (1, 2))")
        self.span = max(w for w, _ in self.resolutions)
        self.max_frames, self.causal = max_frames, causal
        width = width or dim  # the Q-Former's own width (BLIP-2's is 768, whatever its inputs)
        self.project = nn.Linear(dim, width) if width != dim else nn.Identity()
        self.queries = nn.ParameterList(nn.Parameter(torch.randn(n, width) * 0.02) for _, n in self.resolutions)
        self.position = nn.Parameter(torch.randn(max_frames, 1, width) * 0.02)
        self.layers = nn.ModuleList(QFormerLayer(width, heads, ff_mult) for _ in range(depth))
        self.norm = nn.LayerNorm(width)
        r = len(self.resolutions)
        self.merge = nn.Linear(r * width, dim) if r > 1 or width != dim else nn.Identity()
        self.similarity: torch.Tensor | None = None

    def num_tokens(self, num_frames: int, num_patches: int) -> int:
        w, n = self.resolutions[0]
        return -(-num_frames // self.span) * self.span // w * n

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, P, D) → (B, num_tokens(T, P), D)"""
        if x.ndim != 4:
            raise ValueError(f"the MRC Q-Former expects steps (B, T, P, D), got shape {tuple(x.shape)}")
        x = self.project(x)
        b, t, p, d = x.shape
        padded = -(-t // self.span) * self.span
        if padded > self.max_frames:
            raise ValueError(f"{t} steps (padded to {padded}) but the Q-Former has position embeddings for "
                             f"{self.max_frames}; build it with a larger max_frames or give a shorter clip")
        x = F.pad(x + self.position[:t], (0, 0, 0, 0, 0, padded - t))  # empty steps at the end
        inputs = x.reshape(b, padded * p, d)  # steps in time order: a window's steps lie side by side
        windows = [padded // w for w, _ in self.resolutions]
        masks = [causal_window_mask(k, n, x.device) if self.causal else None
                 for k, (_, n) in zip(windows, self.resolutions)]
        qs = [q.expand(b * k, n, d).reshape(b, k * n, d) for q, k, (_, n) in zip(self.queries, windows, self.resolutions)]
        for layer in self.layers:
            kv = layer.keys_values(inputs)  # the same inputs at every resolution: computed once per layer
            qs = [layer(q, None, windows=k, self_mask=m, kv=kv) for q, k, m in zip(qs, windows, masks)]
        outs, sims = [], []
        for q, k, (_, n) in zip(qs, windows, self.resolutions):
            q = self.norm(q)
            sims.append(query_similarity(q.view(b, k, n, d)))
            outs.append(q)
        self.similarity = torch.stack(sims).mean()
        return self.merge(torch.cat(outs, dim=-1))
