"""What a scene sounds like: its events' sounds, an off-screen noise and a voice saying words.

Every scene gets a soundtrack drawn deterministically from its seed (`soundtrack(scene)`):

- the **events' sounds** (`render.render_audio`: a thud when something stops, a click at a
  bounce, …) — what the picture already shows;
- one **off-screen noise** (a beep, buzz, hum or whistle; `world.NOISES`) that starts when one
  of the scene's events happens (its `anchor`) — heard, never seen;
- a **voice** saying two words (colours, shapes, numbers; `WORDS`) at known times — real
  speech, rendered once with espeak-ng (`tools/make_word_bank.py`) and shipped as FLAC files in
  `minivlm/data/words/` (several voices and pitches per word).

So some questions need the audio (what noise, what the voice says) and some need both
(which object moves while the voice says a word): see `data.text.audio_qa`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .render import SAMPLE_RATE, render_audio, sound
from .world import COLOURS, NOISES, SHAPES, Event, Scene

BANK_DIR = Path(__file__).parent / "words"
WORDS: tuple[str, ...] = (*COLOURS, *SHAPES, "one", "two", "three", "four", "five", "six")
# espeak-ng voices × pitches each word is spoken with (tools/make_word_bank.py).
VOICES = ("en-us", "en-gb", "en-us+f2", "en-gb-scotland+f4", "en-029")
PITCHES = (35, 65)
VARIANTS: tuple[tuple[str, int], ...] = tuple((v, p) for v in VOICES for p in PITCHES)
# Variants an audio encoder never trains on (`minivlm.audio`): its held-out voices.
HELD_OUT_VARIANTS = (VARIANTS.index(("en-029", 35)), VARIANTS.index(("en-gb", 65)))


class WordBankMissing(FileNotFoundError):
    """The shipped word bank is not there (a broken install or checkout)."""


@lru_cache(maxsize=None)
def word_bank() -> dict[str, tuple[np.ndarray, ...]]:
    """Every word's spoken variants: {word: (float32 (S,) at SAMPLE_RATE, one per VARIANTS entry)}."""
    import av

    index_path = BANK_DIR / "index.json"
    if not index_path.exists():
        raise WordBankMissing(f"the word bank is missing ({index_path}); reinstall minivlm, or re-render it with "
                              "`python tools/make_word_bank.py` (needs espeak-ng)")
    index = json.loads(index_path.read_text())
    bank = {}
    for word, spans in index["words"].items():
        with av.open(str(BANK_DIR / f"{word}.flac")) as container:
            wave = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)])
        wave = wave.astype(np.float32) / 32768.0
        bank[word] = tuple(wave[start:start + length] for start, length in spans)
    return bank


def spoken(word: str, variant: int = 0) -> np.ndarray:
    """The word as said by VARIANTS[variant]: float32 (S,) at SAMPLE_RATE."""
    bank = word_bank()
    if word not in bank:
        raise ValueError(f"the voice cannot say {word!r}; it knows {WORDS}")
    return bank[word][variant]


@dataclass(frozen=True)
class Utterance:
    """A word the voice says, from `start` to `end` seconds, in voice VARIANTS[variant]."""

    word: str
    start: float
    end: float
    variant: int

    @property
    def middle(self) -> float:
        return (self.start + self.end) / 2


@dataclass(frozen=True)
class Noise:
    """An off-screen sound from `start` to `end` seconds; it starts with `anchor` (an event), if any."""

    name: str
    start: float
    end: float
    anchor: Event | None = None


@dataclass(frozen=True)
class Soundtrack:
    """What a scene's audio holds beside its events' sounds: words (in time order) and noises."""

    words: tuple[Utterance, ...]
    noises: tuple[Noise, ...]


