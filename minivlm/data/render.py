"""Pixels and sound of a scene: frames at any times, stills, and a synchronized audio track."""

from __future__ import annotations

import numpy as np

from .world import COLOURS, NOISES, SOUND_OF_EVENT, Scene

SAMPLE_RATE = 16_000


def _shape_mask(shape: str, dx: np.ndarray, dy: np.ndarray, r: float) -> np.ndarray:
    """Boolean mask of a shape of radius r (pixels), given offsets from its centre."""
    if shape == "circle":
        return dx**2 + dy**2 <= r**2
    if shape == "square":
        s = 0.82 * r
        return (np.abs(dx) <= s) & (np.abs(dy) <= s)
    if shape == "diamond":
        return np.abs(dx) + np.abs(dy) <= 1.1 * r
    if shape == "triangle":  # pointing up: the width grows linearly from apex to base
        top, bottom = -r, 0.75 * r
        frac = (dy - top) / (bottom - top)
        return (dy >= top) & (dy <= bottom) & (np.abs(dx) <= frac * 0.95 * r)
    if shape == "cross":
        arm = 0.33 * r
        return ((np.abs(dx) <= arm) & (np.abs(dy) <= r)) | ((np.abs(dy) <= arm) & (np.abs(dx) <= r))
    raise ValueError(f"unknown shape {shape!r}")


def render(scene: Scene, times: np.ndarray | list[float] | None = None,
           size: tuple[int, int] | None = None) -> np.ndarray:
    """Frames of `scene` at `times` (seconds; default: every native frame).

    Returns uint8 array (T, H, W, 3). `size=(H, W)` renders at another resolution or
    aspect ratio; positions are normalised so the same scene looks the same.
    """
    times = scene.frame_times() if times is None else np.asarray(times, dtype=np.float64)
    h, w = size or (scene.height, scene.width)
    short = min(h, w)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32) + 0.5
    out = np.empty((len(times), h, w, 3), dtype=np.uint8)
    # A fixed, seed-dependent texture so backgrounds are not flat.
    tex_rng = np.random.default_rng(scene.seed)
    texture = tex_rng.normal(0.0, 4.0, size=(h, w, 1)).astype(np.float32)
    gradient = (ys / h - 0.5)[..., None] * 20.0
    background = np.clip(np.array(scene.background, np.float32) + texture + gradient, 0, 255)
    for k, t in enumerate(times):
        frame = background.copy()
        for i, o in enumerate(scene.objects):
            if not scene.visible(i, float(t)):
                continue
            cx, cy = scene.position(i, float(t))
            mask = _shape_mask(o.shape, xs - float(cx) * w, ys - float(cy) * h, o.radius * short)
            frame[mask] = COLOURS[scene.colour_at(i, float(t))]
        out[k] = frame.astype(np.uint8)
    return out


def render_still(scene: Scene, t: float = 0.0, size: tuple[int, int] | None = None) -> np.ndarray:
    """One frame at time t, shape (H, W, 3) uint8: the toy world's 'image'."""
    return render(scene, [t], size=size)[0]


def uniform_times(scene: Scene, n: int) -> np.ndarray:
    """Centres of n equal segments of the clip, in seconds: what uniform sampling sees."""
    return (np.arange(n) + 0.5) * scene.duration / n


def _tone(n: int, f0: float, f1: float, sr: int) -> np.ndarray:
    t = np.arange(n) / sr
    freq = np.linspace(f0, f1, n)
    phase = 2 * np.pi * np.cumsum(freq) / sr
    return np.sin(phase) * np.exp(-3.0 * t / max(t[-1], 1e-6))


def sound(kind: str, sr: int = SAMPLE_RATE, rng: np.random.Generator | None = None) -> np.ndarray:
    """The waveform an event makes (see SOUND_OF_EVENT), or an off-screen sound (world.NOISES):
    distinct in pitch and texture. Returns float (S,) at `sr`."""
    rng = rng or np.random.default_rng(0)
    if kind == "appear":
        return 0.5 * _tone(int(0.15 * sr), 400, 1200, sr)
    if kind == "disappear":
        return 0.5 * _tone(int(0.15 * sr), 1200, 400, sr)
    if kind == "bounce":
        n = int(0.04 * sr)
        return 0.6 * rng.uniform(-1, 1, n) * np.exp(-np.arange(n) / (0.008 * sr))
    if kind == "stop":
        return 0.7 * _tone(int(0.2 * sr), 150, 90, sr)
    if kind == "change":
        return 0.4 * _tone(int(0.2 * sr), 2000, 2000, sr)
    return _noise(kind, sr)


def _noise(name: str, sr: int) -> np.ndarray:
    """An off-screen sound (world.NOISES): steady, 0.3–0.4 s, unlike any event's sound."""
    t = np.arange(int(0.35 * sr)) / sr
    envelope = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.02)  # 20 ms fades, no clicks
    if name == "beep":  # a square wave at 1 kHz
        wave = 0.3 * np.sign(np.sin(2 * np.pi * 1000 * t))
    elif name == "buzz":  # a sawtooth at 120 Hz
        wave = 0.35 * (2 * ((120 * t) % 1.0) - 1)
    elif name == "hum":  # 180 Hz with its harmonics
        wave = 0.25 * sum(np.sin(2 * np.pi * 180 * k * t) / k for k in (1, 2, 3))
    elif name == "whistle":  # 2.8 kHz with a 7 Hz vibrato
        wave = 0.3 * np.sin(2 * np.pi * 2800 * t + 8 * np.sin(2 * np.pi * 7 * t))
    else:
        raise ValueError(f"unknown sound {name!r}; events that sound: {tuple(SOUND_OF_EVENT)}, "
                         f"off-screen sounds: {NOISES}")
    return wave * envelope


def render_audio(scene: Scene, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Mono track, float32 in [-1, 1], shape (duration * sample_rate,): each event's sound
    starts at the event's time over a faint noise floor."""
    n = int(round(scene.duration * sample_rate))
    rng = np.random.default_rng(scene.seed + 1)
    track = rng.normal(0.0, 0.005, n)
    for event in scene.events:
        wave = sound(event.kind, sample_rate, rng)
        start = int(round(event.start * sample_rate))
        stop = min(n, start + len(wave))
        if start < n:
            track[start:stop] += wave[: stop - start]
    return np.clip(track, -1.0, 1.0).astype(np.float32)
