"""The course's "pretrained" bases: shipped with the package, rebuilt from their recipes on demand.

Real video LLMs start from a pretrained image encoder (CLIP, SigLIP) and a pretrained LLM. Ours
start from the zoo: a toy-world CLIP and a toy LM, each trained once from a recipe (`clip_recipe`,
`lm_recipe`) and shipped in `minivlm/zoo_weights/` as fp16 safetensors, with `manifest.json`
recording each file's recipe key, sha256, training time, device and measured quality
(`benchmarks/zoo.py`). They load through the same calls that load real models
(`open_clip.create_model` + `open_clip.load_checkpoint(model, file)` inside
`vision.create_clip(name, pretrained=file)`, `AutoModelForCausalLM.from_pretrained(folder)`).

When the current recipe's key matches the shipped file's, `toy_clip()`/`toy_lm()` load it in
seconds. Otherwise (a changed recipe, fast mode) they train the recipe once into
`minivlm.runtime.cache_dir()` (set MINIVLM_CACHE to move it), checkpointing every few minutes
so that a killed run resumes. `python -m minivlm.zoo --ship` (`make zoo`) retrains every base
from its recipe and rewrites the shipped files and manifest.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm
from transformers.utils import logging as hf_logging

from .chat import encode_chat, encode_document, pad_batch
from .data import (AUDIO_QA_KINDS, CAPTION_PROMPTS, CLIP_QA_KINDS, NOISES, STILL_QA_KINDS, WorldConfig, audio_qa,
                   caption, clip_qa, describe, direction_questions, position_words, render_still, sample_scene, still_caption, still_qa,
                   when_questions)
from .data.naming import naming_text
from .lm import build_lm, build_tokenizer, load_lm
from .runtime import cache_dir, default_device, deterministic_kernels, fast_mode
from .train import TrainConfig, lr_at
from .vision import TOY_CLIP, VisionEncoder, clip_tokenizer, create_clip, toy_text_ids

ZOO_VERSION = 3
SHIPPED_DIR = Path(__file__).parent / "zoo_weights"
MANIFEST = SHIPPED_DIR / "manifest.json"
SHIPPED_FILES = {"toy_clip": "toy-clip.safetensors", "toy_lm": "toy-lm",
                 # the audio bases of notebook 05 (minivlm.audio): event sounds and noises, spoken words
                 "toy_audio_sound": "toy-audio-sound.safetensors", "toy_audio_speech": "toy-audio-speech.safetensors",
                 # the video towers of notebook 06 (minivlm.video_tower): aligned to the image tower's space, or not
                 "toy_video_aligned": "toy-video-aligned.safetensors",
                 "toy_video_separate": "toy-video-separate.safetensors"}
CHECKPOINT_SECONDS = 180  # a long build saves a resumable checkpoint this often


def _size(full_value, fast_value, full: bool | None):
    if full is None:
        full = not fast_mode()
    return full_value if full else fast_value


def _digest(text: str | bytes, n: int = 8) -> str:
    return hashlib.sha1(text.encode() if isinstance(text, str) else text).hexdigest()[:n]


def recipe_key(recipe: dict) -> str:
    """A short hash of a recipe (and the zoo's version): the name of what it builds."""
    return _digest(json.dumps({"version": ZOO_VERSION, **recipe}, sort_keys=True), 10)


# ---- the toy CLIP ----------------------------------------------------------------------------------
def clip_recipe(full: bool | None = None) -> dict:
    """How the toy CLIP is trained (`full`: None → the current mode; sizes shrink in fast mode).

    Each step draws `batch_size` fresh training-split stills: a share from one-object scenes, the
    rest from 1–3-object scenes; a share of captions say where each object is ("a red circle at
    the top left and a blue square at the centre ."), so that the patch tokens learn where.

    Then a second stage ("then") goes on with a LocCa-style captioning decoder (SigLIP 2;
    `caption_decoder`): beside the contrastive loss, a one-layer decoder cross-attends to the
    feature layer's patch tokens and writes every still's placed caption, weighted
    `caption_weight`; the decoder is thrown away, only the CLIP ships. Two more captioning stages
    ("then2", "then3", a fresh decoder each, lower learning rate) draw crowded stills: one object
    (a 0.2 share) or three, seen while all three are in view (`clip_batch`'s `min_objects`,
    `all_visible`) — the stills where which object is where is hardest to read. Each captioning
    stage continues from the stage before as shipped (fp16), so a build from scratch and one from a
    shipped earlier stage agree.

    Which object is where in a 3-object still is read by a linear probe on the patch tokens
    (`benchmarks/zoo.py`). After the first stage alone: 0.81 from 16,000 training stills; the
    tokens of every block read the same (0.765-0.77 from 4,000 stills, blocks 1 to 4), raw pixels
    0.18. Contrastive steps alone had flattened there; with the decoder (trials, one run each,
    2026-11-27): 2 decoder layers, weight 1, 1,500 steps → 0.84; 1 layer, weight 3, 3,000 steps →
    0.87, zero-shot and position kept; the recipe's 8,000 steps: the manifest's figures. In the
    trials the decoder's loss fell to about 0.1 a token: the tokens hold where each object is, but
    not all of it linearly. Tried after the shipped stage and not kept (one run, 2026-11-27, 27 min
    on 2 threads): 4,000 more steps with a fresh decoder at lr 3e-4 → 0.894 from 16,000 stills,
    against 0.890 (from 4,000 stills: 0.860 → 0.869 over its first 3,000 steps); zero-shot and
    position kept. The decoder's returns flatten too. What moved it (2026-11-27, one run): 2,000 such
    steps on crowded stills ("then2") reached 0.872 from 4,000 stills and 0.899 from 16,000
    (against 0.860 / 0.890 before it), zero-shot 1.00 and position 0.99 kept; "then3" repeats it on
    fresh scenes: the manifest's figures."""
    config = (Path(__file__).parent / "configs" / f"{TOY_CLIP}.json").read_bytes()
    return {"name": TOY_CLIP, "config": _digest(config), "text_ids": _digest(str(toy_text_ids())),
            "steps": _size(8000, 12, full), "batch_size": _size(128, 16, full), "lr": 2e-3, "weight_decay": 0.1,
            "single_share": 0.4, "placed_share": 0.5, "seed": 0,
            "then": {"steps": _size(8000, 8, full), "lr": 5e-4, "caption_weight": 3.0, "decoder_layers": 1,
                     "feature_layer": -2, "start": 30_000_000, "seed": 1},
            **{name: {"steps": _size(2000, 4, full), "lr": 3e-4, "caption_weight": 3.0, "decoder_layers": 1,
                      "feature_layer": -2, "start": start, "seed": seed, "single_share": 0.2, "min_objects": 3,
                      "all_visible": True}
               for name, start, seed in (("then2", 40_000_000, 5), ("then3", 41_000_000, 6))}}


def placed_caption(scene, t: float = 0.0) -> str:
    """What a frame at time t shows, with where: 'a red circle at the top left and a blue square
    at the centre .' (objects in scene order; places as in `data.position_words`)."""
    from .data.text import indefinite_article

    names = []
    for i, o in enumerate(scene.objects):
        if scene.visible(i, t):
            colour = scene.colour_at(i, t)
            where = position_words(*map(float, scene.position(i, t)))
            names.append(f"{indefinite_article(colour)} {colour} {o.shape} at the {where}")
    return " and ".join(names) + " ." if names else "an empty scene ."


def clip_batch(recipe: dict, step: int) -> tuple[np.ndarray, list[str], list[str]]:
    """A stage's training batch at `step`: stills (B, 64, 64, 3) uint8, their captions (a
    `placed_share` of them placed), and every still's placed caption (what the decoder writes).
    Deterministic in (recipe seed, step); scenes come from the training split only, numbered
    from recipe["start"] (default 10,000,000). A stage may ask for scenes of at least
    recipe["min_objects"] objects (beside its single-object share) seen when all of them are in
    view (recipe["all_visible"]); by default a moment when the first is."""
    b = recipe["batch_size"]
    rng = np.random.default_rng([recipe["seed"], step, 13])
    frames, texts, placed = [], [], []
    for j in range(b):
        single = rng.random() < recipe["single_share"]
        scene = sample_scene("train", recipe.get("start", 10_000_000) + step * b + j,
                             WorldConfig(min_objects=1 if single else recipe.get("min_objects", 1),
                                         max_objects=1 if single else 3))
        t = float(rng.uniform(*_moment(scene, recipe.get("all_visible", False))))
        frames.append(render_still(scene, t))
        placed.append(placed_caption(scene, t))
        texts.append(placed[-1] if rng.random() < recipe["placed_share"] else still_caption(scene, t))
    return np.stack(frames), texts, placed


def _moment(scene, all_visible: bool) -> tuple[float, float]:
    """The span to draw a still's time from: when the first object is in view, or (all_visible)
    when every object is, if that lasts at least 0.1 s (else the first object's span)."""
    if all_visible:
        spans = [scene.visible_span(i) for i in range(len(scene.objects))]
        lo, hi = max(a for a, _ in spans), min(b for _, b in spans)
        if hi - lo >= 0.1:
            return lo, hi
    return scene.visible_span(0)


def stage_names(recipe: dict) -> list[str]:
    """A multi-stage recipe's later stages in training order: "then", "then2", "then3", …"""
    return sorted((k for k in recipe if k.startswith("then")), key=lambda k: (len(k), k))


def first_stage(recipe: dict) -> dict:
    """A recipe without its later stages (`stage_names`)."""
    return {k: v for k, v in recipe.items() if not k.startswith("then")}


def multi_positive_clip_loss(name: str = TOY_CLIP, max_scale: float = 100.0):
    """A loss_fn on (pixels, texts) batches: CLIP's symmetric softmax loss where every image whose
    caption is the same text is a positive (so captions may repeat within a batch). Each distinct
    text is encoded once. Returns (loss, {"logit_scale": …})."""
    tokenizer = clip_tokenizer(name)

    def fn(model, batch):
        pixels, texts = batch
        distinct = sorted(set(texts))
        target = torch.tensor([distinct.index(t) for t in texts], device=pixels.device)
        image = model.encode_image(pixels, normalize=True)  # (B, E)
        text = model.encode_text(tokenizer(distinct).to(pixels.device), normalize=True)  # (U, E)
        scale = model.logit_scale.exp().clamp(max=max_scale)
        logits = scale * image @ text.T  # (B, U)
        image_to_text = F.cross_entropy(logits, target)
        positives = F.one_hot(target, len(distinct)).T.float()  # (U, B)
        text_to_image = F.cross_entropy(logits.T, positives / positives.sum(1, keepdim=True))
        return (image_to_text + text_to_image) / 2, {"logit_scale": scale.item()}

    return fn


def captioning_clip_loss(weight: float, name: str = TOY_CLIP):
    """A loss_fn for a `caption_decoder.CaptionedCLIP` on (pixels, texts, placed) batches:
    `multi_positive_clip_loss` on (pixels, texts) + weight × the decoder's loss writing `placed`."""
    contrastive = multi_positive_clip_loss(name)
    tokenizer = clip_tokenizer(name)

    def fn(captioner, batch):
        pixels, texts, placed = batch
        loss, info = contrastive(captioner.clip, (pixels, texts))
        written = captioner.caption_loss(pixels, tokenizer(placed).to(pixels.device))
        return loss + weight * written, {**info, "caption_loss": written.item()}

    return fn


def toy_clip(rebuild: bool = False, progress: bool = True, use_shipped: bool = True) -> torch.nn.Module:
    """The toy-world CLIP (image + text towers, open_clip), contrastively trained on stills and
    their captions (`clip_recipe`). Loads the shipped file when it was built from the current
    recipe (unless `use_shipped` is False), else the cached build, else trains the recipe (once)
    into the cache; `rebuild` retrains from scratch."""
    recipe = clip_recipe()
    shipped = _shipped_path("toy_clip", recipe_key(recipe)) if use_shipped else None
    if shipped is not None and not rebuild:
        return create_clip(recipe["name"], pretrained=shipped)
    path = _cache_path("toy_clip", recipe_key(recipe))
    if path.exists() and not rebuild:
        return create_clip(recipe["name"], pretrained=path)
    first, stages = first_stage(recipe), stage_names(recipe)
    model, log, done = None, {}, 0
    for n in range(len(stages) - 1, -1, -1):  # the longest prefix of stages already built
        prefix_path = _cache_path("toy_clip", recipe_key({**first, **{k: recipe[k] for k in stages[:n]}}))
        if prefix_path.exists() and not rebuild:
            model, log, done = create_clip(recipe["name"], pretrained=prefix_path), _read_log(prefix_path), n
            break
    if model is None:
        model = create_clip(recipe["name"], seed=recipe["seed"])
        encoder = VisionEncoder(model)

        def batch_at(step: int):
            frames, texts, _ = clip_batch(first, step)
            return encoder.preprocess(frames), texts

        first_path = _cache_path("toy_clip", recipe_key(first))
        log = _train_resumable(model, batch_at, multi_positive_clip_loss(recipe["name"]), first,
                               first_path.with_suffix(".ckpt"), "toy CLIP", progress, rebuild)
        model.cpu().eval()
        _atomic_save(first_path, lambda tmp: save_file(_contiguous(model.state_dict()), str(tmp)))
        _write_log(first_path, log)
    for n in range(done, len(stages)):
        stage_path = _cache_path("toy_clip", recipe_key({**first, **{k: recipe[k] for k in stages[:n + 1]}}))
        log = _train_clip_captioning(model, {**first, **recipe[stages[n]]}, stage_path, log, progress, rebuild,
                                     number=n + 2)
    return model


def _train_clip_captioning(model: torch.nn.Module, stage: dict, path: Path, log: dict, progress: bool,
                           rebuild: bool, number: int) -> dict:
    """The toy CLIP's captioning stage `number` (2, 3, …): from the stage before rounded to fp16
    (as shipped), train CLIP + a fresh `caption_decoder.CaptionDecoder` with
    `captioning_clip_loss`; save the CLIP to `path` with the log of every stage so far (`log`: the
    stages before); returns that log."""
    from .caption_decoder import CaptionDecoder, CaptionedCLIP

    model.load_state_dict({k: v.float() for k, v in _contiguous(model.state_dict(), torch.float16).items()})
    width = model.token_embedding.weight.shape[1]
    decoder = CaptionDecoder(model.token_embedding.weight.shape[0], width, stage["decoder_layers"],
                             context=model.context_length, seed=stage["seed"])
    captioner = CaptionedCLIP(model, decoder, stage["feature_layer"], stage["name"])

    def batch_at(step: int):
        frames, texts, placed = clip_batch(stage, step)
        return captioner.encoder.preprocess(frames), texts, placed

    second = _train_resumable(captioner, batch_at, captioning_clip_loss(stage["caption_weight"], stage["name"]),
                              stage, path.with_suffix(".ckpt"), f"toy CLIP, stage {number} (captioning)", progress,
                              rebuild)
    model.cpu().eval()
    _atomic_save(path, lambda tmp: save_file(_contiguous(model.state_dict()), str(tmp)))
    offset = log["curve"][-1][0] + 1 if log.get("curve") else 0
    device = _stage_device(log.get("device"), number, second["device"])
    log = {"seconds": round(log.get("seconds", 0) + second["seconds"], 1), "device": device,
           "curve": [*log.get("curve", []), *([s + offset, v] for s, v in second["curve"])]}
    _write_log(path, log)
    return log


def _stage_device(before: str | None, number: int, device: str) -> str:
    """The device string of a build whose stage `number` ran on `device`, the stages before on
    `before`: one device when every stage ran on it, else the stages and their devices
    ("stage 1 A; stage 2 B", "stages 1-2 A; stage 3 B")."""
    if before is None or before == device:
        return device
    if not before.startswith("stage"):
        before = f"stage 1 {before}" if number == 2 else f"stages 1-{number - 1} {before}"
    return f"{before}; stage {number} {device}"


def toy_vision_encoder(feature_layer: int = -2, keep_cls: bool = False, frozen: bool = True) -> VisionEncoder:
    """The toy CLIP's image tower as a VLM vision encoder (frozen by default, as in LLaVA).
    pixels (N, 3, 64, 64) → patch tokens (N, 16, 128) of `feature_layer`."""
    encoder = VisionEncoder(toy_clip(), feature_layer=feature_layer, keep_cls=keep_cls)
    encoder.requires_grad_(not frozen)
    return encoder


# ---- the toy LM --------------------------------------------------------------------------------------
def lm_recipe(full: bool | None = None) -> dict:
    """How the toy LM is trained (`full`: None → the current mode; sizes shrink in fast mode).

    Its corpus (`lm_corpus`): QA from scene descriptions and frame listings, with extra order
    questions, caption requests, a media placeholder before the context in `media_share` of the
    chats, and `naming_lists` naming lists (`data.naming.naming_text`). Then a second stage
    ("then") continues at a lower learning rate on fresh scenes, mostly the kinds that need
    finding one object among several in a long context (its colour, direction, place, when
    it is visible, which event came first), with some of the whole mix and naming lists; a third
    ("then2") does the same for colour, direction and when; a fourth ("then3") teaches the
    soundtrack's language (`sound_share` of the scenes go on with `data.describe_soundtrack` and
    are asked what noise is heard, what the voice says, which object moves while it speaks),
    beside the kinds the earlier stages left weakest. Its `new_words` (the noises' names, which no
    earlier stage's text holds) start from fresh random embeddings (`fresh_embeddings`), as new
    tokens do when a real LM's vocabulary grows. Three more ("then4" to "then6") ask several
    questions about one context (`questions`): the direction, "when" and sync questions about
    different objects of the same scene. Asked one question a scene, the LM had learned to answer
    direction questions from the first object the description names (held out: right 0.82 of the
    time when the asked object was named first, 0.54 second, 0.29 third); with the same context
    giving different answers, that shortcut is wrong more often than not. "then7" teaches binding
    a direction to its object with a curriculum (`binding_corpus`, below), and "then8" and "then9"
    mix it back with the rest; "then10" does the same for "when" and "then11" mixes both back.
    Each stage's result is cached, so a recipe that adds a stage trains only the new one.

    Why 4 layers of width 128: the notebooks train VLMs around this LM within 5 minutes on 2 CPU
    cores, which bounds its cost per step. At the same cost, 6 layers of width 96 (same corpus,
    stage 1 and the soundtrack stage, one training run, 2026-11-27) answered held-out questions
    worse: colour 0.59, shape 0.62 vs 0.995 and 1.00 here, direction 0.71 as here, only sync
    better (0.845 vs 0.72).
    Tried after "then6" and not kept (one training run; held out, 1000 prompts a kind, standard
    error about 0.013): a stage like "then6" on scenes of 2-5 objects (longer contexts, more to
    find among) gave direction 0.756 and when 0.765, against 0.766 and 0.77 without it — no gain.

    Why direction stayed near 0.77 through "then6": the LM did not bind a direction to its
    object. Told only "there are three objects . the red circle moves up . the blue square moves
    left . the green cross moves down ." (600 made-up scenes), it answered "which way does the
    blue square move first ?" right 0.515 of the time — what naming a random object's direction
    gives (1/3 + 2/3 x 1/4 = 0.5). Its held-out 0.77 was one-object scenes (1.00) and the
    last-named object (0.79-0.86). Tried on 2026-11-27 and not kept (one run each from the
    shipped LM, 4,000 steps, held out on 300 prompts a kind, standard error about 0.024): every
    object's direction and "when" question of 6,000 scenes, half of them on contexts cut to the
    object and appear / disappear sentences, beside a "then6"-like mix, loss averaged per chat
    rather than per token: direction 0.777 -> 0.777, when 0.763 -> 0.783 (lr 5e-4), 0.747 /
    0.783 (lr 1e-3); the same with two cut copies per question on 2-3-object scenes: 0.750 /
    0.790, made-up 3-object contexts 0.58; only those questions (nothing else, 3,000 steps):
    0.733 / 0.733, every other kind lost, made-up contexts 0.56. Trained on made-up contexts
    alone (2,000 steps, lr 1e-3) it does learn to bind there (0.60 -> 0.88; a fresh LM of this
    size 0.82 after 1,500 steps), so the mechanism fits in 4 layers of width 128; what these
    budgets did not find is a mix that teaches it on the world's own descriptions without losing
    the rest.

    What did (2026-11-28, one run each, 1 thread). Measured on the direction questions of 600
    held-out multi-object scenes, where the last-named mover's direction is right 0.60 of the
    time and the LM through "then6" 0.645: the world's own descriptions, but at first with few of
    their events — the events name the objects again ("at 2.0 seconds the blue square bounces off
    the left wall"), and those repeats are what the LM could not see past. "then7"
    (`binding_corpus`) asks every mover's direction of 2-3-object scenes, and over its first 70 %
    of steps the descriptions grow from no event to all of them: from the shipped LM, 2,500 steps,
    0.858. A fresh LM on the same questions with every event told reached 0.63 (8 layers instead
    of 4: 0.633), fresh with the curriculum 0.652. Made-up contexts did not carry over (held-out
    direction kind, 300 prompts, all scene sizes): learned without events to 0.95 on made-up
    contexts, then mixed back, 0.70; with events, mixed in at 30-50 %, 0.71-0.76. "then7" alone
    forgets the other kinds; "then8" and "then9" bring them back ("then6"-like mixes with 29 % and
    13 % binding questions, every event told). Held out (1000 prompts a kind, `benchmarks/zoo.py`):
    after "then8" direction 0.905 but captions 0.76-0.78, sync 0.763, when 0.748; after "then9"
    (shipped) direction 0.899 (was 0.766; 0.855 on the 600 multi-object scenes), every caption
    kind 1.00, sync 0.833 (was 0.872), order 0.872 (was 0.918), when 0.771 (was 0.77: "when"
    questions need the same binding among appear / disappear events, which no stage taught yet).

    "when" (2026-11-28, one run each). The LM through "then9" mixed up whose appear / disappear
    sentence was whose: of 400 held-out "when" questions it got all 132 one-object ones right, and
    182 of 268 multi-object ones (0.68); 43 of the 86 wrong answers were another object's span.
    "then10" (`binding_corpus(kind="when")`: every object's "when" question in 2-3-object scenes,
    every appear and disappear event always told, the other events growing from none to all over
    70 % of 2,500 steps, 1 thread beside another run, 13.2 min) raised "when" on 600 held-out
    multi-object scenes to 0.808 but forgot the direction answers (0.005 on the multi-object ones).
    A "then8"-like mix with both binding kinds and no curriculum, tried instead of it (3,000 steps),
    gave direction 0.983 but "when" 0.773 (300 prompts a kind): in these runs, only the curriculum
    raised "when". "then11" (a "then9"-like mix with 30,000 binding questions, half direction and half
    "when", 4,000 steps, 2 threads, 9.1 min) after "then10": multi-object "when" 0.872 and direction
    1.00. Held out (1000 prompts a kind, `benchmarks/zoo.py`, shipped): when 0.899 (was 0.771),
    direction 1.00 (was 0.899), order 0.889 (was 0.872), sync 0.825 (was 0.833), still position
    0.93, every caption kind 0.998-1.00."""
    tokenizer = build_tokenizer()
    vocab = sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])  # a dict's order is not stable
    return {"hidden": 128, "layers": 4, "heads": 4, "init_std": 0.08, "vocab": _digest("\n".join(t for t, _ in vocab)),
            "scenes": _size(14000, 30, full), "order_questions": 3, "media_share": 0.5,
            "naming_lists": _size(40000, 40, full), "steps": _size(12000, 12, full), "batch_size": _size(32, 8, full),
            "lr": 1e-3, "weight_decay": 0.01, "seed": 0,
            "then": {"scenes": _size(6000, 20, full), "start": 4_000_000, "general_scenes": _size(3000, 10, full),
                     "kinds": ["colour", "direction", "order", "when", "position"], "order_questions": 2,
                     "naming_lists": _size(10000, 20, full), "steps": _size(4000, 8, full), "lr": 5e-4, "seed": 1},
            "then2": {"scenes": _size(7000, 20, full), "start": 6_000_000, "general_scenes": _size(2000, 10, full),
                      "kinds": ["colour", "direction", "when"], "order_questions": 2,
                      "naming_lists": _size(8000, 20, full), "steps": _size(4500, 8, full), "lr": 5e-4, "seed": 2},
            "then3": {"scenes": _size(9000, 20, full), "start": 8_000_000, "general_scenes": _size(3000, 10, full),
                      "kinds": [*AUDIO_QA_KINDS, "colour", "direction", "order", "when", "caption"],
                      "sound_share": 0.6, "order_questions": 2, "new_words": list(NOISES),
                      "naming_lists": _size(8000, 20, full), "steps": _size(5000, 8, full), "lr": 5e-4, "seed": 3},
            **{name: {"scenes": _size(9000, 20, full), "start": start, "general_scenes": _size(3000, 10, full),
                      "kinds": kinds, "questions": questions, "sound_share": 0.6, "order_questions": 2,
                      "naming_lists": _size(8000, 20, full), "steps": _size(5000, 8, full), "lr": 5e-4, "seed": seed}
               for name, start, kinds, questions, seed in (
                   ("then4", 12_000_000, ["direction", "when", "sync", "order", "colour"],
                    {"direction": 3, "when": 3, "sync": 3}, 4),
                   ("then5", 14_000_000, ["direction", "when", "sync", "order"],
                    {"direction": 4, "when": 3, "sync": 4}, 5),
                   ("then6", 16_000_000, ["direction", "when", "sync", "order"],
                    {"direction": 4, "when": 4, "sync": 2}, 6))},
            **{name: {"scenes": 0, "general_scenes": 0, "naming_lists": 0, "media_share": 0.0,
                      "binding": _size(80000, 64, full), **kinds, "binding_start": start, "curriculum": 0.7,
                      "steps": _size(2500, 8, full), "lr": 1e-3, "seed": seed}
               for name, kinds, start, seed in (("then7", {}, 40_000_000, 7),
                                                ("then10", {"binding_kinds": ["when"]}, 46_000_000, 10))},
            **{name: {"scenes": _size(3000, 20, full), "start": start, "general_scenes": _size(general, 10, full),
                      "kinds": ["direction", "when", "sync", "order"], "questions": {"direction": 4, "when": 4, "sync": 2},
                      "sound_share": 0.6, "order_questions": 2, "naming_lists": _size(8000, 20, full),
                      "binding": _size(binding, 20, full), **kinds, "binding_start": binding_start,
                      "steps": _size(steps, 8, full), "lr": 5e-4, "seed": seed}
               for name, start, general, binding, kinds, binding_start, steps, seed in (
                   ("then8", 22_000_000, 4000, 30000, {}, 42_000_000, 3000, 8),
                   ("then9", 25_000_000, 6000, 15000, {}, 44_000_000, 4000, 9),
                   ("then11", 28_000_000, 6000, 30000, {"binding_kinds": ["direction", "when"]}, 48_000_000, 4000, 11))}}


