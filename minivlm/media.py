"""Media records: one image, video or audio track each, and the placeholders that stand for them.

A conversation names its media with placeholders in the text (`<image>`, `<video>`,
`<audio>`), and the media come beside it as a list of `Media`, one per placeholder, in order.
Each item is expanded to *its own* number of tokens (a 2-frame clip and an 8-frame clip differ),
so a batch may mix images and videos of different lengths and carry audio beside video.

A `Media` holds what it is (`modality`) and either its raw content — pixels (T, H, W, 3) uint8
(an image is T = 1), or a waveform (S,) with its sample rate — or the features a frozen encoder
already computed from it (`features`, (T, P, D)), which is how training on a frozen encoder is
made fast: encode once, then train on the features.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np
import torch

MODALITIES = ("image", "video", "audio")
PLACEHOLDERS = {"image": "<image>", "video": "<video>", "audio": "<audio>"}
MODALITY_OF = {token: modality for modality, token in PLACEHOLDERS.items()}


class MediaMismatchError(ValueError):
    """The placeholders of a text do not match the media given with it."""


class MissingAudioError(ValueError):
    """A clip without an audio track was given where its sound is needed."""


@dataclass(frozen=True, eq=False)
class Media:
    """One media item. Give `pixels` or `waveform` (raw), or `features` (encoded), not both.

    pixels: uint8 (T, H, W, 3), T = 1 for an image; times: each frame's time in seconds (T,);
    waveform: float (S,) in [-1, 1] with `sample_rate` — an audio track, or a video's soundtrack
    (one item carrying both, for synchronized fusion; `soundtrack()` splits it off);
    duration: a video's length in seconds (its soundtrack is checked against it);
    features: (T, P, D) from the encoder of this modality (vision: T frames × P patch tokens);
    anyres: an image may be cut into AnyRes crops by a model that does so (LLaVA-OneVision,
    notebook 10); False: read at the encoder's base view only, as OneVision reads each image of a
    multi-image set (`VLM.prompt_media` sets it). Other models always read the base view.
    """

    modality: str
    pixels: torch.Tensor | None = None
    features: torch.Tensor | None = None
    times: tuple[float, ...] | None = None
    waveform: torch.Tensor | None = None
    sample_rate: int | None = None
    duration: float | None = None
    anyres: bool = True

    def __post_init__(self) -> None:
        if self.modality not in MODALITIES:
            raise ValueError(f"unknown modality {self.modality!r}; use one of {MODALITIES}")
        raw = self.waveform if self.modality == "audio" else self.pixels
        if (raw is None) == (self.features is None):
            what = "waveform" if self.modality == "audio" else "pixels"
            raise ValueError(f"a {self.modality} record needs exactly one of {what} or features")
        if self.pixels is not None:
            if self.pixels.dtype != torch.uint8 or self.pixels.ndim != 4 or self.pixels.shape[-1] != 3:
                raise ValueError(f"{self.modality} pixels must be uint8 (T, H, W, 3), got "
                                 f"{self.pixels.dtype} {tuple(self.pixels.shape)}")
            if self.modality == "image" and self.pixels.shape[0] != 1:
                raise ValueError(f"an image has one frame, got {self.pixels.shape[0]}; use Media.video for a clip")
        if self.features is not None and self.features.ndim != 3:
            raise ValueError(f"features must be (T, P, D), got shape {tuple(self.features.shape)}")
        if self.waveform is not None and (self.waveform.ndim != 1 or not self.sample_rate):
            raise ValueError("audio needs a 1-D waveform (S,) and its sample_rate")
        if self.waveform is not None and self.modality == "image":
            raise ValueError("an image has no soundtrack; give the audio as its own Media.audio item")
        if self.times is not None and len(self.times) != self.num_frames:
            raise ValueError(f"{len(self.times)} frame times for {self.num_frames} frames")

    def __repr__(self) -> str:
        if self.features is not None:
            return f"Media({self.modality}, features {tuple(self.features.shape)})"
        if self.pixels is None:
            return f"Media(audio, {len(self.waveform) / self.sample_rate:.2f} s at {self.sample_rate} Hz)"
        t, h, w, _ = self.pixels.shape
        sound = "" if self.waveform is None else f" + {len(self.waveform) / self.sample_rate:.2f} s of sound"
        return f"Media({self.modality}, {t} frame{'s' if t > 1 else ''} {h}×{w}{sound})"

    # ---- constructors --------------------------------------------------------------------
    @classmethod
    def image(cls, pixels: np.ndarray | torch.Tensor) -> Media:
        """An image, uint8 (H, W, 3)."""
        x = _as_uint8(pixels)
        if x.ndim != 3:
            raise ValueError(f"an image is (H, W, 3) uint8, got shape {tuple(x.shape)}")
        return cls("image", pixels=x[None])

    @classmethod
    def video(cls, frames: np.ndarray | torch.Tensor, times: Sequence[float] | None = None,
              waveform: np.ndarray | torch.Tensor | None = None, sample_rate: int | None = None,
              duration: float | None = None) -> Media:
        """A clip, uint8 (T, H, W, 3), with each frame's time in seconds (optional), and optionally
        its soundtrack (S,) float at `sample_rate` Hz and its length in seconds."""
        x = _as_uint8(frames)
        if x.ndim != 4:
            raise ValueError(f"a video is (T, H, W, 3) uint8, got shape {tuple(x.shape)}")
        wave = None if waveform is None else torch.as_tensor(np.asarray(waveform), dtype=torch.float32)
        return cls("video", pixels=x, times=None if times is None else tuple(float(t) for t in times),
                   waveform=wave, sample_rate=None if sample_rate is None else int(sample_rate),
                   duration=None if duration is None else float(duration))

    @classmethod
    def audio(cls, waveform: np.ndarray | torch.Tensor, sample_rate: int) -> Media:
        """An audio track (S,) float in [-1, 1] at `sample_rate` Hz."""
        return cls("audio", waveform=torch.as_tensor(np.asarray(waveform), dtype=torch.float32),
                   sample_rate=int(sample_rate))

    # ---- properties ----------------------------------------------------------------------
    @property
    def placeholder(self) -> str:
        return PLACEHOLDERS[self.modality]

    @property
    def num_frames(self) -> int:
        """Frames of an image or video (1 for an image); windows of encoded audio."""
        if self.pixels is not None:
            return int(self.pixels.shape[0])
        if self.features is not None:
            return int(self.features.shape[0])
        return 1

    def soundtrack(self, missing: str = "error", sample_rate: int = 16_000) -> Media:
        """A clip's soundtrack as its own audio item, cut or padded with silence (with a warning)
        to the clip's `duration` when that is known. A clip without one raises MissingAudioError,
        unless missing='silence': then a silent track as long as the clip (an explicit zero-audio input)."""
        import warnings

        if self.modality != "video":
            raise ValueError(f"only a video carries a soundtrack, not {self!r}")
        seconds = self.duration
        if seconds is None and self.times:  # frames taken at segment middles: the clip ends half a step later
            step = self.times[1] - self.times[0] if len(self.times) > 1 else 2 * self.times[0]
            seconds = self.times[-1] + step / 2
        if self.waveform is None:
            if missing != "silence":
                raise MissingAudioError(
                    "this clip has no audio track; read it with minivlm.data.read_audio(path) and give it as "
                    "Media.video(frames, times, waveform=track, sample_rate=16000), or call "
                    "clip.soundtrack(missing='silence') to give the model silence instead")
            return Media.audio(np.zeros(int(round((seconds or 1.0) * sample_rate)), np.float32), sample_rate)
        wave, rate = self.waveform, self.sample_rate
        if self.duration is not None:
            want = int(round(self.duration * rate))
            if abs(len(wave) - want) > rate // 100:  # more than 10 ms off
                warnings.warn(f"the soundtrack is {len(wave) / rate:.2f} s but the clip {self.duration:.2f} s: "
                              f"{'padded with silence' if len(wave) < want else 'cut'} to the clip's length",
                              stacklevel=2)
                wave = torch.nn.functional.pad(wave, (0, max(0, want - len(wave))))[:want]
        return Media.audio(wave, rate)

    def encoded(self, features: torch.Tensor) -> Media:
        """The same item carried by its encoder features (T, P, D) instead of its raw content."""
        return replace(self, pixels=None, waveform=None, features=features)


def _as_uint8(x: np.ndarray | torch.Tensor) -> torch.Tensor:
    t = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(x))
    if t.dtype != torch.uint8 or t.shape[-1] != 3:
        raise ValueError(f"pixels must be uint8 (…, H, W, 3), got {t.dtype} {tuple(t.shape)}")
    return t


def as_media(item: Media | np.ndarray | torch.Tensor) -> Media:
    """A Media record from a record (unchanged), an image (H, W, 3) or a clip (T, H, W, 3), uint8."""
    if isinstance(item, Media):
        return item
    x = _as_uint8(item)
    if x.ndim == 3:
        return Media.image(x)
    if x.ndim == 4:
        return Media.video(x)
    raise ValueError(f"media must be an image (H, W, 3), a clip (T, H, W, 3) or a Media record, "
                     f"got shape {tuple(x.shape)}")


def placeholders(text: str) -> list[str]:
    """The media placeholders of a text, in order: ['<image>', '<video>', …]."""
    return [word for word in text.split() if word in MODALITY_OF]


def check_media(texts: Sequence[str], media: Sequence[Media]) -> None:
    """Raise MediaMismatchError unless the placeholders of `texts` (in order) name `media` one to
    one, each with its own modality."""
    found = [p for text in texts for p in placeholders(text)]
    given = [m.placeholder for m in media]
    if found != given:
        raise MediaMismatchError(
            f"the text has placeholders {found or 'none'} but the media given are {given or 'none'}; put "
            "exactly one placeholder in the text for each media item, in the order the items are given "
            "(<image> for an image, <video> for a clip, <audio> for an audio track)"
        )
