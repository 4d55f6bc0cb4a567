"""Gated cross-attention into a frozen LM (Flamingo, Alayrac et al. 2022), built in notebook 02.

    text ──► [GATED XATTN-DENSE ─► frozen LM layer] × L ─► next-token logits
                   ▲ keys, values: visual tokens of the text's own media

- Media masking: each text token sees only the most recent media at or before it (the media's own
  placeholder and the text after it, up to the next placeholder); text before the first media
  sees none.
- `GatedCrossAttentionBlock`: text tokens cross-attend to visual tokens, then a feed-forward; each
  is added to the residual stream scaled by tanh(alpha), alpha = 0 at init, so the model starts
  *exactly* as the frozen LM.
- `CrossAttentionLayer` wraps a transformers decoder layer at run time (no fork of transformers).

Shapes: visual tokens (B, M, N, D_lm) with a validity mask (B, M, N) — items may have different
token counts; input_ids (B, L); media index (B, L) with values 0…M.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .resampler import feed_forward, merge_heads, split_heads


def media_index(input_ids: torch.Tensor, media_token_ids: Sequence[int]) -> torch.Tensor:
    """input_ids (B, L) → (B, L) long: for each token, the number (1…M) of the most recent media
    placeholder at or before it, 0 when no media came yet."""
    markers = torch.isin(input_ids, torch.as_tensor(list(media_token_ids), device=input_ids.device))
    return markers.long().cumsum(dim=1)


def media_attention_mask(index: torch.Tensor, visual_mask: torch.Tensor) -> torch.Tensor:
    """index (B, L) from `media_index`, visual_mask (B, M, N) (which visual tokens are real) →
    mask (B, L, M·N), True where a text token may attend: the tokens of its own media only."""
    b, m, n = visual_mask.shape
    media_of_key = torch.arange(1, m + 1, device=index.device).repeat_interleave(n)  # (M·N,)
    return (index[:, :, None] == media_of_key) & visual_mask.reshape(b, 1, m * n)


def tanh_gated_residual(x: torch.Tensor, update: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """x + tanh(alpha) · update: with alpha = 0 the residual stream passes unchanged."""
    return x + torch.tanh(alpha) * update


class MaskedCrossAttention(nn.Module):
    """Text tokens (queries) attend to visual tokens (keys, values) of their own media only."""

    def __init__(self, dim: int, heads: int = 4):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim={dim} must be divisible by heads={heads}")
        self.heads = heads
        self.norm = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_kv = nn.Linear(dim, 2 * dim, bias=False)
        self.to_out = nn.Linear(dim, dim, bias=False)

    def forward(self, x: torch.Tensor, visual: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x (B, L, D), visual (B, S, D), mask (B, L, S) bool → (B, L, D); zero for a text token
        that may see no visual token."""
        k, v = self.to_kv(visual).chunk(2, dim=-1)
        q, k, v = (split_heads(t, self.heads) for t in (self.to_q(self.norm(x)), k, v))
        sees = mask.any(-1, keepdim=True)  # (B, L, 1)
        # a row with nothing to see would be all -inf (NaN); let it see everything, then zero it
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=(mask | ~sees)[:, None])
        return self.to_out(merge_heads(out)) * sees

    @torch.no_grad()
    def attention_weights(self, x: torch.Tensor, visual: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The attention `forward` computes, written out to be looked at: x (B, L, D), visual
        (B, S, D), mask (B, L, S) → weights (B, heads, L, S); each row sums to 1 over the visual
        tokens the text token may see, and is all zeros for a token that may see none."""
        k = self.to_kv(visual).chunk(2, dim=-1)[0]
        q, k = split_heads(self.to_q(self.norm(x)), self.heads), split_heads(k, self.heads)
        scores = (q @ k.transpose(-1, -2)) / q.shape[-1] ** 0.5
        weights = scores.masked_fill(~mask[:, None], float("-inf")).softmax(-1)
        return weights.nan_to_num(0.0)  # rows with nothing to see: softmax over all -inf gives NaN


class GatedCrossAttentionBlock(nn.Module):
    """GATED XATTN-DENSE: x += tanh(α_attn)·xattn(x, visual); x += tanh(α_dense)·ffw(x).
    Both α start at 0 (`gated=False` drops the tanh gates: plain residuals, for the ablation)."""

    def __init__(self, dim: int, heads: int = 4, ff_mult: int = 4, gated: bool = True):
        super().__init__()
        self.attn = MaskedCrossAttention(dim, heads)
        self.ff = feed_forward(dim, ff_mult)
        self.gated = gated
        self.attn_gate = nn.Parameter(torch.zeros(1))
        self.ff_gate = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, visual: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x (B, L, D), visual (B, S, D), mask (B, L, S) → (B, L, D)"""
        if not self.gated:
            x = x + self.attn(x, visual, mask)
            return x + self.ff(x)
        x = tanh_gated_residual(x, self.attn(x, visual, mask), self.attn_gate)
        return tanh_gated_residual(x, self.ff(x), self.ff_gate)


class MediaContext:
    """What the wrapped layers read during one LM call: the visual tokens (B, S, D) and the
    text-to-visual mask of the prompt (B, L, S). Set by the model around each LM call."""

    def __init__(self):
        self.visual: torch.Tensor | None = None
        self.mask: torch.Tensor | None = None

    def set(self, visual: torch.Tensor | None, mask: torch.Tensor | None) -> None:
        self.visual, self.mask = visual, mask

    def mask_for(self, length: int) -> torch.Tensor:
        """The mask rows for a call over `length` tokens: the whole prompt, or — when the LM
        decodes one new token at a time with its KV cache — the last prompt token's row (new text
        stays with the last media, as in open_flamingo)."""
        if self.mask is None:
            raise RuntimeError("no media mask set; call the LM through the model")
        return self.mask if self.mask.shape[1] == length else self.mask[:, -1:].expand(-1, length, -1)


class CrossAttentionLayer(nn.Module):
    """A transformers decoder layer with a gated cross-attention block run before it.

    The block is held in a plain attribute (it is registered once, in the model's
    `cross_attention` list); without media in the context the layer is the decoder layer alone.
    """

    def __init__(self, decoder_layer: nn.Module, block: GatedCrossAttentionBlock, context: MediaContext):
        super().__init__()
        self.decoder_layer = decoder_layer
        self._block = [block]  # a list, so that nn.Module does not register it a second time
        self._context = context

    def forward(self, hidden_states: torch.Tensor, *args, **kwargs):
        ctx = self._context
        if ctx.visual is not None:
            mask = ctx.mask_for(hidden_states.shape[1])
            hidden_states = self._block[0](hidden_states, ctx.visual.to(hidden_states.dtype), mask)
        return self.decoder_layer(hidden_states, *args, **kwargs)


def decoder_layers(lm: nn.Module) -> nn.ModuleList:
    """The ModuleList of a transformers causal LM's decoder layers (Llama, Qwen2, Mistral, …)."""
    base = getattr(lm, getattr(lm, "base_model_prefix", "model"), None)
    layers = getattr(base, "layers", None)
    if not isinstance(layers, nn.ModuleList):
        raise TypeError(f"cannot find the decoder layers of {type(lm).__name__} (expected lm.model.layers)")
    return layers