def soundtrack(scene: Scene, num_words: int = 2) -> Soundtrack:
    """The scene's words and off-screen noise, drawn from its seed (deterministic).

    Word k of n is said within the k-th n-th of the clip (so words never overlap); the noise
    starts at one of the scene's events (or at a random moment when it has none)."""
    rng = np.random.default_rng([scene.seed, 29])
    chosen = rng.choice(len(WORDS), size=num_words, replace=False)
    words = []
    part = scene.duration / num_words
    for k, w in enumerate(chosen):
        variant = int(rng.integers(len(VARIANTS)))
        length = len(spoken(WORDS[w], variant)) / SAMPLE_RATE
        lo, hi = k * part + 0.05, (k + 1) * part - length - 0.05
        start = round(float(rng.uniform(lo, max(lo, hi))), 2)
        words.append(Utterance(WORDS[w], start, round(start + length, 3), variant))
    name = NOISES[int(rng.integers(len(NOISES)))]
    length = len(sound(name)) / SAMPLE_RATE
    anchor = scene.events[int(rng.integers(len(scene.events)))] if scene.events else None
    start = anchor.start if anchor is not None else round(float(rng.uniform(0.2, scene.duration - length)), 2)
    return Soundtrack(tuple(words), (Noise(name, start, round(start + length, 3), anchor),))


def describe_soundtrack(scene: Scene) -> str:
    """The soundtrack told in words, in time order, as `text.describe` tells the picture:
    'at 0.4 seconds the voice says red . at 1.6 seconds a buzz is heard . at 2.3 seconds the
    voice says three .' (the events' own sounds are left out: the picture's events say them).
    The toy LM reads this in pretraining (`zoo.lm_corpus`, via `text.describe(scene, sound=True)`),
    so that a VLM's audio tokens have language to map to."""
    from .text import indefinite_article, seconds

    track = soundtrack(scene)
    said = [(u.start, f"the voice says {u.word}") for u in track.words]
    heard = [(n.start, f"{indefinite_article(n.name)} {n.name} is heard") for n in track.noises]
    return " ".join(f"at {seconds(t)} seconds {what} ." for t, what in sorted(said + heard, key=lambda x: x[0]))


def sound_caption(scene: Scene) -> str:
    """What the soundtrack holds, in one line: 'the voice says red and three . a buzz is heard .'
    (what a caption of a clip with sound adds to `text.caption`)."""
    from .text import indefinite_article

    track = soundtrack(scene)
    words = " and ".join(u.word for u in track.words)
    noises = " ".join(f"{indefinite_article(n.name)} {n.name} is heard ." for n in track.noises)
    return f"the voice says {words} . {noises}"


def render_soundtrack(scene: Scene, sample_rate: int = SAMPLE_RATE, speech: bool = True,
                      noises: bool = True) -> np.ndarray:
    """The scene's full audio: `render_audio` (events' sounds over a noise floor) plus its
    soundtrack's off-screen noise and words. float32 (duration · sample_rate,) in [-1, 1]."""
    if sample_rate != SAMPLE_RATE:
        raise ValueError(f"the word bank is at {SAMPLE_RATE} Hz; render at that rate and resample afterwards")
    track = render_audio(scene, sample_rate).astype(np.float64)
    extra = soundtrack(scene)
    pieces = [(n.start, sound(n.name)) for n in extra.noises] if noises else []
    pieces += [(u.start, 0.5 * spoken(u.word, u.variant)) for u in extra.words] if speech else []
    for start, wave in pieces:
        mix_in(track, wave, start, sample_rate)
    return np.clip(track, -1.0, 1.0).astype(np.float32)


def mix_in(track: np.ndarray, wave: np.ndarray, start: float, sample_rate: int = SAMPLE_RATE) -> None:
    """Add `wave` into `track` (in place) from `start` seconds on, cut at the track's end."""
    i = int(round(start * sample_rate))
    if i >= len(track):
        return
    stop = min(len(track), i + len(wave))
    track[max(i, 0):stop] += wave[max(0, -i): stop - i]