def lm_corpus(num_scenes: int, split: str = "train", start: int = 2_000_000, media_share: float = 0.0,
              order_questions: int = 1, kinds: list[str] | None = None,
              sound_share: float = 0.0, questions: dict[str, int] | None = None) -> list[list[dict[str, str]]]:
    """Text-only chats: a scene's description and a question (or a frame listed in words and a
    question or a caption request), then the answer. (`toy_lm` adds the naming lists.)

    This is the toy LM's 'pretraining': it learns the world's language and to answer from
    what its context says — what a pretrained LLM brings to a VLM. media_share: the share of
    chats whose context starts with a media placeholder ('<video>' or '<video> <audio>' before a
    description, '<image>' before a frame listing), so the placeholder means "what follows
    describes the media". order_questions: how many order questions per scene (different pairs
    of events when the scene has them). kinds: keep only questions of these kinds (and captions
    only if 'caption' is among them); None keeps all. sound_share: the share of scenes whose
    description goes on with their soundtrack (`data.describe(scene, sound=True)`; placeholder
    '<video> <audio>'), asked the questions that need it (`data.AUDIO_QA_KINDS`) beside the
    others, and captioned with the sound (`data.caption(scene, sound=True)`) — the language
    notebook 05's audio tokens map to (0 leaves the corpus as it was: the draws for it come from
    their own stream). questions: how many questions of a kind to draw per scene (default 1;
    'order' defaults to `order_questions`), keeping the distinct ones — several questions about
    one context that ask about different objects, so copying from the first object named is
    wrong more often than not."""
    chats = []
    asks = {"order": order_questions, **(questions or {})}

    def add(context: str, media: str, rng, question: str, answer: str, kind: str) -> None:
        if kinds is not None and kind not in kinds:
            return
        if rng.random() < media_share:
            context = f"{media} {context}"
        chats.append([{"role": "user", "content": f"{context} {question}"}, {"role": "assistant", "content": answer}])

    def ask(scene, context: str, media: str, rng, kinds_asked, draw) -> None:
        """asks[kind] draws of `draw(scene, kind, rng)` for each kind, keeping the distinct questions."""
        for kind in kinds_asked:
            asked = set()
            for _ in range(asks.get(kind, 1)):
                qa = draw(scene, kind, rng)
                if qa is not None and qa.question not in asked:
                    asked.add(qa.question)
                    add(context, media, rng, qa.question, qa.answer, kind)

    for k in range(start, start + num_scenes):
        scene = sample_scene(split, k)
        rng = np.random.default_rng([k, 3])
        video = "<video> <audio>" if rng.random() < 0.3 else "<video>"
        heard = sound_share > 0 and np.random.default_rng([k, 5]).random() < sound_share
        context = describe(scene, sound=heard)
        if heard:
            video = "<video> <audio>"
            ask(scene, context, video, rng, AUDIO_QA_KINDS, audio_qa)
        ask(scene, context, video, rng, CLIP_QA_KINDS, clip_qa)
        t = float(rng.uniform(*scene.visible_span(0)))
        listing = still_listing(scene, t)
        for kind in STILL_QA_KINDS:
            qa = still_qa(scene, t, kind, rng)
            if qa is not None and (media_share > 0 or rng.random() < 0.5):
                add(listing, "<image>", rng, qa.question, qa.answer, kind)
        # Writing captions from what the context says: what LLaVA's stage 1 relies on.
        prompt = CAPTION_PROMPTS[int(rng.integers(len(CAPTION_PROMPTS)))]
        add(listing, "<image>", rng, prompt, still_caption(scene, t), "caption")
        add(context, video, rng, "describe the video in one sentence .", caption(scene, sound=heard), "caption")
    return chats


