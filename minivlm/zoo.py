"""The course's "pretrained" bases, built deterministically on first use and cached.

Real video LLMs start from a pretrained image encoder (CLIP, SigLIP) and a pretrained LLM.
No weights can be downloaded here, so the zoo trains toy-world stand-ins once, saves them under
`minivlm.runtime.cache_dir()` (set MINIVLM_CACHE to move it), and loads them through the same
calls that load real models (`open_clip.create_model(name, pretrained=file)`,
`AutoModelForCausalLM.from_pretrained(folder)`). Any notebook can start on its own.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch
from transformers.utils import logging as hf_logging

from .chat import encode_chat, encode_document, pad_batch, trim_padding
from .data import (CAPTION_PROMPTS, CLIP_QA_KINDS, STILL_QA_KINDS, WorldConfig, caption, clip_qa, describe,
                   position_words, sample_scene, still_caption, still_caption_pool, still_qa)
from .interleaved import naming_text
from .lm import build_lm, build_tokenizer, load_lm
from .runtime import cache_dir, default_device, pick
from .train import TrainConfig, random_batches, train
from .vision import TOY_CLIP, VisionEncoder, clip_loss_fn, create_clip, unique_caption_batches

ZOO_VERSION = 2


def _key(**recipe) -> str:
    blob = json.dumps({"version": ZOO_VERSION, **recipe}, sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:10]


def clip_recipe() -> dict:
    """How the toy CLIP is trained (sizes shrink in fast mode)."""
    config = (Path(__file__).parent / "configs" / f"{TOY_CLIP}.json").read_bytes()
    return {"name": TOY_CLIP, "config": hashlib.sha1(config).hexdigest()[:8], "single": pick(4000, 200), "multi": pick(8000, 200),
            "steps": pick(1500, 20), "batch_size": pick(64, 32), "lr": 2e-3, "seed": 0}


def toy_clip(rebuild: bool = False, progress: bool = True) -> torch.nn.Module:
    """The toy-world CLIP (image + text towers), contrastively trained on stills and captions:
    single objects ('a red circle .') and groups ('a red circle and a blue square .')."""
    recipe = clip_recipe()
    path = cache_dir() / "zoo" / f"toy-clip-{_key(**recipe)}.pt"
    if path.exists() and not rebuild:
        return create_clip(recipe["name"], pretrained=path)
    model = create_clip(recipe["name"], seed=recipe["seed"])
    encoder = VisionEncoder(model)
    f1, t1 = still_caption_pool(recipe["single"], WorldConfig(max_objects=1))
    f2, t2 = still_caption_pool(recipe["multi"], WorldConfig(max_objects=3), start=1_000_000)
    pixels = encoder.preprocess(np.concatenate([f1, f2]))
    device = default_device()
    model.to(device)
    train(model, unique_caption_batches(pixels, t1 + t2, recipe["batch_size"], seed=recipe["seed"]),
          TrainConfig(steps=recipe["steps"], lr=recipe["lr"], weight_decay=0.1, desc="toy CLIP", progress=progress),
          loss_fn=clip_loss_fn(recipe["name"]))
    model.cpu().eval()
    _atomic_save(path, lambda tmp: torch.save(model.state_dict(), tmp))
    return model


def toy_vision_encoder(feature_layer: int = -2, keep_cls: bool = False, frozen: bool = True) -> VisionEncoder:
    """The toy CLIP's image tower as a VLM vision encoder (frozen by default, as in LLaVA)."""
    encoder = VisionEncoder(toy_clip(), feature_layer=feature_layer, keep_cls=keep_cls)
    encoder.requires_grad_(not frozen)
    return encoder


def lm_recipe() -> dict:
    return {"hidden": 128, "layers": 4, "heads": 4, "init_std": 0.08, "scenes": pick(3000, 100),
            "naming_lists": pick(20000, 50), "steps": pick(3000, 20), "batch_size": pick(32, 8), "lr": 1e-3, "seed": 0}


