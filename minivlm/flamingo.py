"""Flamingo (Alayrac et al., 2022): a frozen LM that looks at images through gated cross-attention.

    media ─► frozen vision encoder ─► Perceiver Resampler ─► N visual tokens per media
                                                                    │ (keys, values)
    text ──► [GATED XATTN-DENSE ─► frozen LM layer] × L ─► next-token logits

- `PerceiverResampler`: a few learned latent queries cross-attend to every frame's patch tokens
  (plus a learned embedding per frame index), so any number of frames × patches becomes a fixed
  number of visual tokens.
- `GatedCrossAttentionBlock`: text tokens cross-attend to visual tokens, then a feed-forward;
  each is added to the residual stream scaled by tanh(alpha), alpha = 0 at init, so the model
  starts *exactly* as the frozen LM.
- Media masking: each text token sees only the most recent media at or before it (the media's
  own `<image>`/`<video>` marker and the text after it, up to the next marker); text before the
  first media sees none.
- `FlamingoLayer` wraps a transformers decoder layer at run time (no fork of transformers): it
  runs its gated block first, then the frozen layer.
- `FlamingoVLM`: the sibling of `LanguageStreamVLM` in the `VLM` family; `generate` runs its own
  loop over the LM's KV cache.

Shapes: vision_features (B, M, T, P, D_v) — M media per sample, T frames each, P patches;
visual tokens (B, M, N, D_lm); input_ids (B, L); media index (B, L) with values 0…M.
"""

from __future__ import annotations

import inspect
import math
from typing import Callable, Sequence

import torch
from torch import nn
from transformers import DynamicCache

from .connectors import Linear
from .lm import MEDIA_TOKENS, position_ids
from .parts import register
from .vlm import PARTS_TRAINABLE, VLM, VisionTokenizer, register_vlm
from .vision import VisionEncoder

FLAMINGO_PARTS = (*PARTS_TRAINABLE, "cross_attention")


def _cache_argument() -> str:
    """transformers renamed `past_key_values` to `cache` (5.x); use whichever this version takes."""
    from transformers import LlamaForCausalLM

    return "cache" if "cache" in inspect.signature(LlamaForCausalLM.forward).parameters else "past_key_values"


_CACHE_ARG = _cache_argument()


