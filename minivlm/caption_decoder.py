"""A captioning decoder on an image tower's patch tokens: LocCa's way to make them say where.

Contrastive training (CLIP, SigLIP) rewards one pooled embedding that matches the caption; the
patch tokens only have to hold what that pooled vector needs. LocCa (Wan et al. 2024,
arXiv:2403.19596) pretrains an image encoder with a transformer decoder that cross-attends to its
patch tokens and writes, token by token, captions and where things are (bounding-box coordinates
as text); SigLIP 2 (Tschannen et al. 2025, arXiv:2502.14786) adds that decoder beside the
sigmoid loss for better localisation and dense features. The decoder is thrown away after
training; only the image tower ships. The toy CLIP's later stages (`zoo.clip_recipe`'s "then",
"then2", "then3", each with a fresh decoder) train this way; their captions say where each object
is in words, the toy world's 3x3 places (`zoo.placed_caption`), instead of box coordinates.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .vision import TOY_CLIP, VisionEncoder


class CaptionDecoder(nn.Module):
    """A causal transformer decoder that writes a caption while cross-attending to image tokens.

    vocab_size: the text tower's (compact) vocabulary; width: of the tokens it reads and of its
    own layers; layers, heads: its size; context: the longest caption (in tokens) it writes.
    """

    def __init__(self, vocab_size: int, width: int = 128, layers: int = 1, heads: int = 4, context: int = 32,
                 seed: int = 0):
        super().__init__()
        with torch.random.fork_rng(devices=[]):  # deterministic in `seed`, the global stream untouched
            torch.manual_seed(seed)
            self.embed = nn.Embedding(vocab_size, width)
            self.position = nn.Parameter(torch.randn(context, width) * 0.02)
            layer = nn.TransformerDecoderLayer(width, heads, 4 * width, dropout=0.0, activation="gelu",
                                               batch_first=True, norm_first=True)
            self.layers = nn.TransformerDecoder(layer, layers)
            self.norm = nn.LayerNorm(width)
            self.out = nn.Linear(width, vocab_size)

    def forward(self, ids: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        """ids (B, L) caption tokens so far, memory (B, P, width) image tokens → logits (B, L, vocab):
        position i predicts token i + 1 from tokens ≤ i (causal) and every image token."""
        if ids.shape[1] > self.position.shape[0]:
            raise ValueError(f"captions of {ids.shape[1]} tokens are longer than the decoder's context "
                             f"({self.position.shape[0]}); build it with a larger `context`")
        x = self.embed(ids) + self.position[: ids.shape[1]]
        mask = nn.Transformer.generate_square_subsequent_mask(ids.shape[1], device=ids.device)
        return self.out(self.norm(self.layers(x, memory, tgt_mask=mask, tgt_is_causal=True)))


class CaptionedCLIP(nn.Module):
    """A CLIP and a `CaptionDecoder` reading its image tower's `feature_layer` tokens, trained
    together; `clip` is what ships."""

    def __init__(self, clip_model: nn.Module, decoder: CaptionDecoder, feature_layer: int = -2,
                 name: str = TOY_CLIP):
        super().__init__()
        self.clip = clip_model
        self.decoder = decoder
        # a list keeps the encoder out of the module tree: its weights are the CLIP's, stored once
        self._encoder = [VisionEncoder(clip_model, feature_layer=feature_layer, model_name=name)]

    @property
    def encoder(self) -> VisionEncoder:
        """The CLIP's image tower as a `VisionEncoder` of the decoder's feature layer (its
        `preprocess` turns uint8 frames into the pixels both losses take)."""
        return self._encoder[0]

    def caption_loss(self, pixels: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """pixels (B, 3, S, S), ids (B, L) the tokenizer's ids of the captions (0 pads) → mean
        cross-entropy of each next caption token (the end token included, padding not)."""
        compact = self.clip.token_embedding.lookup[ids] if hasattr(self.clip.token_embedding, "lookup") else ids
        logits = self.decoder(compact[:, :-1], self.encoder(pixels))
        written = ids[:, 1:] != 0
        return F.cross_entropy(logits[written], compact[:, 1:][written])