def still_listing(scene, t: float) -> str:
    """A frame at time t told in words: each visible object with its colour and place."""
    parts = [f"the {scene.colour_at(i, t)} {o.shape} is at the {position_words(*map(float, scene.position(i, t)))} ."
             for i, o in enumerate(scene.objects) if scene.visible(i, t)]
    return " ".join(parts) or "the picture is empty ."


def lm_examples(recipe: dict, tokenizer, media_share: float | None = None) -> list:
    """A training stage's examples, tokenized (`chat.EncodedChat`): `lm_corpus` chats (only
    recipe["kinds"] if given, plus recipe["general_scenes"] scenes of every kind), then
    recipe["binding"] `binding_corpus` questions shared evenly among recipe["binding_kinds"]
    (direction when it names none), then naming lists as plain documents. media_share: for a
    stage that does not say its own."""
    share = recipe.get("media_share", media_share)
    start = recipe.get("start", 2_000_000)
    sound = recipe.get("sound_share", 0.0)
    chats = lm_corpus(recipe["scenes"], start=start, media_share=share, order_questions=recipe["order_questions"],
                      kinds=recipe.get("kinds"), sound_share=sound, questions=recipe.get("questions"))
    if recipe.get("general_scenes"):
        chats += lm_corpus(recipe["general_scenes"], start=start + 1_000_000, media_share=share,
                           order_questions=recipe["order_questions"], sound_share=sound)
    if recipe.get("binding"):
        kinds = recipe.get("binding_kinds", ["direction"])
        for kind in kinds:
            chats += binding_corpus(recipe["binding"] // len(kinds), start=recipe["binding_start"], media_share=share,
                                    curriculum=recipe.get("curriculum", 0.0), kind=kind)
    rng = np.random.default_rng([recipe["seed"], 7])
    lists = [naming_text(rng) for _ in range(recipe["naming_lists"])]
    return [*(encode_chat(tokenizer, c) for c in chats), *(encode_document(tokenizer, t) for t in lists)]


