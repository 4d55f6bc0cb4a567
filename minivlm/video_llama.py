"""Video-LLaMA (Zhang, Li and Bing, 2023): a video LLM that also hears. Built in notebook 05.

Two branches, each ending in tokens for a frozen LM, side by side in the prompt — nothing is
fused before the LM:

- **vision**: 8 uniformly sampled frames → the frozen image encoder's tokens per frame + a
  learned frame position embedding → the **video Q-Former** (32 queries, 2 layers) → a linear
  layer into the LM (`reducer='qformer'`, `connector='linear'`);
- **audio**: the soundtrack cut into 8 windows (`audio.segment_starts`) → one embedding per
  window from frozen audio encoders (Video-LLaMA: ImageBind; here the course's 'sound' and
  'speech' bases side by side, `minivlm.audio`) + a segment position embedding → the **audio
  Q-Former** (8 queries, 2 layers) → a linear layer.

Only the Q-Formers, the position embeddings and the linear layers train (the 'vision_tokenizer'
and 'audio_tokenizer' parts); encoders and LM stay frozen. Two stages as data: captions, then
instructions (`RECIPE`). Video-LLaMA trained its audio branch on *visual* data only, through
ImageBind's shared space; ours learns from toy-world audio.

    model = build("video-llama")
    data = av_data(model, "train", 1000)                # precomputed '<audio> <video> question' samples
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable, Sequence

import numpy as np
import torch

from .config import VLMConfig
from .data import (AUDIO_QA_KINDS, WorldConfig, av_sample, caption, clip_with_sound, make_av_qa,
                   sample_scene)
from .data.text import QA
from .audio import segment_starts
from .checks import compare
from .media import Media
from .qformer import cross_attention
from .samples import Sample, precompute
from .stages import Stage

VIDEO_LLAMA = VLMConfig(
    name="video-llama", reducer="qformer", reducer_args={"num_queries": 32, "depth": 2}, connector="linear",
    audio=("sound", "speech"), audio_reducer="qformer", audio_reducer_args={"num_queries": 8, "depth": 2},
    audio_connector="linear",
)
PRESETS = {"video-llama": VIDEO_LLAMA}

# Stage 1 on captions (Video-LLaMA: WebVid-2M video captions + CC3M image captions), stage 2 on
# instructions (its VideoChat, MiniGPT-4 and LLaVA instructions); both train only the tokenizers.
PRETRAIN = Stage("video-llama · pretrain", train=("vision_tokenizer", "audio_tokenizer"), data="captions",
                 steps=150, lr=2e-3, batch_size=32)
INSTRUCT = Stage("video-llama · instruct", train=("vision_tokenizer", "audio_tokenizer"), data="instructions",
                 steps=300, lr=1e-3, batch_size=32)
RECIPE = [PRETRAIN, INSTRUCT]

# The questions of notebook 05: what needs the soundtrack, and what the frames alone answer.
AV_KINDS = AUDIO_QA_KINDS
VIDEO_KINDS = ("colour", "shape", "count", "direction")


CAPTION_PROMPT = "describe the video in one sentence ."


def caption_sample(clip: Media, scene, audio: bool = True) -> Sample:
    """Stage-1 data: '<audio> <video> describe the video …' → the clip's caption followed by its
    `data.sound_caption` (audio=False: '<video> …' → the caption alone)."""
    return av_sample(clip, QA("caption", CAPTION_PROMPT, caption(scene, sound=audio)), scene, audio)


def caption_samples(split: str, n: int, num_frames: int = 8, start: int = 0, audio: bool = True,
                    config: WorldConfig | None = None) -> list[Sample]:
    """n stage-1 samples (`caption_sample`) of clips with sound, scenes start … start + n − 1."""
    scenes = [sample_scene(split, k, config) for k in range(start, start + n)]
    return [caption_sample(clip_with_sound(scene, num_frames), scene, audio) for scene in scenes]


def captions_for(samples: Sequence[Sample], audio: bool = True) -> list[Sample]:
    """Stage-1 samples (`caption_sample`) for the clips of these '<audio> <video> …' samples,
    sharing their (precomputed) media: one caption per clip (audio=False: '<video> …' → the
    caption alone)."""
    out = []
    for s in samples:
        answer = caption(s.scene, sound=audio)
        media = s.media if audio else [m for m in s.media if m.modality != "audio"]
        prompt = " ".join(m.placeholder for m in media) + f" {CAPTION_PROMPT}"
        out.append(Sample(media, [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}],
                          kind="caption", scene=s.scene))
    return out


def without_audio(samples: Sequence[Sample]) -> list[Sample]:
    """The same samples with their audio items and '<audio>' placeholders taken out: what a model
    without an audio branch is given."""
    out = []
    for s in samples:
        media = [m for m in s.media if m.modality != "audio"]
        messages = [{**m, "content": " ".join(w for w in m["content"].split() if w != "<audio>")} for m in s.messages]
        out.append(replace(s, media=tuple(media), messages=messages))
    return out


def av_data(model, split: str, n: int, kinds: tuple[str, ...] = (*AV_KINDS, *VIDEO_KINDS), num_frames: int = 8,
            start: int = 0, chunk: int = 128) -> list[Sample]:
    """n '<audio> <video> question' samples (kinds drawn from `kinds`, `data.make_av_qa`), carried
    by the model's frozen encoders' features: rendered and encoded `chunk` clips at a time, so the
    raw frames and waveforms of all of them are never in memory at once."""
    out: list[Sample] = []
    for first in range(0, n, chunk):
        raw = make_av_qa(split, min(chunk, n - first), num_frames, kinds, start=start + 50 * first)
        out += precompute(model, raw)
    return out


def chance(samples: Sequence[Sample]) -> dict[str, float]:
    """Accuracy of always giving each kind's most common answer (+ 'all'): the floor to beat."""
    from .eval import chance_by_kind

    return chance_by_kind([s.answer for s in samples], [s.kind for s in samples])


def check_segments(fn: Callable[[int, int, int], np.ndarray]) -> bool:
    """Exercise 1: fn(num_samples, segments, window) → the start sample of each window (segments,),
    each window centred on the middle of its segment, must equal `audio.segment_starts`."""
    cases = [(64_000, 8, 16_000), (64_000, 8, 8_000), (48_000, 4, 16_000), (16_000, 8, 16_000), (100, 3, 10)]
    return compare("audio segments centred where the frames are taken", lambda *a: np.asarray(fn(*a)),
                   segment_starts, cases)


def check_cross_attention(fn: Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]) -> bool:
    """Exercise 2: fn(queries (B, Q, D), inputs (B, S, 2D) = [keys ; values], heads) → (B, Q, D),
    must equal `qformer.cross_attention` (multi-head, scaled dot product)."""
    g = torch.Generator().manual_seed(5)
    cases = [(torch.randn(2, 4, 8, generator=g), torch.randn(2, 6, 16, generator=g), 2),
             (torch.randn(1, 3, 12, generator=g), torch.randn(1, 10, 24, generator=g), 3),
             (torch.randn(3, 2, 4, generator=g), torch.randn(3, 5, 8, generator=g), 1)]
    return compare("Q-Former cross-attention", fn, cross_attention, cases)


__all__ = ["VIDEO_LLAMA", "PRESETS", "PRETRAIN", "INSTRUCT", "RECIPE", "AV_KINDS", "VIDEO_KINDS", "CAPTION_PROMPT",
           "caption_sample", "caption_samples", "captions_for", "without_audio", "av_data", "chance",
           "check_segments", "check_cross_attention"]
