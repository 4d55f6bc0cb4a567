"""Hearing: a log-mel front end, small audio encoders pretrained on the toy world's sounds, and
the audio encoder a VLM reads. Built for notebook 05 (Video-LLaMA); notebook 09 (video-SALMONN)
reads the same encoders frame by frame.

Real audio LLMs start from pretrained audio encoders: ImageBind's audio tower (Video-LLaMA),
Whisper for speech and BEATs for other sounds (video-SALMONN). Ours are two small
Whisper-shaped networks (`AudioNet`: two 1-D convolutions, the second with stride 2, over an
80-…-band log-mel spectrogram at 100 frames/s → 50 frames/s, then a transformer), each trained on
one-second windows of toy-world audio:

- the **sound** encoder (BEATs' role) says which sounds a window holds — the events' sounds and
  the off-screen noises (`SOUND_CLASSES`; multi-label, a word may be spoken over them);
- the **speech** encoder (Whisper's role) says which word the voice says (`SPEECH_CLASSES`,
  'none' for no word), trained on all but the held-out voices (`data.soundtrack.HELD_OUT_VARIANTS`).

`AudioEncoder` puts them side by side for a VLM: it cuts a track into `segments` windows of
`segment_seconds`, centred where uniform frame sampling takes its frames (Video-LLaMA cuts the
audio into 8 clips of 2 s), and gives each window's features from every base, concatenated along
the feature dimension (video-SALMONN concatenates Whisper's and BEATs' features the same way):
(segments, 1, D) with `pool` (one embedding per window, as ImageBind gives), else
(segments, 50 · seconds, D) frames at 50 Hz.
"""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .data.render import SAMPLE_RATE, sound
from .data.soundtrack import HELD_OUT_VARIANTS, VARIANTS, WORDS, mix_in, spoken
from .data.world import NOISES, SOUND_OF_EVENT
from .media import Media, MissingAudioError
from .runtime import seeded

N_MELS = 64
HOP = 160  # samples: 100 log-mel frames per second at 16 kHz (Whisper's hop)
SOUND_CLASSES: tuple[str, ...] = (*SOUND_OF_EVENT, *NOISES)  # event kinds, then off-screen noises
SPEECH_CLASSES: tuple[str, ...] = ("none", *WORDS)
AUDIO_BASES = ("sound", "speech")


class LogMel:
    """Whisper's log-mel front end (transformers' `WhisperFeatureExtractor`, N_MELS bands, 25 ms
    windows every 10 ms): waveforms (B, S) at 16 kHz → log-mel (B, N_MELS, S / HOP), scaled to
    about [-1, 1] per track as Whisper does."""

    def __init__(self, n_mels: int = N_MELS, sample_rate: int = SAMPLE_RATE):
        from transformers import WhisperFeatureExtractor

        self.sample_rate = sample_rate
        self.extractor = WhisperFeatureExtractor(feature_size=n_mels, sampling_rate=sample_rate, hop_length=HOP)

    def __call__(self, waves: np.ndarray | torch.Tensor) -> torch.Tensor:
        waves = np.asarray(waves, dtype=np.float32)
        if waves.ndim != 2:
            raise ValueError(f"log-mel takes waveforms (B, S), got shape {waves.shape}")
        features = self.extractor._torch_extract_fbank_features(waves, "cpu")  # batched; the same as __call__
        return torch.as_tensor(features, dtype=torch.float32)


def resample(wave: np.ndarray | torch.Tensor, rate: int, target: int = SAMPLE_RATE) -> np.ndarray:
    """A mono track (S,) from `rate` to `target` Hz with PyAV's resampler (libswresample)."""
    import av

    wave = np.asarray(wave, dtype=np.float32).reshape(1, -1)
    if rate == target:
        return wave[0]
    resampler = av.AudioResampler(format="flt", layout="mono", rate=target)
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(wave), format="flt", layout="mono")
    frame.sample_rate = rate
    pieces = [f.to_ndarray().reshape(-1) for f in (*resampler.resample(frame), *resampler.resample(None))]
    return np.concatenate(pieces).astype(np.float32)


def segment_starts(num_samples: int, segments: int, window: int) -> np.ndarray:
    """Where each of `segments` windows of `window` samples starts in a track of `num_samples`:
    window k is centred on the middle of the k-th of `segments` equal parts (where uniform frame
    sampling takes frame k); a start may be negative or run past the end (padded with silence).
    Built in notebook 05."""
    centres = (np.arange(segments) + 0.5) * num_samples / segments
    return np.round(centres - window / 2).astype(np.int64)


def cut_segments(wave: np.ndarray, segments: int, window: int) -> np.ndarray:
    """A track (S,) → its windows (segments, window), silence where a window leaves the track."""
    starts = segment_starts(len(wave), segments, window)
    padded = np.pad(np.asarray(wave, dtype=np.float32), (window, window))
    return np.stack([padded[s + window: s + 2 * window] for s in starts])