def lm_corpus(num_scenes: int, split: str = "train", start: int = 2_000_000) -> list[list[dict[str, str]]]:
    """Text-only chats: a scene's description and a question (or a frame listed in words and a
    question or a caption request), then the answer. (`toy_lm` adds the naming lists.)

    This is the toy LM's 'pretraining': it learns the world's language and to answer from
    what its context says — what a pretrained LLM brings to a VLM."""
    chats = []
    for k in range(start, start + num_scenes):
        scene = sample_scene(split, k)
        rng = np.random.default_rng([k, 3])
        context = describe(scene)
        for kind in CLIP_QA_KINDS:
            qa = clip_qa(scene, kind, rng)
            if qa is not None:
                chats.append([{"role": "user", "content": f"{context} {qa.question}"},
                              {"role": "assistant", "content": qa.answer}])
        t = float(rng.uniform(*scene.visible_span(0)))
        listing = still_listing(scene, t)
        for kind in STILL_QA_KINDS:
            qa = still_qa(scene, t, kind, rng)
            if qa is not None and rng.random() < 0.5:
                chats.append([{"role": "user", "content": f"{listing} {qa.question}"},
                              {"role": "assistant", "content": qa.answer}])
        # Writing captions from what the context says: what LLaVA's stage 1 relies on.
        prompt = CAPTION_PROMPTS[int(rng.integers(len(CAPTION_PROMPTS)))]
        chats.append([{"role": "user", "content": f"{listing} {prompt}"},
                      {"role": "assistant", "content": still_caption(scene, t)}])
        chats.append([{"role": "user", "content": f"{context} describe the video in one sentence ."},
                      {"role": "assistant", "content": caption(scene)}])
    return chats


def still_listing(scene, t: float) -> str:
    """A frame at time t told in words: each visible object with its colour and place."""
    parts = [f"the {scene.colour_at(i, t)} {o.shape} is at the {position_words(*map(float, scene.position(i, t)))} ."
             for i, o in enumerate(scene.objects) if scene.visible(i, t)]
    return " ".join(parts) or "the picture is empty ."


def toy_lm(rebuild: bool = False, progress: bool = True):
    """(lm, tokenizer): a small Llama pretrained on toy-world text — question answering from
    descriptions (`lm_corpus`) and naming lists (`interleaved.naming_text`), which teach it to
    copy from its context, as a real LLM can. Loaded with
    `transformers.AutoModelForCausalLM.from_pretrained` from the cache."""
    recipe = lm_recipe()
    tokenizer = build_tokenizer()
    vocab = sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])  # a dict's order is not stable
    recipe["vocab"] = hashlib.sha1("\n".join(token for token, _ in vocab).encode()).hexdigest()[:8]
    path = cache_dir() / "zoo" / f"toy-lm-{_key(**recipe)}"
    if path.exists() and not rebuild:
        with _quiet_transformers():
            return load_lm(path)
    lm = build_lm(tokenizer, recipe["hidden"], recipe["layers"], recipe["heads"], init_std=recipe["init_std"],
                  seed=recipe["seed"])
    chats = lm_corpus(recipe["scenes"])
    rng = np.random.default_rng([recipe["seed"], 7])
    lists = [naming_text(rng) for _ in range(recipe["naming_lists"])]
    data = pad_batch([*(encode_chat(tokenizer, c) for c in chats), *(encode_document(tokenizer, t) for t in lists)],
                     tokenizer.pad_token_id)
    device = default_device()
    lm.to(device)
    batches = map(trim_padding, random_batches(data, recipe["batch_size"], seed=recipe["seed"]))
    train(lm, batches,
          TrainConfig(steps=recipe["steps"], lr=recipe["lr"], weight_decay=0.01, desc="toy LM", progress=progress))
    lm.cpu().eval()

    def save(tmp: Path):
        with _quiet_transformers():
            lm.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)

    _atomic_save(path, save, folder=True)
    return lm, tokenizer


class _quiet_transformers:
    def __enter__(self):
        self.enabled = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()

    def __exit__(self, *exc):
        if self.enabled:
            hf_logging.enable_progress_bar()


def _atomic_save(path: Path, write, folder: bool = False) -> None:
    """Write to a temporary name, then rename: a half-written cache entry is never read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent)) if folder else path.with_suffix(f".tmp{os.getpid()}")
    write(tmp)
    if folder and path.exists():
        shutil.rmtree(path)
    os.replace(tmp, path)


def build_all(progress: bool = True) -> dict[str, float]:
    """Build (or load) every base; returns seconds per base. `python -m minivlm.zoo` calls it."""
    import time

    seconds = {}
    for name, make in (("toy_clip", toy_clip), ("toy_lm", toy_lm)):
        start = time.perf_counter()
        make(progress=progress)
        seconds[name] = round(time.perf_counter() - start, 1)
    return seconds


if __name__ == "__main__":
    print(f"building the course zoo in {cache_dir()} (once; later runs load it) …")
    for base, secs in build_all().items():
        print(f"{base}: ready after {secs} s")