# What a binding question asks (`binding_corpus`), and the events its answer is read from, which
# every context tells (the others are the distractors a curriculum adds a few at a time).
BINDING_KINDS = {"direction": (direction_questions, ()), "when": (when_questions, ("appear", "disappear"))}


def binding_corpus(num_chats: int, start: int, media_share: float = 0.0, curriculum: float = 0.0,
                   kind: str = "direction") -> list[list[dict[str, str]]]:
    """`num_chats` questions of `kind` about one object among several: every one that scenes of
    two or three objects allow, each after its scene's description.
    "direction" (`data.direction_questions`): the LM must find the asked object's motion sentence
    ("the blue square moves left") among the others' and among the events that name the objects
    again — bind a direction to its object. Answering with the last-named mover's direction is
    right 0.60 of the time on held-out scenes like these.
    "when" (`data.when_questions`, every object): the asked object's appear and disappear
    sentences, if any, among the other objects' ("from 0.0 to 4.0 seconds" when it has none).

    curriculum: over the first `curriculum` share of the chats (kept in order), the descriptions
    tell a growing share of the scene's other events, from none to all (the objects' motion
    sentences, and for "when" every appear and disappear event, always): short contexts first,
    where binding is easy to learn, then more and more distractors. 0 tells every event
    throughout. media_share: the share with a '<video>' placeholder before the context."""
    if kind not in BINDING_KINDS:
        raise ValueError(f"unknown binding kind {kind!r}; use one of {sorted(BINDING_KINDS)}")
    ask, always = BINDING_KINDS[kind]
    chats: list[list[dict[str, str]]] = []
    k = start
    while len(chats) < num_chats:
        scene = sample_scene("train", k)
        rng = np.random.default_rng([k, 13])
        k += 1
        questions = ask(scene)
        if len(scene.objects) < 2 or not questions:
            continue
        told = min(1.0, len(chats) / (curriculum * num_chats)) if curriculum else 1.0
        others = [i for i, e in enumerate(scene.events) if e.kind not in always]
        shown = set(others[:int(round(told * len(others)))])
        events = [e for i, e in enumerate(scene.events) if e.kind in always or i in shown]
        context = describe(dataclasses.replace(scene, events=events))
        if rng.random() < media_share:
            context = f"<video> {context}"
        chats += [[{"role": "user", "content": f"{context} {qa.question}"}, {"role": "assistant", "content": qa.answer}]
                  for qa in questions]
    return chats[:num_chats]