def feed_forward(dim: int, mult: int = 4) -> nn.Sequential:
    """Pre-norm feed-forward: LayerNorm → Linear(dim, mult·dim) → GELU → Linear(mult·dim, dim)."""
    return nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, mult * dim), nn.GELU(), nn.Linear(mult * dim, dim))


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int,
           mask: torch.Tensor | None = None) -> torch.Tensor:
    """Multi-head attention. q (B, L, D), k and v (B, S, D), mask (B, L, S) bool (True = may
    attend) → (B, L, D). Rows whose mask is all False get a zero output."""
    b, L, d = q.shape
    q, k, v = (t.reshape(b, -1, heads, d // heads).transpose(1, 2) for t in (q, k, v))  # (B, H, ·, d_h)
    scores = q @ k.transpose(-1, -2) / math.sqrt(d // heads)  # (B, H, L, S)
    if mask is not None:
        # a large finite negative, not -inf: a row with nothing to see stays finite (then zeroed)
        scores = scores.masked_fill(~mask[:, None], torch.finfo(scores.dtype).min)
    weights = scores.softmax(-1)
    if mask is not None:
        weights = weights * mask.any(-1)[:, None, :, None]
    out = weights @ v  # (B, H, L, d_h)
    return out.transpose(1, 2).reshape(b, L, d)


# ---- the Perceiver Resampler -----------------------------------------------------------------
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
        return self.to_out(attend(self.to_q(latents), k, v, self.heads))


@register
class PerceiverResampler(nn.Module):
    """Flamingo's vision tokenizer: any number of frames × patches → `num_latents` tokens.

    Learned latent queries attend, layer after layer, to the media's tokens (each frame's tokens
    plus a learned embedding of the frame's index — `temporal=False` drops it, and then the
    resampler cannot tell the frames' order) and to themselves. Flamingo used 64 latents and 6
    layers; a toy world needs far fewer. forward: (B, T, P, D) → (B, num_latents, D).
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


# ---- media masking ---------------------------------------------------------------------------
def media_index(input_ids: torch.Tensor, media_token_ids: Sequence[int]) -> torch.Tensor:
    """input_ids (B, L) → (B, L) long: for each token, the number (1…M) of the most recent media
    marker at or before it, 0 when no media came yet."""
    markers = torch.isin(input_ids, torch.as_tensor(list(media_token_ids), device=input_ids.device))
    return markers.long().cumsum(dim=1)


def media_attention_mask(index: torch.Tensor, num_media: int, tokens_per_media: int) -> torch.Tensor:
    """index (B, L) from `media_index` → mask (B, L, M·N), True where a text token may attend:
    the N visual tokens of its own media, none when index is 0."""
    media_of_key = torch.arange(1, num_media + 1, device=index.device).repeat_interleave(tokens_per_media)
    return index[:, :, None] == media_of_key[None, None, :]


def tanh_gated_residual(x: torch.Tensor, update: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """x + tanh(alpha) · update: with alpha = 0 the residual stream passes unchanged."""
    return x + torch.tanh(alpha) * update


# ---- the gated cross-attention dense block ----------------------------------------------------
class MaskedCrossAttention(nn.Module):
    """Text tokens (queries) attend to visual tokens (keys, values) of their own media only."""

    def __init__(self, dim: int, heads: int = 4, visual_dim: int | None = None):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim={dim} must be divisible by heads={heads}")
        self.heads = heads
        self.norm = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_kv = nn.Linear(visual_dim or dim, 2 * dim, bias=False)
        self.to_out = nn.Linear(dim, dim, bias=False)

    def forward(self, x: torch.Tensor, visual: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """x (B, L, D), visual (B, M, N, D_v), index (B, L) → (B, L, D); zero for tokens with index 0."""
        b, m, n, _ = visual.shape
        k, v = self.to_kv(visual.reshape(b, m * n, -1)).chunk(2, dim=-1)
        mask = media_attention_mask(index, m, n)
        return self.to_out(attend(self.to_q(self.norm(x)), k, v, self.heads, mask))


class GatedCrossAttentionBlock(nn.Module):
    """GATED XATTN-DENSE: x += tanh(α_attn)·xattn(x, visual); x += tanh(α_dense)·ffw(x).
    Both α start at 0 (`gated=False` drops the tanh gates: plain residuals, for the ablation)."""

    def __init__(self, dim: int, heads: int = 4, ff_mult: int = 4, visual_dim: int | None = None, gated: bool = True,
                 gate_lr_scale: float = 1.0):
        super().__init__()
        self.attn = MaskedCrossAttention(dim, heads, visual_dim)
        self.ff = feed_forward(dim, ff_mult)
        self.gated = gated
        self.attn_gate = nn.Parameter(torch.zeros(1))
        self.ff_gate = nn.Parameter(torch.zeros(1))
        self.lr_scales = {"attn_gate": gate_lr_scale, "ff_gate": gate_lr_scale}  # read by minivlm.train
        if not gated:
            self.attn_gate.requires_grad_(False)
            self.ff_gate.requires_grad_(False)

    def forward(self, x: torch.Tensor, visual: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """x (B, L, D), visual (B, M, N, D_v), index (B, L) → (B, L, D)"""
        if not self.gated:
            x = x + self.attn(x, visual, index)
            return x + self.ff(x)
        x = tanh_gated_residual(x, self.attn(x, visual, index), self.attn_gate)
        return tanh_gated_residual(x, self.ff(x), self.ff_gate)


class MediaContext:
    """What the wrapped layers read during one LM call: visual tokens (B, M, N, D) and the media
    index of the tokens being processed (B, L). Set by FlamingoVLM, not by hand."""

    def __init__(self):
        self.visual: torch.Tensor | None = None
        self.index: torch.Tensor | None = None

    def set(self, visual: torch.Tensor | None, index: torch.Tensor | None) -> None:
        self.visual, self.index = visual, index


class FlamingoLayer(nn.Module):
    """A transformers decoder layer with a gated cross-attention block run before it.

    The block is held in a plain attribute (it is registered once, in FlamingoVLM.cross_attention);
    without media in the context the layer behaves exactly as the decoder layer alone.
    """

    def __init__(self, decoder_layer: nn.Module, block: GatedCrossAttentionBlock, context: MediaContext):
        super().__init__()
        self.decoder_layer = decoder_layer
        self._block = [block]  # a list, so that nn.Module does not register it a second time
        self._context = context

    def forward(self, hidden_states: torch.Tensor, *args, **kwargs):
        ctx = self._context
        if ctx.visual is not None:
            if ctx.index is None or ctx.index.shape != hidden_states.shape[:2]:
                raise RuntimeError("the media index does not match the tokens; call the model through FlamingoVLM")
            hidden_states = self._block[0](hidden_states, ctx.visual.to(hidden_states.dtype), ctx.index)
        return self.decoder_layer(hidden_states, *args, **kwargs)


def decoder_layers(lm: nn.Module) -> nn.ModuleList:
    """The ModuleList of a transformers causal LM's decoder layers (Llama, Qwen2, Mistral, …)."""
    base = getattr(lm, getattr(lm, "base_model_prefix", "model"), None)
    layers = getattr(base, "layers", None)
    if not isinstance(layers, nn.ModuleList):
        raise TypeError(f"cannot find the decoder layers of {type(lm).__name__} (expected lm.model.layers)")
    return layers


def insert_layers(lm: nn.Module) -> list[int]:
    """Indices of the decoder layers that are wrapped (FlamingoLayer)."""
    return [i for i, layer in enumerate(decoder_layers(lm)) if isinstance(layer, FlamingoLayer)]


# ---- the model -------------------------------------------------------------------------------
@register_vlm
class FlamingoVLM(VLM):
    """Cross-attention fusion: a frozen LM, a GATED XATTN-DENSE block before every
    `cross_attn_every`-th decoder layer (1: every layer, as Flamingo-3B; Flamingo-80B every 7th).

    Parts to train: 'vision_tokenizer' (resampler + projection) and 'cross_attention' (the blocks);
    'lm' and 'vision_encoder' stay frozen in Flamingo.
    """

    def __init__(self, vision_encoder: VisionEncoder, vision_tokenizer: nn.Module, lm: nn.Module, tokenizer,
                 cross_attn_every: int = 1, heads: int = 4, ff_mult: int = 4, gated: bool = True,
                 gate_lr_scale: float = 10.0, seed: int = 0):
        super().__init__(vision_encoder, vision_tokenizer, lm, tokenizer)
        if cross_attn_every < 1:
            raise ValueError(f"cross_attn_every must be ≥ 1, got {cross_attn_every}")
        layers = decoder_layers(lm)
        if any(isinstance(layer, FlamingoLayer) for layer in layers):
            raise ValueError("this LM already has cross-attention layers; give FlamingoVLM a plain LM")
        self.cross_attn_every, self.heads, self.ff_mult, self.gated = cross_attn_every, heads, ff_mult, gated
        self.gate_lr_scale = gate_lr_scale
        dim = lm.config.hidden_size
        self.context = MediaContext()
        positions = list(range(0, len(layers), cross_attn_every))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.cross_attention = nn.ModuleList(
                GatedCrossAttentionBlock(dim, heads, ff_mult, gated=gated, gate_lr_scale=gate_lr_scale)
                for _ in positions)
        for block, i in zip(self.cross_attention, positions):
            layers[i] = FlamingoLayer(layers[i], block, self.context)
        self.requires_grad_(True)
        self.set_trainable("vision_tokenizer", "cross_attention")

    # ---- parts ----------------------------------------------------------------------------
    def lm_parameters(self) -> list[nn.Parameter]:
        """The LM's own weights (not the inserted blocks)."""
        return list(self.lm.parameters())

    trainable_parts = FLAMINGO_PARTS

    def set_trainable(self, *parts: str) -> None:
        """As VLM.set_trainable, with the extra part 'cross_attention'."""
        super().set_trainable(*parts)
        if not self.gated:  # gates stay fixed when they are not used
            for block in self.cross_attention:
                block.attn_gate.requires_grad_(False)
                block.ff_gate.requires_grad_(False)

    def gate_values(self) -> dict[str, float]:
        """tanh(alpha) of each block: {'attn 0': …, 'ffw 0': …, …} (block k sits before layer k·every)."""
        out = {}
        for k, block in enumerate(self.cross_attention):
            out[f"attn {k}"] = float(torch.tanh(block.attn_gate.detach()))
            out[f"ffw {k}"] = float(torch.tanh(block.ff_gate.detach()))
        return out

    # ---- media -----------------------------------------------------------------------------
    def media_index(self, input_ids: torch.Tensor) -> torch.Tensor:
        """(B, L) → (B, L): which media (1…M) each token sees, 0 = none."""
        return media_index(input_ids, self.media_token_ids)

    def _visual(self, input_ids: torch.Tensor, pixel_values, vision_features) -> torch.Tensor | None:
        markers = self.media_index(input_ids)[:, -1] if input_ids.shape[1] else torch.zeros(len(input_ids))
        if pixel_values is None and vision_features is None:
            if (markers > 0).any():
                raise ValueError("the text has <image>/<video> markers but no pixel_values or vision_features were given")
            return None
        visual = self.encode_media(pixel_values, vision_features)  # (B, M, N, D)
        if visual.shape[0] != input_ids.shape[0] or (markers > visual.shape[1]).any():
            raise ValueError(
                f"media and text do not match: {visual.shape[0]} samples with {visual.shape[1]} media each, "
                f"but the texts have {markers.tolist()} markers; give one media item per <image>/<video> "
                "marker (in order; pad with zeros when samples have fewer), one marker per media"
            )
        return visual

    # ---- forward ---------------------------------------------------------------------------
    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                labels: torch.Tensor | None = None, pixel_values: torch.Tensor | None = None,
                vision_features: torch.Tensor | None = None, media_mask: torch.Tensor | None = None, **lm_kwargs):
        """Causal-LM output (loss on labels ≠ -100, logits (B, L, V)). Each <image>/<video>
        marker is one token; its media's visual tokens reach the text through cross-attention.
        media_mask (B, M), optional: which media slots are real (from `interleaved.collate`)."""
        input_ids = input_ids.to(self.device)
        visual = self._visual(input_ids, pixel_values, vision_features)
        if media_mask is not None:
            markers = self.media_index(input_ids)[:, -1].cpu()
            if not torch.equal(markers, media_mask.sum(1).cpu()):
                raise ValueError(f"the texts have {markers.tolist()} media markers but media_mask says "
                                 f"{media_mask.sum(1).tolist()} media")
        if attention_mask is not None:
            attention_mask = attention_mask.to(self.device)
            if "position_ids" not in lm_kwargs and not attention_mask[:, 0].all():  # left padding
                lm_kwargs["position_ids"] = position_ids(attention_mask)
        self.context.set(visual, self.media_index(input_ids) if visual is not None else None)
        try:
            return self.lm(input_ids=input_ids, attention_mask=attention_mask, labels=labels, **lm_kwargs)
        finally:
            self.context.set(None, None)

    @torch.no_grad()
    def generate(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                 pixel_values: torch.Tensor | None = None, vision_features: torch.Tensor | None = None,
                 max_new_tokens: int = 32, do_sample: bool = False, temperature: float = 1.0,
                 top_k: int | None = None, on_token: Callable[[str], None] | None = None,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """New token ids (B, ≤ max_new_tokens), greedy or sampled, reusing the LM's KV cache:
        the prompt runs once, then one token per step. New tokens see the prompt's last media.
        Batched prompts must be left-padded. Rows that finished are padded."""
        input_ids = input_ids.to(self.device)
        b = input_ids.shape[0]
        mask = (attention_mask if attention_mask is not None else torch.ones_like(input_ids)).to(self.device)
        visual = self._visual(input_ids, pixel_values, vision_features)
        index = self.media_index(input_ids)
        positions = position_ids(mask)
        cache = DynamicCache()
        step_ids, step_index, step_pos = input_ids, index, positions
        done = torch.zeros(b, dtype=torch.bool, device=self.device)
        new = []
        self.eval()
        try:
            for _ in range(max_new_tokens):
                self.context.set(visual, step_index if visual is not None else None)
                out = self.lm(input_ids=step_ids, attention_mask=mask, position_ids=step_pos, use_cache=True,
                              **{_CACHE_ARG: cache})
                logits = out.logits[:, -1].float()
                if do_sample:
                    logits = logits / max(temperature, 1e-5)
                    if top_k:
                        kth = logits.topk(min(top_k, logits.shape[-1])).values[:, -1:]
                        logits = logits.masked_fill(logits < kth, float("-inf"))
                    nxt = torch.multinomial(logits.softmax(-1), 1, generator=generator)[:, 0]
                else:
                    nxt = logits.argmax(-1)
                nxt = torch.where(done, torch.full_like(nxt, self.tokenizer.pad_token_id), nxt)
                new.append(nxt)
                if on_token is not None and not done[0] and int(nxt[0]) != self.eos_token_id:
                    on_token(self.tokenizer.decode([int(nxt[0])], skip_special_tokens=False))
                done = done | (nxt == self.eos_token_id)
                if done.all():
                    break
                step_ids = nxt[:, None]
                step_index = step_index[:, -1:]  # generated text stays with the last media
                step_pos = step_pos[:, -1:] + 1
                mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
        finally:
            self.context.set(None, None)
        return torch.stack(new, dim=1) if new else input_ids.new_zeros((b, 0))

    @torch.no_grad()
    def next_token_logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                          vision_features: torch.Tensor | None = None, pixel_values: torch.Tensor | None = None,
                          batch_size: int = 128) -> torch.Tensor:
        """Logits (B, V) of the token after each (left-padded) prompt: what greedy decoding would
        write first. In batches, without the KV cache."""
        self.eval()
        rows = []
        for i in range(0, len(input_ids), batch_size):
            part = slice(i, i + batch_size)
            kwargs = {}
            if vision_features is not None:
                kwargs["vision_features"] = vision_features[part]
            if pixel_values is not None:
                kwargs["pixel_values"] = pixel_values[part]
            mask = attention_mask[part] if attention_mask is not None else None
            rows.append(self(input_ids[part], attention_mask=mask, **kwargs).logits[:, -1].float().cpu())
        return torch.cat(rows)

    # ---- save / load -----------------------------------------------------------------------
    def extra_config(self) -> dict:
        return {"cross_attn_every": self.cross_attn_every, "heads": self.heads, "ff_mult": self.ff_mult,
                "gated": self.gated, "gate_lr_scale": self.gate_lr_scale}

    @classmethod
    def _rebuild(cls, encoder, vision_tokenizer, lm, tokenizer, extra: dict) -> "FlamingoVLM":
        return cls(encoder, vision_tokenizer, lm, tokenizer, **extra)


def build_flamingo(vision_encoder: VisionEncoder, lm: nn.Module, tokenizer, num_latents: int = 8, depth: int = 2,
                   cross_attn_every: int = 1, heads: int = 4, ff_mult: int = 4, temporal: bool = True,
                   gated: bool = True, gate_lr_scale: float = 10.0, max_frames: int = 16, seed: int = 0) -> FlamingoVLM:
    """A Flamingo from a (frozen) vision encoder and a (frozen) transformers causal LM.

    Vision tokenizer: standardise → PerceiverResampler (num_latents tokens per media, `temporal`
    frame embeddings) → Linear to the LM's width. The LM is changed in place: its decoder layers
    get wrapped (FlamingoLayer); give a copy if you still need the plain LM.

    gate_lr_scale: the gates learn at lr × this. A gate starts at 0 and Adam moves it by about lr
    per step, so at a toy run's few hundred steps it could hardly open otherwise; Flamingo trained
    for hundreds of thousands of steps."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        resampler = PerceiverResampler(vision_encoder.width, num_latents, depth, heads, max_frames=max_frames,
                                       temporal=temporal)
        tokenizer_part = VisionTokenizer(vision_encoder.width, Linear(vision_encoder.width, lm.config.hidden_size),
                                         resampler)
    vision_encoder.requires_grad_(False)
    return FlamingoVLM(vision_encoder, tokenizer_part, lm, tokenizer, cross_attn_every, heads, ff_mult, gated,
                       gate_lr_scale, seed)


__all__ = ["PerceiverResampler", "PerceiverAttention", "MaskedCrossAttention", "GatedCrossAttentionBlock",
           "FlamingoLayer", "FlamingoVLM", "build_flamingo", "media_index", "media_attention_mask",
           "tanh_gated_residual", "attend", "feed_forward", "decoder_layers", "insert_layers", "MEDIA_TOKENS"]
