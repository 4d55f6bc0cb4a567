"""Data sets: questions about rendered media as `Sample`s (in memory), and clip folders on disk
(mp4 + JSONL)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from .render import SAMPLE_RATE, render, render_audio, render_still, uniform_times
from ..media import Media
from ..samples import Sample
from .text import CLIP_QA_KINDS, QA, STILL_QA_KINDS, caption, clip_qa, describe, still_caption, still_qa
from .video_io import read_audio, read_video, write_video
from .world import Scene, WorldConfig, sample_scene


def qa_sample(media: Media, qa: QA, scene: Scene) -> Sample:
    """One question about one media item as a Sample: '<video> question' → answer."""
    messages = [{"role": "user", "content": f"{media.placeholder} {qa.question}"},
                {"role": "assistant", "content": qa.answer}]
    return Sample([media], messages, kind=qa.kind, scene=scene, meta={"span": qa.span} if qa.span else {})


def _pick_kind(rng: np.random.Generator, kinds: tuple[str, ...]) -> str:
    return kinds[int(rng.integers(len(kinds)))]


def make_clip_qa(split: str, n: int, num_frames: int = 8, kinds: tuple[str, ...] = CLIP_QA_KINDS,
                 config: WorldConfig | None = None, start: int = 0) -> list[Sample]:
    """n clips of `split`, each rendered at `num_frames` uniform times (a video Media with its
    frame times), with one question of a kind drawn from `kinds` (kinds a scene cannot answer
    are skipped for that scene)."""
    out = []
    for scene, rng in _scenes(split, n, config, start):
        for k in rng.permutation(len(kinds)):  # the first drawn kind the scene can answer
            qa = clip_qa(scene, kinds[k], rng)
            if qa is not None:
                times = uniform_times(scene, num_frames)
                out.append(qa_sample(Media.video(render(scene, times), times), qa, scene))
                break
        if len(out) == n:
            return out
    raise ValueError(f"the world rarely supports question kinds {kinds}; loosen the WorldConfig")


def make_still_qa(split: str, n: int, kinds: tuple[str, ...] = STILL_QA_KINDS,
                  config: WorldConfig | None = None, size: tuple[int, int] | None = None,
                  start: int = 0) -> list[Sample]:
    """n stills (one frame per scene, at a moment when something is in view) with one question each."""
    out = []
    for scene, rng in _scenes(split, n, config, start):
        t = scene.visible_moment(rng)
        qa = still_qa(scene, t, _pick_kind(rng, kinds), rng)
        if qa is not None:
            out.append(qa_sample(Media.image(render_still(scene, t, size=size)), qa, scene))
        if len(out) == n:
            return out
    raise ValueError(f"the world rarely supports question kinds {kinds}; loosen the WorldConfig")


def _scenes(split: str, n: int, config: WorldConfig | None, start: int):
    """Scenes start, start+1, … of a split with each one's own random stream (at most 50 n + 100)."""
    for index in range(start, start + 50 * n + 100):
        yield sample_scene(split, index, config), np.random.default_rng([index, 7])