def length_bucketed_order(lengths: list[int], batch_size: int, steps: int, seed: int = 0,
                          pool: int = 64) -> list[list[int]]:
    """Indices of `steps` batches: each epoch is shuffled, cut into pools of `pool` batches,
    each pool sorted by length and cut into batches, and the batches shuffled — so a batch
    holds examples of similar length and pads little. Deterministic in `seed`."""
    rng = np.random.default_rng([seed, 17])
    lengths_arr = np.asarray(lengths)
    batches: list[list[int]] = []
    while len(batches) < steps:
        order = rng.permutation(len(lengths_arr))
        epoch = []
        for i in range(0, len(order), batch_size * pool):
            chunk = order[i:i + batch_size * pool]
            chunk = chunk[np.argsort(lengths_arr[chunk], kind="stable")]
            epoch += [chunk[j:j + batch_size].tolist() for j in range(0, len(chunk) - batch_size + 1, batch_size)]
        if not epoch:
            raise ValueError(f"fewer examples ({len(lengths)}) than one batch ({batch_size})")
        batches += [epoch[j] for j in rng.permutation(len(epoch))]
    return batches[:steps]


def toy_lm(rebuild: bool = False, progress: bool = True, use_shipped: bool = True):
    """(lm, tokenizer): a small Llama pretrained on toy-world text (`lm_recipe`) — question
    answering and captions from descriptions (`lm_corpus`), and naming lists, which teach it to
    copy from its context, as a real LLM can. Loaded with
    `transformers.AutoModelForCausalLM.from_pretrained` from the shipped folder when it was built
    from the current recipe (unless `use_shipped` is False), else from the cache (training the
    recipe once if needed; `rebuild` retrains from scratch)."""
    recipe = lm_recipe()
    shipped = _shipped_path("toy_lm", recipe_key(recipe)) if use_shipped else None
    if shipped is not None and not rebuild:
        return _load_lm_float(shipped)
    path = cache_dir() / "zoo" / f"toy-lm-{recipe_key(recipe)}"
    if path.exists() and not rebuild:
        return _load_lm_float(path)
    first, stages = first_stage(recipe), stage_names(recipe)
    done, lm, log = None, None, {}
    for n in range(len(stages), -1, -1):  # the longest prefix of stages already built
        prefix = {**first, **{k: recipe[k] for k in stages[:n]}}
        prefix_path = cache_dir() / "zoo" / f"toy-lm-{recipe_key(prefix)}"
        if prefix_path.exists() and not rebuild:
            (lm, tokenizer), log, done = _load_lm_float(prefix_path), _read_log(prefix_path), n
            break
    if lm is None:
        tokenizer = build_tokenizer()
        lm = build_lm(tokenizer, recipe["hidden"], recipe["layers"], recipe["heads"], init_std=recipe["init_std"],
                      seed=recipe["seed"])
        log = _train_lm_stage(lm, tokenizer, first, first, cache_dir() / "zoo" / f"toy-lm-{recipe_key(first)}",
                              "toy LM", progress, rebuild)
        done = 0
    offset = first["steps"] + sum(recipe[k]["steps"] for k in stages[:done])
    for n in range(done, len(stages)):
        prefix = {**first, **{k: recipe[k] for k in stages[:n + 1]}}
        stage_path = cache_dir() / "zoo" / f"toy-lm-{recipe_key(prefix)}"
        stage = _train_lm_stage(lm, tokenizer, {**first, **recipe[stages[n]]}, first, stage_path,
                                f"toy LM, stage {n + 2}", progress, rebuild)
        log = {"seconds": round(log.get("seconds", 0) + stage["seconds"], 1), "device": stage["device"],
               "curve": [*log.get("curve", []), *([s + offset, v] for s, v in stage["curve"])]}
        offset += recipe[stages[n]]["steps"]
        _write_log(stage_path, log)
    return lm, tokenizer


