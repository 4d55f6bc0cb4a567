"""Measure the foundation's figures on this machine: data speed, zoo quality, notebook wall times.

    python benchmarks/foundation.py                 # data pipeline + zoo (builds it if needed)
    python benchmarks/foundation.py --notebooks 00 01   # also run those notebooks in full mode

Prints one JSON object; nothing here is asserted — targets are read by people, not tests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def data_speed(n: int = 300) -> dict:
    from minivlm import data

    start = time.perf_counter()
    scenes = data.sample_scenes("train", n)
    for s in scenes:
        data.render(s, data.uniform_times(s, 8))
    clips_per_s = n / (time.perf_counter() - start)
    path = Path(tempfile.mkdtemp()) / "clip.mp4"
    s = scenes[0]
    start = time.perf_counter()
    data.write_video(path, data.render(s), s.fps, data.render_audio(s))
    write_ms = 1000 * (time.perf_counter() - start)
    start = time.perf_counter()
    reads = 100
    for _ in range(reads):
        data.read_video(path, num_frames=8)
    decode = reads * 8 / (time.perf_counter() - start)
    return {"clips_per_s_8x64x64": round(clips_per_s), "mp4_write_ms": round(write_ms, 1),
            "decord_frames_per_s_open_plus_8": round(decode)}


def zoo_quality() -> dict:
    from minivlm import data, zoo
    from minivlm.vision import VisionEncoder, zero_shot_classify

    cached = any((zoo.cache_dir() / "zoo").glob("toy-*"))
    seconds = zoo.build_all(progress=False)  # build (or load, when cached) every base
    clip = zoo.toy_clip(progress=False)
    single = data.WorldConfig(max_objects=1)
    frames, captions = data.still_caption_pool(1000, single, split="test")
    classes = sorted(set(captions))
    labels = torch.tensor([classes.index(c) for c in captions])
    predicted = zero_shot_classify(clip, VisionEncoder(clip).preprocess(frames), classes)
    return {"zoo_seconds": seconds, "zoo_was_cached": cached,
            "toy_clip_zero_shot_30_classes": round((predicted == labels).float().mean().item(), 3),
            "zero_shot_held_out_frames": len(labels)}


def run_notebooks(prefixes: list[str]) -> dict:
    import nbformat
    from nbclient import NotebookClient

    out = {}
    env_fast = os.environ.pop("MINIVLM_FAST", None)
    try:
        for prefix in prefixes:
            for path in sorted((ROOT / "solutions").glob(f"{prefix}_*.ipynb")):
                nb = nbformat.read(path, as_version=4)
                start = time.perf_counter()
                NotebookClient(nb, timeout=1800, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
                out[path.name] = round(time.perf_counter() - start, 1)
    finally:
        if env_fast is not None:
            os.environ["MINIVLM_FAST"] = env_fast
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebooks", nargs="*", default=[], help="notebook number prefixes to run in full mode")
    parser.add_argument("--skip-zoo", action="store_true")
    args = parser.parse_args()
    report = {"machine": f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
                         f"cuda={torch.cuda.is_available()}",
              "data": data_speed()}
    if not args.skip_zoo:
        report["zoo"] = zoo_quality()
    if args.notebooks:
        report["notebook_seconds_full_mode"] = run_notebooks(args.notebooks)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
