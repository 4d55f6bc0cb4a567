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
from typing import Sequence

from .config import VLMConfig
from .data import (AUDIO_QA_KINDS, WorldConfig, av_sample, caption, clip_with_sound, make_av_qa,
                   sample_scene, soundtrack)
from .data.text import QA
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


def sound_caption(scene) -> str:
    """What the soundtrack holds, in words: 'the voice says red and three . a buzz is heard .'"""
    track = soundtrack(scene)
    words = " and ".join(u.word for u in track.words)
    noises = " ".join(f"a {n.name} is heard ." for n in track.noises)
    return f"the voice says {words} . {noises}"


def caption_samples(split: str, n: int, num_frames: int = 8, start: int = 0, audio: bool = True,
                    config: WorldConfig | None = None) -> list[Sample]:
    """Stage-1 data: n clips with sound, each '<audio> <video> describe the video …' → the clip's
    caption followed by its `sound_caption` (audio=False: '<video> …' → the caption alone)."""
    out = []
    for k in range(start, start + n):
        scene = sample_scene(split, k, config)
        answer = f"{caption(scene)} {sound_caption(scene)}" if audio else caption(scene)
        qa = QA("caption", "describe the video in one sentence .", answer)
        out.append(av_sample(clip_with_sound(scene, num_frames), qa, scene, audio))
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
            start: int = 0, captions: bool = False, chunk: int = 128) -> list[Sample]:
    """n '<audio> <video> …' samples (questions of `kinds`, or stage-1 captions), carried by the
    model's frozen encoders' features: rendered and encoded `chunk` clips at a time, so the raw
    frames and waveforms of all of them are never in memory at once."""
    out: list[Sample] = []
    for first in range(0, n, chunk):
        size = min(chunk, n - first)
        if captions:
            raw = caption_samples(split, size, num_frames, start=start + first)
        else:
            raw = make_av_qa(split, size, num_frames, kinds, start=start + 50 * first)
        out += precompute(model, raw)
    return out


def chance(samples: Sequence[Sample]) -> dict[str, float]:
    """Accuracy of always giving each kind's most common answer (+ 'all'): the floor to beat."""
    from .eval import chance_by_kind

    return chance_by_kind([s.answer for s in samples], [s.kind for s in samples])


__all__ = ["VIDEO_LLAMA", "PRESETS", "PRETRAIN", "INSTRUCT", "RECIPE", "AV_KINDS", "VIDEO_KINDS", "sound_caption",
           "caption_samples", "without_audio", "av_data", "chance"]
