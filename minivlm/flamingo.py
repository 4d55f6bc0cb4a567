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

from .config import VLMConfig
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
