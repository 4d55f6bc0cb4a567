"""Clips as real files: written as .mp4 (H.264 video + AAC audio) with PyAV, read with decord.

This is the path a real video takes into a video LLM: decode, pick N frames (uniformly over
the clip, or at a fixed rate), remember each frame's timestamp, and read the audio track.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np


class VideoReadError(ValueError):
    """A video could not be opened or decoded; the message says which file and what to do."""


@dataclass
class Clip:
    """Frames read from a file. frames: uint8 (T, H, W, 3); times: seconds (T,)."""

    frames: np.ndarray
    times: np.ndarray
    indices: np.ndarray
    fps: float
    duration: float
    num_frames: int  # frames in the whole file


def uniform_indices(num_frames: int, n: int) -> np.ndarray:
    """Indices of n frames spread evenly over a clip of `num_frames`: the middle frame of
    each of n equal segments (the sampling of Video-LLaVA, PLLaVA and most video LLMs).

    Raises a ValueError when the clip has fewer than n frames.
    """
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    if num_frames < n:
        raise ValueError(
            f"the clip has {num_frames} frames but {n} were asked for; ask for at most "
            f"{num_frames} frames, or sample by time with fps_indices()"
        )
    return ((np.arange(n) + 0.5) * num_frames / n).astype(np.int64)


def fps_indices(num_frames: int, native_fps: float, target_fps: float) -> np.ndarray:
    """Indices of the frames nearest to t = 0, 1/target_fps, 2/target_fps, … (fixed-rate
    sampling: the number of frames grows with the clip's length)."""
    if target_fps <= 0 or native_fps <= 0:
        raise ValueError(f"fps must be positive, got native {native_fps}, target {target_fps}")
    duration = num_frames / native_fps
    times = np.arange(0.0, duration - 1e-9, 1.0 / target_fps)
    return np.minimum(np.round(times * native_fps).astype(np.int64), num_frames - 1)


def write_video(path: str | Path, frames: np.ndarray, fps: int, audio: np.ndarray | None = None,
                sample_rate: int = 16_000) -> Path:
    """Write frames (T, H, W, 3) uint8 and an optional mono track (S,) float in [-1, 1] to an
    .mp4 file (lossless H.264 in YUV 4:2:0 + AAC): the same frames always decode to the same
    pixels, which differ from the frames given only by the colour conversion (chroma at half
    resolution). H and W must be even (yuv420p)."""
    import av

    path = Path(path)
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 (T, H, W, 3), got {frames.dtype} {frames.shape}")
    t, h, w, _ = frames.shape
    if h % 2 or w % 2:
        raise ValueError(f"H.264 needs an even width and height, got {w}x{h}; render at an even size")
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = w, h, "yuv420p"
        # Lossless H.264 (qp 0): the file decodes to exactly the YUV 4:2:0 frames it was given, so
        # the same clip always reads back the same. Lossy x264 (crf 12) chose differently from run
        # to run here (1 clip in 8 decoded to other pixels), and training on them drifted with it.
        video.options = {"qp": "0"}
        sound = None
        if audio is not None:
            sound = container.add_stream("aac", rate=sample_rate, layout="mono")
        for i, frame in enumerate(frames):
            picture = av.VideoFrame.from_ndarray(frame, format="rgb24")
            picture.pts = i
            for packet in video.encode(picture):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        if sound is not None:
            samples = np.asarray(audio, dtype=np.float32).reshape(1, -1)
            chunk = 1024
            for start in range(0, samples.shape[1], chunk):
                piece = np.ascontiguousarray(samples[:, start:start + chunk])
                af = av.AudioFrame.from_ndarray(piece, format="fltp", layout="mono")
                af.sample_rate = sample_rate
                af.pts = start
                af.time_base = Fraction(1, sample_rate)
                for packet in sound.encode(af):
                    container.mux(packet)
            for packet in sound.encode():
                container.mux(packet)
    return path


def _open(path: Path):
    import decord

    if not path.exists():
        raise FileNotFoundError(
            f"no video at {path}; check the path, or write one with minivlm.data.write_video()"
        )
    try:
        return decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=1)
    except Exception as err:  # decord raises its own opaque error types
        raise VideoReadError(
            f"could not decode {path} as a video ({type(err).__name__}); the file is corrupt or "
            "not a video: re-generate it (minivlm.data.write_clip_folder) or re-encode it as .mp4"
        ) from None


def read_video(path: str | Path, num_frames: int | None = None, fps: float | None = None) -> Clip:
    """Decode frames from a video file with decord.

    num_frames: take that many frames uniformly (segment middles); fps: take frames at that
    rate; neither: every frame. Returns a Clip with each frame's timestamp.
    """
    if num_frames is not None and fps is not None:
        raise ValueError("give num_frames (uniform sampling) or fps (fixed-rate sampling), not both")
    path = Path(path)
    reader = _open(path)
    total = len(reader)
    native_fps = float(reader.get_avg_fps())
    if num_frames is not None:
        idx = uniform_indices(total, num_frames)
    elif fps is not None:
        idx = fps_indices(total, native_fps, fps)
    else:
        idx = np.arange(total)
    try:
        frames = reader.get_batch(list(idx)).asnumpy()
        times = reader.get_frame_timestamp(list(idx))[:, 0]
    except Exception as err:
        raise VideoReadError(f"decoding frames {idx.tolist()} of {path} failed ({err}); the file may be truncated") from None
    return Clip(frames=frames, times=np.asarray(times, np.float64), indices=idx, fps=native_fps,
                duration=total / native_fps, num_frames=total)


def read_audio(path: str | Path, sample_rate: int = 16_000) -> np.ndarray:
    """The file's audio as a mono float32 track (S,) at `sample_rate`, via decord."""
    import decord

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no file at {path}")
    try:
        reader = decord.AudioReader(str(path), ctx=decord.cpu(0), sample_rate=sample_rate, mono=True)
    except Exception as err:
        raise VideoReadError(
            f"could not read an audio track from {path} ({type(err).__name__}); the file has no "
            "audio or is corrupt: write it with write_video(..., audio=track)"
        ) from None
    return reader[:].asnumpy().reshape(-1).astype(np.float32)


# ---- notebook 00's exercise checks --------------------------------------------------------------
def check_uniform_indices(learner) -> bool:
    """Notebook 00, exercise 1: uniform sampling, against `uniform_indices` — the middle frame of
    each of n equal segments, and a clear refusal of a clip shorter than n frames."""
    from ..checks import compare, report

    def refuses_short_clips():
        try:
            learner(4, 8)
        except ValueError:
            return None
        return "a clip of 4 frames with n=8 should raise ValueError"

    return (compare("uniform sampling", learner, uniform_indices, [(32, 8), (32, 4), (10, 3), (7, 7), (100, 16)])
            and report("uniform sampling refuses short clips", refuses_short_clips))


def check_fps_indices(learner) -> bool:
    """Notebook 00, exercise 2: fixed-rate sampling, against `fps_indices`."""
    from ..checks import compare

    return compare("fps sampling", learner, fps_indices, [(32, 8, 2), (32, 8, 1), (100, 25, 3), (30, 30, 4), (10, 8, 3)])