class AudioNet(nn.Module):
    """A Whisper-shaped audio encoder: log-mel (B, N_MELS, F) → conv (k3) → GELU → conv (k3,
    stride 2) → GELU → + position embedding → transformer → LayerNorm: frames (B, F/2, width)
    at 50 Hz. `embed` averages them (B, width); `head` classifies that embedding (its training task)."""

    def __init__(self, num_classes: int, width: int = 64, layers: int = 2, heads: int = 4,
                 n_mels: int = N_MELS, max_frames: int = 100):
        super().__init__()
        self.width = width
        self.conv1 = nn.Conv1d(n_mels, width, 3, padding=1)
        self.conv2 = nn.Conv1d(width, width, 3, stride=2, padding=1)
        self.position = nn.Parameter(torch.randn(max_frames, width) * 0.02)
        layer = nn.TransformerEncoderLayer(width, heads, 2 * width, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.transformer = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, num_classes)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """mel (B, N_MELS, F) → frames (B, ⌈F/2⌉, width)"""
        x = F.gelu(self.conv2(F.gelu(self.conv1(mel)))).transpose(1, 2)
        if x.shape[1] > len(self.position):
            raise ValueError(f"{x.shape[1]} frames but the encoder has positions for {len(self.position)}; "
                             "give it shorter windows")
        return self.norm(self.transformer(x + self.position[: x.shape[1]]))

    def embed(self, mel: torch.Tensor) -> torch.Tensor:
        """mel (B, N_MELS, F) → one embedding per window (B, width): the frames' mean."""
        return self(mel).mean(1)

    def logits(self, mel: torch.Tensor) -> torch.Tensor:
        """mel (B, N_MELS, F) → class scores (B, num_classes)."""
        return self.head(self.embed(mel))


# ---- training data: one-second windows of toy-world audio ------------------------------------
WINDOW_SECONDS = 1.0


def _augmented_word(rng: np.random.Generator, word: str, variants: Sequence[int]) -> np.ndarray:
    """A spoken word in one of `variants`, a little faster or slower (±8 %), at a random loudness."""
    wave = spoken(word, int(rng.choice(variants)))
    speed = rng.uniform(0.92, 1.08)
    n = max(2, int(len(wave) / speed))
    wave = np.interp(np.linspace(0, len(wave) - 1, n), np.arange(len(wave)), wave)
    return rng.uniform(0.3, 0.6) * wave


def _place(rng: np.random.Generator, length: int, window: int, inside: float) -> int:
    """A start (samples) that keeps at least `inside` of a sound of `length` in the window."""
    lo = -int((1 - inside) * length)
    hi = max(lo, window - int(inside * length))
    return int(rng.integers(lo, hi + 1))


