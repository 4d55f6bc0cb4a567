"""video-SALMONN (Sun et al., 2024): speech, sounds and frames fused every half second. Built in
notebook 09.

Where Video-LLaMA (notebook 05) gives the LM an audio span and a video span side by side,
video-SALMONN lines the modalities up *before* its Q-Former:

- frames at 2 fps; a speech encoder (Whisper) and a sound encoder (BEATs), both at 50 Hz — here
  the course's 'speech' and 'sound' bases (`minivlm.audio`), read frame by frame;
- every `sync_seconds` (0.5 s) window: the audio frames of that window (25 at 50 Hz) beside the
  visual tokens of the frame taken in it, **along the feature dimension** (zeros for a missing
  modality — a silent clip, an image, a track without pictures): `window_frames`, `synchronise`;
- one **multi-resolution causal Q-Former** over the windows (`qformer.MRCQFormer`; its code: 5 s
  windows × 30 queries and 0.5 s × 3; here 2 s × 8 and 0.5 s × 2 for 4 s clips) → a linear layer;
- a **diversity loss** (`qformer.query_similarity`, weight 0.01) added to the LM loss in training
  (`diversity_loss`);
- **LoRA** on the LM's q/k/v/o projections (its code: rank 32, alpha 32; here rank 8, alpha 8).

A clip is one `<video>` item that carries its soundtrack (`Media.video(..., waveform=...)`);
the model's one tokenizer reads frames and sound together (`SynchronisedVLM`).

    model = build("video-salmonn")
    samples = precompute(model, synced(make_av_qa("train", 100)))    # '<video> question', sound inside
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch

from .audio import AudioEncoder
from .checks import compare, report
from .config import LoraSpec, VLMConfig
from .data.render import SAMPLE_RATE
from .media import Media
from .qformer import query_similarity
from .samples import Sample
from .stages import Stage
from .video_llama import VIDEO_LLAMA, without_audio
from .vlm import LanguageStreamVLM

AUDIO_RATE = 50  # audio frames per second of both audio bases (Whisper's and BEATs' rate too)
LORA = LoraSpec(rank=8, alpha=8.0, dropout=0.0, targets=("q_proj", "k_proj", "v_proj", "o_proj"))
VIDEO_SALMONN = VLMConfig(
    name="video-salmonn", reducer="mrc_qformer",
    reducer_args={"resolutions": [[4, 8], [1, 2]], "depth": 2, "causal": True, "width": 128}, connector="linear",
    audio=("sound", "speech"), audio_segment_seconds=1.0, audio_pool=False, audio_sync=True, sync_seconds=0.5,
    lora=LORA,
)
# Video-LLaMA's separate branches (notebook 05) on the same 50 Hz audio frames, cut into the same
# 0.5 s windows, with the same LoRA: the baseline of the synchronisation headline.
SEPARATE = VIDEO_LLAMA.replace(
    name="separate-branches", reducer_args={"num_queries": 16, "depth": 2}, audio_segment_seconds=0.5,
    audio_pool=False, audio_reducer_args={"num_queries": 16, "depth": 2}, lora=LORA)
PRESETS = {"video-salmonn": VIDEO_SALMONN}

DIVERSITY_WEIGHT = 0.01  # video-SALMONN's `diversity_loss_factor`
# One instruction stage: the Q-Former, its projection and the LoRA adapters learn.
INSTRUCT = Stage("video-salmonn · instruct", train=("vision_tokenizer", "lora"), data="instructions",
                 steps=300, lr=1e-3, batch_size=16)


def window_frames(frame_times: Sequence[float], num_audio_frames: int, rate: int = AUDIO_RATE,
                  window: float = 0.5) -> np.ndarray:
    """Which audio frames (at `rate` Hz, frame j starting at j / rate s) belong to each video frame:
    the window·rate frames from round((t − window / 2) · rate) on, for each frame time t, so the
    window is centred on the frame. (T,) times → int (T, window·rate); −1 where the window runs
    before the track's start or past its `num_audio_frames`. Built in notebook 09."""
    per = int(round(window * rate))
    first = np.floor((np.asarray(frame_times, dtype=np.float64) - window / 2) * rate + 0.5).astype(np.int64)
    idx = first[:, None] + np.arange(per)[None, :]
    return np.where((idx >= 0) & (idx < num_audio_frames), idx, -1)


def gather_frames(frames: torch.Tensor, index: np.ndarray) -> torch.Tensor:
    """frames (A, D), index (T, W) from `window_frames` → (T, W, D), zeros where index is −1."""
    idx = torch.as_tensor(index, dtype=torch.long, device=frames.device)
    out = frames[idx.clamp_min(0)]
    return out * (idx >= 0).unsqueeze(-1).to(frames.dtype)