def fresh_embeddings(lm, tokenizer, words: list[str], std: float, seed: int) -> None:
    """Give `words` fresh random embeddings (normal, `std`; deterministic in `seed`), in place.

    Words a tied-embedding LM never reads in training are still pushed down at every step as
    wrong outputs, all by nearly the same gradient, so their embeddings drift together (the
    noises' four names reached cosine similarity 0.99 in the toy LM's first three stages) and
    the LM can no longer tell them apart — neither copy one from its context nor name one. Real
    LMs meet this when their vocabulary grows; new tokens get a fresh initialisation."""
    ids = tokenizer.convert_tokens_to_ids(list(words))
    unknown = [w for w, i in zip(words, ids) if i is None or i == tokenizer.unk_token_id]
    if unknown:
        raise ValueError(f"{unknown} are not in the toy LM's vocabulary")
    weight = lm.get_input_embeddings().weight
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        weight[ids] = (torch.randn(len(ids), weight.shape[1], generator=generator) * std).to(weight)


def _train_lm_stage(lm, tokenizer, stage: dict, first: dict, path: Path, desc: str, progress: bool,
                    rebuild: bool) -> dict:
    """Train `lm` on one stage of the LM recipe (`stage`: the first stage's settings updated with
    this stage's), save it to `path` (a transformers folder); returns the training log."""
    if stage.get("new_words"):
        fresh_embeddings(lm, tokenizer, stage["new_words"], first["init_std"], stage["seed"])
    examples = lm_examples(stage, tokenizer, media_share=first["media_share"])
    if stage.get("curriculum"):  # the examples' order is the curriculum: batches in turn
        size = stage["batch_size"]
        if len(examples) < size * stage["steps"]:
            raise ValueError(f"a curriculum stage needs {size * stage['steps']} examples, not {len(examples)}")
        order = [list(range(s * size, (s + 1) * size)) for s in range(stage["steps"])]
    else:
        order = length_bucketed_order([len(e.input_ids) for e in examples], stage["batch_size"], stage["steps"],
                                      seed=stage["seed"])

    def batch_at(step: int):
        return pad_batch([examples[i] for i in order[step]], tokenizer.pad_token_id)

    log = _train_resumable(lm, batch_at, lambda model, batch: model(**batch).loss, stage,
                           path.with_name(path.name + ".ckpt"), desc, progress, rebuild)
    lm.cpu().eval()
    _atomic_save(path, lambda tmp: _save_lm(lm, tokenizer, tmp), folder=True)
    _write_log(path, log)
    return log