def write_clip_folder(root: str | Path, split: str, n: int, config: WorldConfig | None = None,
                      start: int = 0, with_audio: bool = True) -> Path:
    """Write n clips as .mp4 files plus `annotations.jsonl` (scene, caption, description,
    every answerable QA). Returns the folder."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "annotations.jsonl", "w") as f:
        for k in range(start, start + n):
            scene = sample_scene(split, k, config)
            name = f"{split}_{k:06d}.mp4"
            audio = render_audio(scene) if with_audio else None
            write_video(root / name, render(scene), scene.fps, audio)
            rng = np.random.default_rng([k, 7])
            qa = [q.to_dict() for kind in CLIP_QA_KINDS if (q := clip_qa(scene, kind, rng)) is not None]
            record = {"clip": name, "split": split, "caption": caption(scene),
                      "description": describe(scene), "qa": qa, "scene": scene.to_dict()}
            f.write(json.dumps(record) + "\n")
    return root


class ClipFolder(Dataset):
    """A folder of .mp4 clips with `annotations.jsonl`, read through decord.

    Each item: {"frames": uint8 (T, H, W, 3), "times": (T,), "audio": (S,) or None, plus the
    annotation record}. Give `num_frames` for uniform sampling or `fps` for fixed-rate sampling.
    """

    def __init__(self, root: str | Path, num_frames: int | None = 8, fps: float | None = None,
                 with_audio: bool = False, audio_rate: int = 16_000):
        self.root = Path(root)
        ann = self.root / "annotations.jsonl"
        if not ann.exists():
            raise FileNotFoundError(
                f"{ann} not found; make a clip folder with minivlm.data.write_clip_folder({str(self.root)!r}, 'train', n)"
            )
        self.records = [json.loads(line) for line in ann.read_text().splitlines() if line.strip()]
        self.num_frames, self.fps = num_frames, fps
        self.with_audio, self.audio_rate = with_audio, audio_rate

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> dict:
        record = self.records[i]
        path = self.root / record["clip"]
        clip = read_video(path, num_frames=self.num_frames, fps=self.fps)
        item = {**record, "frames": clip.frames, "times": clip.times, "scene": Scene.from_dict(record["scene"])}
        item["audio"] = read_audio(path, self.audio_rate) if self.with_audio else None
        return item


def still_caption_pool(n: int, config: WorldConfig | None = None, split: str = "train",
                       size: tuple[int, int] | None = None, start: int = 0) -> tuple[np.ndarray, list[str]]:
    """n stills (N, H, W, 3) uint8 with their captions: image-text pairs for CLIP."""
    frames, texts = [], []
    for k in range(start, start + n):
        scene = sample_scene(split, k, config)
        t = scene.visible_moment(np.random.default_rng([k, 11]), obj=0)
        frames.append(render_still(scene, t, size=size))
        texts.append(still_caption(scene, t))
    return np.stack(frames), texts


def sample_folder(n: int = 36, root: str | Path | None = None) -> Path:
    """The course's small sample of real files: n clips (.mp4 with audio, ~50 KB each) and
    their annotations, written on first use (under the cache) and reused afterwards."""
    from ..runtime import cache_dir

    root = Path(root) if root is not None else cache_dir().parent / "sample_clips"

    def complete(folder: Path) -> bool:
        ann = folder / "annotations.jsonl"
        return ann.exists() and ann.read_text().count("\n") == n

    if complete(root):
        return root
    # Write elsewhere, then rename: another process (parallel tests) never reads a half-written folder.
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=root.parent, prefix=f".{root.name}-"))
    write_clip_folder(tmp, "val", n)
    if root.exists() and not complete(root):
        shutil.rmtree(root, ignore_errors=True)
    try:
        os.replace(tmp, root)
    except OSError:  # another process put a complete folder there first
        shutil.rmtree(tmp, ignore_errors=True)
    return root


# ---- clips with their soundtrack (notebook 05) ------------------------------------------------
def clip_with_sound(scene: Scene, num_frames: int = 8) -> Media:
    """A video Media of `num_frames` uniform frames that carries the scene's soundtrack
    (`soundtrack.render_soundtrack`: events' sounds, an off-screen noise, two spoken words)."""
    from .soundtrack import render_soundtrack

    times = uniform_times(scene, num_frames)
    return Media.video(render(scene, times), times, waveform=render_soundtrack(scene), sample_rate=SAMPLE_RATE,
                       duration=scene.duration)


def av_sample(clip: Media, qa: QA, scene: Scene, audio: bool = True) -> Sample:
    """One question about a clip with sound: '<audio> <video> question' → answer (the soundtrack
    and the frames as two items, audio first, as Video-LLaMA's demo puts them), or, with
    audio=False, '<video> question' (what a model without ears gets)."""
    media = [clip.soundtrack(), clip] if audio else [clip]
    messages = [{"role": "user", "content": " ".join(m.placeholder for m in media) + f" {qa.question}"},
                {"role": "assistant", "content": qa.answer}]
    return Sample(media, messages, kind=qa.kind, scene=scene)


def make_av_qa(split: str, n: int, num_frames: int = 8, kinds: tuple[str, ...] | None = None,
               config: WorldConfig | None = None, start: int = 0, audio: bool = True) -> list[Sample]:
    """n clips with sound, each with one question of a kind drawn from `kinds` (default: every
    kind of CLIP_QA_KINDS and AUDIO_QA_KINDS): video-only kinds come from `text.clip_qa`, the
    kinds that need the soundtrack from `text.audio_qa`."""
    from .text import AUDIO_QA_KINDS, HEARD_KINDS, audio_qa

    kinds = kinds or (*CLIP_QA_KINDS, *AUDIO_QA_KINDS)
    out = []
    for scene, rng in _scenes(split, n, config, start):
        for k in rng.permutation(len(kinds)):
            ask = audio_qa if kinds[k] in HEARD_KINDS else clip_qa
            qa = ask(scene, kinds[k], rng)
            if qa is not None:
                out.append(av_sample(clip_with_sound(scene, num_frames), qa, scene, audio))
                break
        if len(out) == n:
            return out
    raise ValueError(f"the world rarely supports question kinds {kinds}; loosen the WorldConfig")

