"""Flamingo (Alayrac et al., 2022): a frozen LM that looks at images through gated cross-attention.

    media ─► frozen vision encoder ─► Perceiver Resampler ─► N visual tokens per item
                                                                    │ (keys, values)
    text ──► [GATED XATTN-DENSE ─► frozen LM layer] × L ─► next-token logits

Flamingo is a preset of the cross-attention family (`minivlm.vlm.CrossAttentionVLM`): its parts
are the Perceiver Resampler (`minivlm.resampler`) and the gated cross-attention blocks with media
masking (`minivlm.cross_attention`); its data, interleaved documents and few-shot episodes, are
in `minivlm.interleaved`. Built in notebook 02.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch

from .checks import compare
from .config import VLMConfig
from .cross_attention import media_attention_mask, media_index
from .stages import Stage

# 8 latents and 2 resampler layers (Flamingo: 64 and 6), a block before every LM layer (Flamingo-3B).
FLAMINGO = VLMConfig(
    name="flamingo", fusion="cross_attention", reducer="perceiver",
    reducer_args={"num_latents": 8, "depth": 2, "heads": 4, "temporal": True}, connector="linear",
    cross_attn_every=1, gated=True,
)

# Flamingo trains the resampler (with its projection) and the cross-attention blocks; the vision
# encoder and the LM stay frozen. A gate starts at 0 and Adam moves it by about lr per step, so in a
# toy run's few hundred steps it could hardly open: the gates learn 10× faster (Flamingo trained
# for hundreds of thousands of steps). 150 steps of 24 documents at lr 2e-3: notebook 02's budget.
PRETRAIN = Stage("flamingo · interleaved", train=("vision_tokenizer", "cross_attention"), data="interleaved",
                 steps=150, lr=2e-3, batch_size=24, lr_scale={"gates": 10.0})

PRESETS = {"flamingo": FLAMINGO}
RECIPE = [PRETRAIN]


def check_media_index(learner: Callable[[torch.Tensor, Sequence[int]], torch.Tensor],
                      marker_ids: Sequence[int]) -> bool:
    """Notebook 02, exercise 1: which media each token belongs to, against `cross_attention.media_index`
    (marker_ids: the tokenizer's ids of '<image>', '<video>', '<audio>')."""
    a, b, c = marker_ids[:3]
    ids = torch.tensor([[7, a, 9, 9, b, 9, c, 9], [a, a, 9, 9, 9, 9, 9, 9], [9, 9, 9, 9, 9, 9, 9, a]])
    return compare("media index", learner, media_index,
                   [(ids, list(marker_ids)), (ids[:, :3], list(marker_ids)), (torch.tensor([[5, 6, 7]]), list(marker_ids))])


def check_media_mask(learner: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> bool:
    """Notebook 02, exercise 2: which visual tokens each text token may attend to, against
    `cross_attention.media_attention_mask` — including padded visual tokens (an item with fewer)."""
    index = torch.tensor([[0, 1, 1, 2, 2, 3], [1, 1, 1, 1, 2, 2]])
    full = torch.ones(2, 3, 2, dtype=torch.bool)
    padded = full.clone()
    padded[0, 1, 1] = padded[1, 2, :] = False  # media 2 of row 0 has one real token; row 1 has no media 3
    return compare("media attention mask", learner, media_attention_mask,
                   [(index, full), (index, padded), (index[:, :2], padded[:, :1])])