def _load_lm_float(path: Path):
    with _quiet_transformers():
        lm, tokenizer = load_lm(path, dtype=torch.float32)
    return lm.eval(), tokenizer


def _save_lm(lm, tokenizer, folder: Path, dtype: torch.dtype = torch.float32) -> None:
    """save_pretrained in `dtype`; the config keeps saying float32, so from_pretrained gives an fp32
    model whatever the stored precision."""
    with _quiet_transformers():
        if dtype != torch.float32:
            import copy

            lm = copy.deepcopy(lm).to(dtype)
        lm.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
    config = json.loads((folder / "config.json").read_text())
    config["dtype"] = "float32"
    (folder / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


# ---- the audio bases (notebook 05) -------------------------------------------------------------------
def toy_audio(base: str, rebuild: bool = False, progress: bool = True, use_shipped: bool = True):
    """The course's audio base 'sound' (which of the events' sounds and off-screen noises a window
    holds: BEATs' role) or 'speech' (which word the voice says: Whisper's role) — an
    `audio.AudioNet` trained from `audio.audio_recipe(base)` on one-second windows of toy-world
    audio (`audio.train_base`). Loads the shipped file when it was built from the current recipe
    (unless `use_shipped` is False), else the cached build, else trains the recipe once into the
    cache; `rebuild` retrains from scratch. log-mel (B, 64, 100) → frames (B, 50, 64)."""
    from . import audio

    recipe = audio.audio_recipe(base)
    key = recipe_key(recipe)
    shipped = _shipped_path(f"toy_audio_{base}", key) if use_shipped else None
    path = _cache_path(f"toy_audio_{base}", key)
    model = audio.new_base(base, recipe)
    source = next((p for p in (shipped, path) if p is not None and p.exists()), None)
    if source is not None and not rebuild:
        model.load_state_dict({k: v.float() for k, v in load_file(str(source)).items()})
        return model.requires_grad_(False).eval()
    start = time.perf_counter()
    model = audio.train_base(recipe, progress)  # a few minutes: the shared loop, no checkpoints
    log = {"seconds": round(time.perf_counter() - start, 1), "device": _device_name(default_device()), "curve": []}
    _atomic_save(path, lambda tmp: save_file(_contiguous(model.state_dict()), str(tmp)))
    _write_log(path, log)
    return model


def toy_video(kind: str, rebuild: bool = False, progress: bool = True, use_shipped: bool = True,
              clip_model: torch.nn.Module | None = None):
    """The course's video tower 'aligned' (temporal attention on the toy CLIP's image tower, trained
    against its frozen text tower: LanguageBind's way) or 'separate' (the same blocks with a map and
    head of their own, trained against a text tower of its own) — a `video_tower.VideoTower` trained
    from `video_tower.tower_recipe(kind)` on toy-world clips and their captions, with its text tower.
    Loads the shipped file when it was built from the current recipe (unless `use_shipped` is
    False), else the cached build, else trains the recipe once into the cache; `rebuild` retrains.
    clip_model: the toy CLIP it reads frames with (default `toy_clip()`).
    pixels (G, T, 3, 64, 64) → tokens (G, T, 16, 128)."""
    from . import video_tower

    recipe = video_tower.tower_recipe(kind)
    key = recipe_key(recipe)
    shipped = _shipped_path(f"toy_video_{kind}", key) if use_shipped else None
    path = _cache_path(f"toy_video_{kind}", key)
    source = next((p for p in (shipped, path) if p is not None and p.exists()), None)
    if source is not None and not rebuild:
        tower = video_tower.new_tower(kind, recipe, clip_model)
        tower.load_trained_state(load_file(str(source)))
        return tower.requires_grad_(False).eval()
    start = time.perf_counter()
    tower = video_tower.train_tower(recipe, progress, clip_model)  # minutes: the shared loop, no checkpoints
    log = {"seconds": round(time.perf_counter() - start, 1), "device": _device_name(default_device()), "curve": []}
    _atomic_save(path, lambda tmp: save_file(_contiguous(tower.trained_state()), str(tmp)))
    _write_log(path, log)
    return tower


def _cache_path(base: str, key: str) -> Path:
    """Where the cache keeps the build of `base` from recipe `key`."""
    name = {"toy_clip": f"toy-clip-{key}.safetensors", "toy_lm": f"toy-lm-{key}"}.get(
        base, f"{base.replace('_', '-')}-{key}.safetensors")
    return cache_dir() / "zoo" / name


def _recipes() -> dict[str, tuple[Callable, dict]]:
    """Every shipped base: (its builder, its current recipe)."""
    from functools import partial

    from .audio import AUDIO_BASES, audio_recipe
    from .video_tower import VIDEO_TOWERS, tower_recipe

    out = {"toy_clip": (toy_clip, clip_recipe()), "toy_lm": (toy_lm, lm_recipe())}
    for name in AUDIO_BASES:
        out[f"toy_audio_{name}"] = (partial(toy_audio, name), audio_recipe(name))
    for name in VIDEO_TOWERS:
        out[f"toy_video_{name}"] = (partial(toy_video, name), tower_recipe(name))
    return out


# ---- training, saving, shipping ----------------------------------------------------------------------
def _train_resumable(model: torch.nn.Module, batch_at: Callable[[int], Any],
                     loss_fn: Callable[[torch.nn.Module, Any], Any], recipe: dict, checkpoint: Path, desc: str,
                     progress: bool, restart: bool = False) -> dict:
    """Train like `train.train` (AdamW, decay on matrices only, warmup + cosine `train.lr_at`,
    gradient clipping at 1) for recipe["steps"] steps, batch `batch_at(step)`; every
    CHECKPOINT_SECONDS save model, optimizer and log to `checkpoint`, and resume from it if it
    exists (unless `restart`). Deterministic: a resumed run gives the same weights. Returns the
    log: {"seconds", "device", "curve": [[step, loss], …]}."""
    config = TrainConfig(steps=recipe["steps"], lr=recipe["lr"], weight_decay=recipe["weight_decay"])
    deterministic_kernels()  # same recipe, same bytes on a GPU too
    device = default_device()
    model.to(device).train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        [{"params": [p for p in params if p.ndim >= 2], "weight_decay": config.weight_decay},
         {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}], lr=config.lr)
    log = {"seconds": 0.0, "device": _device_name(device), "curve": []}
    start_step = 0
    if checkpoint.exists() and not restart:
        state = torch.load(checkpoint, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        log, start_step = state["log"], state["step"]
    last_save = clock = time.perf_counter()
    running = None
    bar = tqdm(range(start_step, config.steps), desc=desc, disable=not progress, initial=start_step,
               total=config.steps)
    for step in bar:
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, config)
        out = loss_fn(model, _to(batch_at(step), device))
        loss = out[0] if isinstance(out, tuple) else out
        if not torch.isfinite(loss):
            raise FloatingPointError(f"{desc}: loss became {loss.item()} at step {step}; lower the recipe's lr")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
        if step % 50 == 0 or step == config.steps - 1:
            log["curve"].append([step, round(running, 4)])
            bar.set_postfix(loss=f"{running:.3f}")
        now = time.perf_counter()
        if now - last_save > CHECKPOINT_SECONDS and step < config.steps - 1:
            log["seconds"] += now - clock
            clock = last_save = now
            state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "log": log, "step": step + 1}
            _atomic_save(checkpoint, lambda tmp: torch.save(state, tmp))
    log["seconds"] = round(log["seconds"] + time.perf_counter() - clock, 1)
    checkpoint.unlink(missing_ok=True)
    model.eval()
    return log


