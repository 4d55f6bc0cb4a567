"""Reducers: choose which vision tokens reach the LM, and how many.

Input is always frame tokens (B, T, P, D) — T frames of P patch tokens — and output a token
sequence (B, N, D). `num_tokens(T, P)` says N, so prompts can hold exactly N slots.
`REDUCERS` names them for `VLMConfig.reducer`; `build_reducer(name, dim, **args)` builds one.
"""

from __future__ import annotations

import torch
from torch import nn

from .qformer import MRCQFormer, QFormer
from .resampler import PerceiverResampler


class ConcatFrames(nn.Module):
    """Keep every token: the frames' patch tokens one after another (N = T * P)."""

    def __init__(self):
        super().__init__()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, P, D) → (B, T*P, D)"""
        return x.flatten(1, 2)

    def num_tokens(self, num_frames: int, num_patches: int) -> int:
        return num_frames * num_patches


def _check_frames(x: torch.Tensor) -> None:
    if x.ndim != 4:
        raise ValueError(f"a reducer takes frame tokens (B, T, P, D) — batch, frames, patches, width — "
                         f"got shape {tuple(x.shape)}")


class SpatioTemporalPool(nn.Module):
    """Video-ChatGPT's spatio-temporal pooling (Maaz et al., 2023). Built in notebook 04.

    Average over space in each frame → T "temporal" tokens (what the whole frame looks like at
    each moment); average over time at each patch → P "spatial" tokens (what each place looks
    like over the clip). The two are concatenated, temporal first: N = T + P tokens instead of
    T * P. Parameter-free.
    """

    def __init__(self):
        super().__init__()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, P, D) → (B, T + P, D): [mean over P for each frame ; mean over T for each patch]"""
        _check_frames(x)
        return torch.cat([x.mean(2), x.mean(1)], dim=1)

    def num_tokens(self, num_frames: int, num_patches: int) -> int:
        return num_frames + num_patches