def audio_frames(encoder: AudioEncoder, waves: Sequence[np.ndarray]) -> list[torch.Tensor]:
    """Each 16 kHz track (S,) → its audio frames (⌈S / 320⌉, D) at 50 Hz from every base side by
    side: the track is read in chunks of the encoder's window (1 s, what the bases trained on),
    padded with silence at the end; all chunks of all tracks in one batch."""
    if encoder.pool:
        raise ValueError("synchronised windows need the bases' 50 Hz frames; build the encoder with pool=False")
    chunk = encoder.window
    counts = [max(1, -(-len(w) // chunk)) for w in waves]
    chunks = np.concatenate([np.pad(np.asarray(w, np.float32), (0, n * chunk - len(w))).reshape(n, chunk)
                             for w, n in zip(waves, counts)])
    needs_grad = torch.is_grad_enabled() and any(p.requires_grad for p in encoder.parameters())
    with torch.set_grad_enabled(needs_grad):
        feats = encoder(encoder.frontend(chunks).to(next(encoder.parameters()).device))  # (Σn, P, D)
    per_frame = SAMPLE_RATE // AUDIO_RATE
    out, start = [], 0
    for w, n in zip(waves, counts):
        out.append(feats[start:start + n].flatten(0, 1)[: max(1, -(-len(w) // per_frame))])
        start += n
    return out


def sync_times(item: Media, sync_seconds: float = 0.5) -> np.ndarray:
    """The moments (s) the windows are centred on: a video's frame times (given, or the middles of
    T equal parts of its duration); for an audio track alone, every sync_seconds from the start."""
    if item.modality == "audio":
        seconds = len(item.waveform) / item.sample_rate
        return (np.arange(max(1, int(np.ceil(seconds / sync_seconds - 1e-9)))) + 0.5) * sync_seconds
    if item.times is not None:
        return np.asarray(item.times, dtype=np.float64)
    t = item.num_frames
    seconds = item.duration or (len(item.waveform) / item.sample_rate if item.waveform is not None else
                                t * sync_seconds)
    return (np.arange(t) + 0.5) * seconds / t


def synchronise(visual: torch.Tensor | None, audio: torch.Tensor | None, steps: int,
                vision_dim: int, audio_dim: int, slots: int) -> torch.Tensor:
    """One step per window: visual (T, P, Dv) and audio (T, W, Da) (None: that modality is missing
    → zeros), each zero-padded to `slots` (= max(P, W)) tokens, concatenated along the feature
    dimension → (T, slots, Dv + Da) — video-SALMONN's synchronised input."""
    like = visual if visual is not None else audio

    def fill(x, dim):
        if x is None:
            return like.new_zeros(steps, slots, dim)
        return torch.nn.functional.pad(x, (0, 0, 0, slots - x.shape[1]))

    return torch.cat([fill(visual, vision_dim), fill(audio, audio_dim)], dim=-1)


class SynchronisedVLM(LanguageStreamVLM):
    """A language-stream VLM whose one tokenizer reads frames and sound together: each media item
    (a clip with its soundtrack, a clip or image without one, an audio track alone) becomes steps
    (T, max(P, W), D_vision + D_audio) (`synchronise`), and the vision tokenizer — standardise,
    MRC Q-Former, linear — turns them into the LM's tokens. No separate audio tokenizer."""

    def _media_parts(self, item: Media):
        if item.modality != "audio":
            self._vision_parts(item)  # the modality and frame-count checks
        return self.vision_encoder, self.vision_tokenizer

    @property
    def slots(self) -> int:
        """Tokens per step: max(patch tokens of a frame, audio frames of a window)."""
        return max(self.vision_encoder.num_patches, int(round(self.config.sync_seconds * AUDIO_RATE)))

    def steps(self, item: Media) -> int:
        """How many sync windows an item fills (its frames; for audio alone, its length / sync_seconds)."""
        if item.features is not None or item.modality != "audio":
            return item.num_frames
        return len(sync_times(item, self.config.sync_seconds))

    def num_tokens(self, item: Media) -> int:
        self._media_parts(item)
        return self.vision_tokenizer.num_tokens(self.steps(item), self.vision_encoder.num_patches)

    def encode_features(self, items: Sequence[Media]) -> list[torch.Tensor]:
        """Each item's synchronised steps (T, max(P, W), D) (cached features are passed through)."""
        seen = [i for i, item in enumerate(items) if item.features is None and item.modality != "audio"]
        visual = dict(zip(seen, super().encode_features([items[i] for i in seen])))
        heard = {}
        for i, item in enumerate(items):
            if item.features is None and (item.modality == "audio" or item.waveform is not None):
                track = item if item.modality == "audio" else item.soundtrack()  # checked against the duration
                heard[i] = self.audio_encoder.waveform(track)  # 16 kHz (resampled, with a warning)
        frames = dict(zip(heard, audio_frames(self.audio_encoder, list(heard.values())))) if heard else {}
        out = []
        for i, item in enumerate(items):
            if item.features is not None:
                out.append(item.features)
                continue
            times = sync_times(item, self.config.sync_seconds)
            audio = None
            if i in frames:
                audio = gather_frames(frames[i], window_frames(times, len(frames[i]), AUDIO_RATE,
                                                               self.config.sync_seconds))
            out.append(synchronise(visual.get(i), audio, len(times), self.vision_encoder.width,
                                   self.audio_encoder.width, self.slots).to(self.device))
        return out

    @torch.no_grad()
    def fit_standardizer(self, items: Sequence[Media]) -> None:
        """The tokenizer's per-channel statistics from these items' synchronised steps."""
        feats = self.encode_features(items)
        self.vision_tokenizer.standardizer.fit(torch.cat([f.reshape(-1, f.shape[-1]) for f in feats]).to(self.device))


# ---- training --------------------------------------------------------------------------------
def diversity_loss(weight: float = DIVERSITY_WEIGHT) -> Callable:
    """A `train` loss: the LM's loss + weight × the MRC Q-Former's query similarity (logged as
    'similarity'); weight 0 logs the similarity without training on it."""

    def loss_fn(model, batch):
        out = model(**batch)
        similarity = model.vision_tokenizer.reducer.similarity
        return out.loss + weight * similarity, {"similarity": float(similarity.detach())}

    return loss_fn


@torch.no_grad()
def mean_similarity(model, samples: Sequence[Sample], batch_size: int = 64) -> float:
    """The MRC Q-Former's mean pairwise query similarity over these samples' media."""
    model.eval()
    values = []
    for start in range(0, len(samples), batch_size):
        items = [m for s in samples[start:start + batch_size] for m in s.media]
        model.encode_media(items)
        values.append(float(model.vision_tokenizer.reducer.similarity) * len(items))
    return sum(values) / sum(len(s.media) for s in samples)


# ---- data --------------------------------------------------------------------------------------
def synced(samples: Sequence[Sample]) -> list[Sample]:
    """'<audio> <video> question' samples (`data.make_av_qa`) as video-SALMONN takes them:
    '<video> question', the clip carrying its soundtrack."""
    return without_audio(samples)


# ---- exercises ---------------------------------------------------------------------------------
def check_window_frames(fn: Callable[..., np.ndarray]) -> bool:
    """Exercise 1: fn(frame_times, num_audio_frames, rate, window) → (T, window·rate) audio-frame
    indices, −1 outside the track; must equal `window_frames`."""
    cases = [((0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3.25, 3.75), 200, 50, 0.5),
             ((0.5, 1.5, 2.5, 3.5), 200, 50, 0.5),
             ((0.0, 1.0, 1.93), 100, 50, 0.5),
             ((0.31, 0.52, 2.0), 120, 50, 1.0),
             ((0.25, 0.75), 16, 20, 0.5)]
    return compare("audio frames of each 0.5 s window", lambda *a: np.asarray(fn(*a)), window_frames, cases)


def check_diversity(fn: Callable[[torch.Tensor], torch.Tensor]) -> bool:
    """Exercise 2: fn(queries (…, N, D)) → the mean pairwise cosine similarity of different queries
    of a window, averaged over windows; must equal `qformer.query_similarity`."""
    g = torch.Generator().manual_seed(9)
    cases = [(torch.randn(2, 3, 4, 8, generator=g),), (torch.randn(5, 2, 6, generator=g) + 1.0,),
             (torch.randn(1, 1, 3, 4, generator=g) * 7.0,), (torch.randn(4, 2, 16, generator=g),)]

    def problem():
        for (x,) in cases:
            got, want = torch.as_tensor(fn(x)), query_similarity(x)
            if got.shape != want.shape or not torch.allclose(got.float(), want, atol=1e-5):
                return f"for queries of shape {tuple(x.shape)} got {got} but expected {float(want):.5f}"
        one = fn(torch.randn(3, 1, 8, generator=g))
        if not abs(float(one)) <= 1e-6:  # NaN too
            return f"a window with one query has no pairs: expected 0, got {float(one):.4f}"
        return None

    return report("diversity loss (mean pairwise cosine similarity)", problem)


__all__ = ["AUDIO_RATE", "LORA", "VIDEO_SALMONN", "SEPARATE", "PRESETS", "DIVERSITY_WEIGHT", "INSTRUCT",
           "window_frames", "gather_frames", "audio_frames", "sync_times", "synchronise", "SynchronisedVLM",
           "diversity_loss", "mean_similarity", "synced", "check_window_frames", "check_diversity"]