def _to(batch, device):
    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    if isinstance(batch, dict):
        return {k: _to(v, device) for k, v in batch.items()}
    if isinstance(batch, (tuple, list)):
        return type(batch)(_to(v, device) for v in batch)
    return batch


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{device.type}: {platform.processor() or platform.machine()}, {torch.get_num_threads()} thread(s)"


def _contiguous(state: dict[str, torch.Tensor], dtype: torch.dtype | None = None) -> dict[str, torch.Tensor]:
    return {k: (v.to(dtype) if dtype is not None and v.is_floating_point() else v).contiguous().clone()
            for k, v in state.items()}


def _write_log(path: Path, log: dict) -> None:
    Path(str(path) + ".log.json").write_text(json.dumps(log))


def _read_log(path: Path) -> dict:
    log_path = Path(str(path) + ".log.json")
    return json.loads(log_path.read_text()) if log_path.exists() else {}


def read_manifest() -> dict:
    """The shipped bases' manifest: {base: {file, recipe_key, sha256, bytes, train_seconds, device,
    quality, …}} ({} when nothing is shipped)."""
    return json.loads(MANIFEST.read_text()) if MANIFEST.exists() else {}


def file_sha256(path: Path) -> str:
    """sha256 of a file, or of a folder's files (names and bytes, in sorted order)."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        digest.update(f.relative_to(path).as_posix().encode() if path.is_dir() else b"")
        digest.update(f.read_bytes())
    return digest.hexdigest()


def _shipped_path(base: str, key: str) -> Path | None:
    """The shipped file of `base` if the manifest says it was built from recipe `key` (fast mode
    never uses shipped files: its recipes are different)."""
    entry = read_manifest().get(base)
    path = SHIPPED_DIR / SHIPPED_FILES[base]
    if fast_mode() or not entry or entry.get("recipe_key") != key or not path.exists():
        return None
    return path


def ship(progress: bool = True, rebuild: bool = False, bases: tuple[str, ...] = tuple(SHIPPED_FILES)) -> dict:
    """Build every base from its current recipe (training it unless cached; `rebuild`: always) and
    write it, in fp16, to `minivlm/zoo_weights/` with a manifest entry (quality figures are
    added by `benchmarks/zoo.py --write`). `bases`: which to ship. Returns the manifest."""
    if fast_mode():
        raise RuntimeError("ship() writes the package's weights from the full recipes; unset MINIVLM_FAST")
    SHIPPED_DIR.mkdir(exist_ok=True)
    manifest = read_manifest()
    for base, (build, recipe) in _recipes().items():
        if base not in bases:
            continue
        key = recipe_key(recipe)
        cached = _cache_path(base, key)
        if rebuild or not cached.exists():
            build(rebuild=rebuild, progress=progress, use_shipped=False)
        target = SHIPPED_DIR / SHIPPED_FILES[base]
        if base != "toy_lm":  # one safetensors file
            state = load_file(str(cached))
            _atomic_save(target, lambda tmp: save_file(_contiguous(state, torch.float16), str(tmp)))
        else:
            lm, tokenizer = _load_lm_float(cached)
            _atomic_save(target, lambda tmp: _save_lm(lm, tokenizer, tmp, torch.float16), folder=True)
        log = _read_log(cached)
        old = manifest.get(base, {})
        manifest[base] = {
            "file": f"minivlm/zoo_weights/{SHIPPED_FILES[base]}", "recipe_key": key, "recipe": recipe,
            "sha256": file_sha256(target), "bytes": _size_of(target), "dtype": "float16",
            "train_seconds": log.get("seconds"), "device": log.get("device"),
            "quality": old.get("quality", {}) if old.get("recipe_key") == key else {},
            "curve": log.get("curve", []),
        }
        write_manifest(manifest)
    return manifest


def write_manifest(manifest: dict) -> None:
    """Write the manifest (sorted keys, one value per line where short) beside the weights."""
    SHIPPED_DIR.mkdir(exist_ok=True)
    _atomic_save(MANIFEST, lambda tmp: tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n"))


def _size_of(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


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
    tmp = Path(tempfile.mkdtemp(dir=path.parent)) if folder else path.with_name(f"{path.name}.tmp{os.getpid()}")
    write(tmp)
    if folder and path.exists():
        shutil.rmtree(path)
    os.replace(tmp, path)


def build_all(progress: bool = True) -> dict[str, float]:
    """Build (or load) every base; returns seconds per base. `python -m minivlm.zoo` calls it."""
    seconds = {}
    for name, (make, _) in _recipes().items():
        start = time.perf_counter()
        make(progress=progress)
        seconds[name] = round(time.perf_counter() - start, 1)
    return seconds


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Build the course's bases (load shipped ones when current).")
    parser.add_argument("--ship", action="store_true", help="retrain every base from its recipe (resuming a "
                        "checkpoint if one exists) and rewrite minivlm/zoo_weights/ and its manifest")
    parser.add_argument("--only", choices=tuple(SHIPPED_FILES), help="build (or with --ship: ship) just this base")
    args = parser.parse_args(argv)
    if args.only and not args.ship:
        start = time.perf_counter()
        _recipes()[args.only][0](use_shipped=False)
        print(f"{args.only}: built in {time.perf_counter() - start:.0f} s into {cache_dir() / 'zoo'}")
    elif args.ship:
        manifest = ship(bases=(args.only,) if args.only else tuple(SHIPPED_FILES))
        for base, entry in ((b, manifest[b]) for b in SHIPPED_FILES if b in manifest):
            print(f"{base}: {entry['file']} ({entry['bytes'] / 1e6:.2f} MB), trained {entry['train_seconds']} s "
                  f"on {entry['device']}")
        print("now measure and record the quality: python benchmarks/zoo.py --write")
    else:
        print(f"loading the course zoo (building what is not shipped or cached into {cache_dir()}) …")
        for base, secs in build_all().items():
            print(f"{base}: ready after {secs} s")


if __name__ == "__main__":
    main()
