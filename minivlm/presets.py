"""Every milestone as a named config, and `build` that makes a model from one.

    from minivlm import build
    model = build("llava-1.5")                       # on the zoo's toy CLIP and toy LM
    model = build("llava-1.5", connector="linear")   # an ablation is one changed field

Each milestone module holds its presets (and its recipe of training stages); this module
collects them in `PRESETS` (name → `VLMConfig`).
"""

from __future__ import annotations

import torch

from . import flamingo, lita, llava, onevision, pllava, video_chat, video_llama, video_llava, video_salmonn
from .audio import build_audio_encoder
from .config import ZOO, VLMConfig
from .lm import load_lm
from .runtime import default_device
from .video_tower import build_video_encoder
from .vision import TOY_CLIP, VisionEncoder, create_clip
from .vlm import VLM, family_of

PRESETS: dict[str, VLMConfig] = {**flamingo.PRESETS, **llava.PRESETS, **video_chat.PRESETS, **lita.PRESETS, **pllava.PRESETS, **video_llama.PRESETS,
                                 **video_llava.PRESETS, **video_salmonn.PRESETS, **onevision.PRESETS}


def preset(name: str) -> VLMConfig:
    """The config of a named milestone (see PRESETS)."""
    if name not in PRESETS:
        raise KeyError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)} or pass a VLMConfig")
    return PRESETS[name]


def build(name_or_config: str | VLMConfig, device: str | torch.device | None = None, **changes) -> VLM:
    """A model from a preset name or a config (with `changes` to its fields), on the zoo's bases
    ('zoo': the course's toy CLIP and toy LM; the fast-mode zoo under MINIVLM_FAST=1) or on real
    ones (open_clip names and weights, transformers model ids). The new parts are initialised from
    config.seed (on the CPU, so a seed gives the same model everywhere); every part starts frozen
    until a stage names it. The model is placed on `device`, by default `default_device()`: the
    CPU, unless `MINIVLM_DEVICE` names another device."""
    config = preset(name_or_config) if isinstance(name_or_config, str) else name_or_config
    if changes:
        config = config.replace(**changes)
    from . import zoo

    if config.vision_weights == ZOO:
        if config.vision != TOY_CLIP:
            raise ValueError(f"the zoo has only the {TOY_CLIP!r} vision tower, not {config.vision!r}; set "
                             "vision_weights to an open_clip tag or a checkpoint file")
        clip = zoo.toy_clip()
    else:
        clip = create_clip(config.vision, pretrained=config.vision_weights)
    encoder = VisionEncoder(clip, config.feature_layer, config.keep_cls, model_name=config.vision)
    lm, tokenizer = zoo.toy_lm() if config.lm == ZOO else load_lm(config.lm)
    audio = build_audio_encoder(config) if config.audio else None  # the audio bases (notebook 05)
    video = build_video_encoder(config, clip) if config.video_tower else None  # a video tower (notebook 06)
    model = family_of(config)(config, encoder, lm, tokenizer, audio_encoder=audio, video_encoder=video)
    return model.to(device if device is not None else default_device())