class ValleyTemporal(nn.Module):
    """Valley's temporal modelling module, the transformer variant (Luo et al., 2023, "v3").
    Built in notebook 04.

    Valley's first module averaged each patch over time (P tokens) and added one global token
    per frame (T tokens); averaging loses the order of frames ("temporal confusion"). The third
    module first lets every patch position look across frames with a 1-layer transformer encoder
    (with a learned time embedding, so order is visible), then averages over time. The frame
    tokens (a per-frame summary; Valley uses CLIP's [CLS] token, here the frame's mean patch
    token) are concatenated as in the paper: N = P + T tokens. The encoder layer is residual,
    so at initialisation the pooled tokens are close to a plain time average.
    """

    def __init__(self, dim: int, num_heads: int = 4, max_frames: int = 64, dropout: float = 0.0,
                 time_init_std: float = 0.1):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim={dim} must be divisible by num_heads={num_heads}")
        self.time_embedding = nn.Parameter(torch.randn(max_frames, dim) * time_init_std)
        self.encoder = nn.TransformerEncoderLayer(dim, num_heads, dim_feedforward=2 * dim, dropout=dropout,
                                                  activation="gelu", batch_first=True, norm_first=True)
        self.max_frames = max_frames

    def temporal(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, P, D) → (B, P, T, D): each patch position's sequence over time, encoded."""
        b, t, p, d = x.shape
        if t > self.max_frames:
            raise ValueError(f"{t} frames, but the module was built for at most max_frames={self.max_frames}")
        seq = x.permute(0, 2, 1, 3).reshape(b * p, t, d) + self.time_embedding[:t]
        return self.encoder(seq).view(b, p, t, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, P, D) → (B, P + T, D): [time-pooled, transformer-encoded patches ; frame tokens]"""
        _check_frames(x)
        pooled = self.temporal(x).mean(2)  # (B, P, D): each place, over the whole clip
        return torch.cat([pooled, x.mean(2)], dim=1)

    def num_tokens(self, num_frames: int, num_patches: int) -> int:
        return num_patches + num_frames


class SlowFastTokens(nn.Module):
    """LITA's SlowFast video tokens (Huang et al., 2024). Built in notebook 07.

    Fast tokens: each frame's patch tokens averaged into one — T tokens, one per frame, so the
    LM sees every moment (what the whole frame holds then). Slow tokens: `slow_frames` frames
    chosen evenly (indices round(linspace(0, T − 1, s))), each average-pooled over `pool` × `pool`
    patches — fewer places, more detail. Concatenated, fast first: N = T + s · P / pool² (LITA:
    100 + 4 · 64 = 356 instead of 100 · 256). `fast=False` or `slow=False` keeps one kind only
    (the paper's "slow tokens only" ablation). Parameter-free; the patch grid must be square.
    """

    def __init__(self, slow_frames: int = 4, pool: int = 2, fast: bool = True, slow: bool = True):
        super().__init__()
        if not (fast or slow):
            raise ValueError("SlowFastTokens needs fast or slow tokens (or both); got neither")
        if slow_frames < 1 or pool < 1:
            raise ValueError(f"slow_frames and pool must be ≥ 1, got {slow_frames} and {pool}")
        self.slow_frames, self.pool, self.fast, self.slow = slow_frames, pool, fast, slow

    def slow_indices(self, num_frames: int) -> torch.Tensor:
        """Which frames give slow tokens: min(s, T) evenly spaced frame indices, first and last included."""
        count = min(self.slow_frames, num_frames)
        return torch.linspace(0, num_frames - 1, count).round().long()

    def _grid(self, num_patches: int) -> int:
        side = int(round(num_patches ** 0.5))
        if side * side != num_patches or side % self.pool:
            raise ValueError(f"slow tokens pool a square patch grid by {self.pool}, but frames have {num_patches} "
                             "tokens; build the encoder with keep_cls=False and a grid divisible by the pool")
        return side

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, P, D) → (B, N, D): [fast: mean over P per frame (B, T, D) ; slow: (B, s·P/pool², D)]"""
        _check_frames(x)
        b, t, p, d = x.shape
        out = [x.mean(2)] if self.fast else []
        if self.slow:
            side = self._grid(p)
            frames = x[:, self.slow_indices(t)]  # (B, s, P, D)
            grid = frames.reshape(-1, side, side, d).permute(0, 3, 1, 2)  # (B·s, D, g, g)
            pooled = nn.functional.avg_pool2d(grid, self.pool)  # (B·s, D, g/pool, g/pool)
            out.append(pooled.flatten(2).transpose(1, 2).reshape(b, -1, d))
        return torch.cat(out, dim=1)

    def num_tokens(self, num_frames: int, num_patches: int) -> int:
        slow = min(self.slow_frames, num_frames) * num_patches // self.pool**2 if self.slow else 0
        return (num_frames if self.fast else 0) + slow


class AdaptivePool(nn.Module):
    """PLLaVA's pooling (Xu et al., 2024): adaptive average pooling of a clip's frame tokens to a
    target grid of time × height × width. Built in notebook 08.

    The frames' patch tokens (B, T, P, D), P = H × W on a square grid, are viewed as a
    (D, T, H, W) volume and averaged into (time, height, width) cells — a cell may span several
    frames (pooling over time) or several neighbouring patches (pooling over space). PLLaVA keeps
    every frame and halves each side of the grid (16 × 24 × 24 → 16 × 12 × 12): pooling over
    space costs little, pooling over time always hurt. `time=None` keeps every frame; a target
    larger than the input keeps the input's size. N = t' · h' · w' tokens, in (time, row, column)
    order. Parameter-free.
    """

    def __init__(self, time: int | None = None, height: int = 2, width: int = 2):
        super().__init__()
        if (time is not None and time < 1) or height < 1 or width < 1:
            raise ValueError(f"the target shape must be ≥ 1 on every axis, got time={time}, height={height}, width={width}")
        self.time, self.height, self.width = time, height, width

    @staticmethod
    def grid_side(num_patches: int) -> int:
        """The side of a square patch grid of num_patches tokens."""
        side = int(round(num_patches ** 0.5))
        if side * side != num_patches:
            raise ValueError(f"adaptive pooling needs a square patch grid, but frames have {num_patches} tokens; "
                             "build the encoder with keep_cls=False")
        return side

    def target(self, num_frames: int, num_patches: int) -> tuple[int, int, int]:
        """The output grid (t', h', w') for T frames of P patches (never larger than the input)."""
        side = self.grid_side(num_patches)
        time = num_frames if self.time is None else min(self.time, num_frames)
        return time, min(self.height, side), min(self.width, side)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, P, D) → (B, t'·h'·w', D): each output token the mean of one cell of the (T, H, W) grid"""
        _check_frames(x)
        b, t, p, d = x.shape
        side = self.grid_side(p)
        volume = x.reshape(b, t, side, side, d).permute(0, 4, 1, 2, 3)  # (B, D, T, H, W)
        pooled = nn.functional.adaptive_avg_pool3d(volume, self.target(t, p))  # (B, D, t', h', w')
        return pooled.flatten(2).transpose(1, 2)  # (B, t'·h'·w', D)

    def num_tokens(self, num_frames: int, num_patches: int) -> int:
        time, height, width = self.target(num_frames, num_patches)
        return time * height * width


REDUCERS = {
    "concat": lambda dim, **args: ConcatFrames(**args),  # LLaVA: every token
    "spatio_temporal": lambda dim, **args: SpatioTemporalPool(**args),  # Video-ChatGPT (notebook 04)
    "valley": ValleyTemporal,  # Valley's temporal module (notebook 04)
    "perceiver": PerceiverResampler,  # Flamingo (notebook 02)
    "qformer": QFormer,  # Video-LLaMA's video and audio Q-Formers (notebook 05)
    "adaptive_pool": lambda dim, **args: AdaptivePool(**args),  # PLLaVA (notebook 08)
    "slowfast": lambda dim, **args: SlowFastTokens(**args),  # LITA (notebook 07)
    "mrc_qformer": MRCQFormer,  # video-SALMONN's multi-resolution causal Q-Former (notebook 09)
}


def build_reducer(name: str, dim: int, max_frames: int = 16, **args) -> nn.Module:
    """A reducer by name (see REDUCERS) for features of width `dim`."""
    if name not in REDUCERS:
        raise ValueError(f"unknown reducer {name!r}; use one of {sorted(REDUCERS)}")
    if name in ("valley", "perceiver", "qformer", "mrc_qformer"):
        args = {"max_frames": max_frames, **args}
    return REDUCERS[name](dim, **args)