def sound_window(rng: np.random.Generator, variants: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """A one-second window with 0–2 sounds of SOUND_CLASSES (and sometimes a word spoken over
    them) → (wave (S,), multi-hot labels (len(SOUND_CLASSES),))."""
    window = int(WINDOW_SECONDS * SAMPLE_RATE)
    wave = rng.normal(0, 0.005, window)
    labels = np.zeros(len(SOUND_CLASSES), np.float32)
    count = int(rng.choice(3, p=[0.1, 0.65, 0.25]))
    for k in rng.choice(len(SOUND_CLASSES), size=count, replace=False):
        s = sound(SOUND_CLASSES[k], rng=rng) * rng.uniform(0.6, 1.3)
        mix_in(wave, s, _place(rng, len(s), window, 0.7) / SAMPLE_RATE)
        labels[k] = 1.0
    if rng.random() < 0.5:
        w = _augmented_word(rng, WORDS[int(rng.integers(len(WORDS)))], variants)
        mix_in(wave, w, _place(rng, len(w), window, 0.5) / SAMPLE_RATE)
    return np.clip(wave, -1, 1), labels


def speech_window(rng: np.random.Generator, variants: Sequence[int]) -> tuple[np.ndarray, int]:
    """A one-second window with one word of `variants` (mostly inside it) or none, sometimes over
    a sound → (wave (S,), index in SPEECH_CLASSES)."""
    window = int(WINDOW_SECONDS * SAMPLE_RATE)
    wave = rng.normal(0, 0.005, window)
    label = 0
    if rng.random() < 0.85:
        label = int(rng.integers(1, len(SPEECH_CLASSES)))
        w = _augmented_word(rng, SPEECH_CLASSES[label], variants)
        mix_in(wave, w, _place(rng, len(w), window, 0.8) / SAMPLE_RATE)
    if rng.random() < 0.5:
        s = sound(SOUND_CLASSES[int(rng.integers(len(SOUND_CLASSES)))], rng=rng) * rng.uniform(0.4, 1.0)
        mix_in(wave, s, _place(rng, len(s), window, 0.5) / SAMPLE_RATE)
    return np.clip(wave, -1, 1), label


def train_variants() -> list[int]:
    return [v for v in range(len(VARIANTS)) if v not in HELD_OUT_VARIANTS]


def window_set(base: str, n: int, seed: int, held_out: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """n training (or held-out: other seeds and, for speech, the held-out voices) windows of a
    base's task: log-mel (n, N_MELS, 100) and labels (multi-hot (n, 9) for 'sound', class (n,)
    for 'speech')."""
    if base not in AUDIO_BASES:
        raise ValueError(f"unknown audio base {base!r}; use one of {AUDIO_BASES}")
    rng = np.random.default_rng([seed, 41, int(held_out)])
    variants = list(HELD_OUT_VARIANTS) if held_out else train_variants()
    make = sound_window if base == "sound" else speech_window
    waves, labels = zip(*(make(rng, variants) for _ in range(n)))
    mel = torch.cat([LogMel()(np.stack(waves[i:i + 512])) for i in range(0, n, 512)])
    return mel, torch.as_tensor(np.stack(labels) if base == "sound" else np.array(labels))


def base_loss(base: str, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Multi-label BCE for 'sound', cross-entropy for 'speech'."""
    return F.binary_cross_entropy_with_logits(logits, labels) if base == "sound" else F.cross_entropy(logits, labels)


def new_base(base: str, recipe: dict) -> AudioNet:
    """An untrained audio base of the recipe's size, initialised from its seed."""
    classes = len(SOUND_CLASSES) if base == "sound" else len(SPEECH_CLASSES)
    with seeded(recipe["seed"]):
        return AudioNet(classes, recipe["width"], recipe["layers"], recipe["heads"])


def spec_augment(mel: torch.Tensor, g: torch.Generator, max_time: int = 12, max_freq: int = 8) -> torch.Tensor:
    """SpecAugment: one random band of time frames and one of mel bands set to the minimum."""
    b, f, t = mel.shape
    out = mel.clone()
    low = mel.amin(dim=(1, 2), keepdim=True)
    t0 = torch.randint(0, t, (b, 1, 1), generator=g)
    tw = torch.randint(0, max_time + 1, (b, 1, 1), generator=g)
    f0 = torch.randint(0, f, (b, 1, 1), generator=g)
    fw = torch.randint(0, max_freq + 1, (b, 1, 1), generator=g)
    ts, fs = torch.arange(t).view(1, 1, t), torch.arange(f).view(1, f, 1)
    mask = ((ts >= t0) & (ts < t0 + tw)) | ((fs >= f0) & (fs < f0 + fw))
    return torch.where(mask, low.expand_as(out), out)


def base_batch_at(base: str, recipe: dict):
    """batch_at(step) → the recipe's training batch at `step`: (log-mel (B, N_MELS, 100), labels),
    drawn from a pool of recipe['windows'] windows (computed once, here) and SpecAugment-ed.
    Deterministic in (recipe seed, step), so a resumed run sees the same batches."""
    mel, labels = window_set(base, recipe["windows"], recipe["seed"])

    def batch_at(step: int):
        g = torch.Generator().manual_seed(recipe["seed"] * 1_000_003 + step)
        idx = torch.randint(0, len(mel), (recipe["batch_size"],), generator=g)
        return spec_augment(mel[idx], g), labels[idx]

    return batch_at


@torch.no_grad()
def base_accuracy(model: AudioNet, base: str, mel: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """Held-out figures of a base. 'sound': accuracy of the top class on windows with exactly one
    sound, and exact-set accuracy (sigmoid > 0.5) on all; 'speech': word accuracy (incl. 'none')."""
    model.eval()
    logits = torch.cat([model.logits(mel[i:i + 256]) for i in range(0, len(mel), 256)])
    if base == "speech":
        return {"accuracy": float((logits.argmax(1) == labels).float().mean())}
    single = labels.sum(1) == 1
    top = logits.argmax(1) == labels.argmax(1)
    exact = ((logits > 0).float() == labels).all(1)
    return {"accuracy": float(top[single].float().mean()), "exact_set": float(exact.float().mean())}


# ---- the audio encoder of a VLM ---------------------------------------------------------------
class AudioEncoder(nn.Module):
    """Audio bases side by side, for a VLM: waveforms → (segments, P, D) features, D = the sum of
    the bases' widths, P = 1 with `pool` (one embedding per window) else the window's frames.

    `preprocess(items)` turns audio Media into log-mel windows (G, segments, N_MELS, F): it
    resamples a track at another rate to 16 kHz (with a warning) and cuts it into windows
    (`segment_starts`); `forward` encodes windows (N, N_MELS, F) → (N, P, D)."""

    def __init__(self, bases: dict[str, AudioNet], segments: int = 8, segment_seconds: float = 1.0,
                 pool: bool = True):
        super().__init__()
        if not bases:
            raise ValueError(f"an audio encoder needs at least one base of {AUDIO_BASES}")
        self.bases = nn.ModuleDict(bases)
        self.segments, self.segment_seconds, self.pool = segments, segment_seconds, pool
        self.window = int(round(segment_seconds * SAMPLE_RATE))
        self.frontend = LogMel()

    @property
    def width(self) -> int:
        return sum(b.width for b in self.bases.values())

    @property
    def num_patches(self) -> int:
        return 1 if self.pool else (self.window // HOP + 1) // 2

    def waveform(self, item: Media) -> np.ndarray:
        """An audio item's track at 16 kHz (resampled, with a warning, if it came at another rate)."""
        if item.waveform is None:
            raise MissingAudioError(f"{item!r} carries no waveform; give Media.audio(track, rate)")
        wave = item.waveform.numpy()
        if item.sample_rate != SAMPLE_RATE:
            warnings.warn(f"audio at {item.sample_rate} Hz was resampled to {SAMPLE_RATE} Hz, the rate the "
                          "audio encoders were trained at", stacklevel=3)
            wave = resample(wave, item.sample_rate)
        return wave

    def preprocess(self, items: Sequence[Media]) -> torch.Tensor:
        """Audio items → log-mel windows (G, segments, N_MELS, window / HOP)."""
        windows = np.stack([cut_segments(self.waveform(item), self.segments, self.window) for item in items])
        mel = self.frontend(windows.reshape(-1, self.window))  # (G·segments, N_MELS, F)
        return mel.view(len(items), self.segments, *mel.shape[1:])

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """mel (N, N_MELS, F) → (N, P, D): each base's frames (or their mean), side by side."""
        feats = [base(mel) for base in self.bases.values()]  # (N, F/2, width_b) each
        if self.pool:
            feats = [f.mean(1, keepdim=True) for f in feats]
        return torch.cat(feats, dim=-1)


# ---- the bases: recipes, training, loading ----------------------------------------------------
def audio_recipe(base: str, full: bool | None = None) -> dict:
    """How an audio base is trained (`full`: None → the current mode; sizes shrink in fast mode):
    `windows` one-second windows (log-mel computed once), `steps` AdamW steps on batches drawn
    from them with SpecAugment."""
    from .runtime import fast_mode

    if base not in AUDIO_BASES:
        raise ValueError(f"unknown audio base {base!r}; use one of {AUDIO_BASES}")
    if full is None:
        full = not fast_mode()
    return {"base": base, "width": 64, "layers": 2, "heads": 4, "windows": 4000 if full else 64,
            "steps": 800 if full else 4, "batch_size": 64 if full else 16, "lr": 2e-3, "weight_decay": 0.01,
            "seed": 0}


def train_base(recipe: dict, progress: bool = False) -> AudioNet:
    """Train an audio base from its recipe (`audio_recipe`) with the shared loop; returns it frozen, in eval mode."""
    from .train import TrainConfig, train

    base = recipe["base"]
    model = new_base(base, recipe)
    train(model, map(base_batch_at(base, recipe), range(recipe["steps"])),
          TrainConfig(steps=recipe["steps"], lr=recipe["lr"], weight_decay=recipe["weight_decay"],
                      seed=recipe["seed"], desc=f"audio base: {base}", progress=progress),
          loss_fn=lambda m, batch: base_loss(base, m.logits(batch[0]), batch[1]))
    return model.requires_grad_(False).eval()


def build_audio_encoder(config, pretrained: bool = True) -> AudioEncoder:
    """The audio encoder a VLMConfig names: its `audio` bases side by side (pretrained: the zoo's
    when config.audio_weights is 'zoo'; random otherwise — `from_pretrained` loads saved weights
    over them), cut into config.audio_segments windows of config.audio_segment_seconds."""
    if not config.audio:
        raise ValueError("this config has no audio bases (config.audio is empty)")
    unknown = set(config.audio) - set(AUDIO_BASES)
    if unknown:
        raise ValueError(f"unknown audio base(s) {sorted(unknown)}; use some of {AUDIO_BASES}")
    if pretrained and config.audio_weights == "zoo":
        from . import zoo

        bases = {name: zoo.toy_audio(name, progress=False) for name in config.audio}
    elif pretrained and config.audio_weights is not None:
        raise ValueError(f"audio_weights must be 'zoo' or None, got {config.audio_weights!r}")
    else:
        bases = {name: new_base(name, audio_recipe(name)) for name in config.audio}
    return AudioEncoder(bases, config.audio_segments, config.audio_segment_seconds, config.audio_pool)

