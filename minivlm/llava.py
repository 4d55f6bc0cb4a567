"""LLaVA's data and its two-stage recipe (Liu et al. 2023; LLaVA-1.5, Liu et al. 2024).

The model is `minivlm.vlm.build_llava` (frozen CLIP encoder → Linear/MLP projector → LM, the
visual tokens written into the prompt). What LLaVA added is *how it is trained*:

- **stage 1, feature alignment** — image–caption pairs as one-turn chats ("<image> describe the
  image ." → caption); only the projector trains, encoder and LM frozen. The projector learns to
  write visual tokens the frozen LM reads like words (LLaVA: 595K CC3M pairs; LLaVA-1.5: 558K).
- **stage 2, visual instruction tuning** — questions and multi-turn conversations about images;
  projector and LM train, the encoder stays frozen (LLaVA: 158K instructions; LLaVA-1.5: 665K).

`align_stage(model, data, ...)` and `instruct_stage(model, data, ...)` are one call each, built
on the shared loop `minivlm.train.train`. `data` is anything with `.frames` (N, T, H, W, 3) uint8
and `.messages()` (one conversation per item): a `ChatSet` from this module or a `QASet`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch

from .chat import Message, trim_padding
from .data import (
    CAPTION_PROMPTS,
    NUMBER_WORDS,
    QA,
    Scene,
    WorldConfig,
    position_words,
    render_still,
    sample_scene,
    still_caption,
    still_qa,
)
from .eval import accuracy_by_kind
from .train import History, TrainConfig, random_batches, train
from .config import VLMConfig
from .vlm import LanguageStreamVLM

# LLaVA: a linear projector on the penultimate layer's patch tokens (no CLS); LLaVA-1.5: a 2-layer MLP.
LLAVA = VLMConfig(name="llava", connector="linear", feature_layer=-2, keep_cls=False)
LLAVA_15 = LLAVA.replace(name="llava-1.5", connector="mlp")
PRESETS = {"llava": LLAVA, "llava-1.5": LLAVA_15}

# Brief-description instructions, one drawn per caption (LLaVA drew from a list of 11).
# Still questions, with "binding" for colour/shape questions that must pick one of several objects.
INSTRUCT_KINDS = ("colour", "shape", "count", "position", "binding")
FOLLOW_UPS = {"colour": "what colour is it ?", "shape": "what shape is it ?", "position": "where is it ?"}


class ChatData(Protocol):
    frames: torch.Tensor

    def messages(self) -> list[list[Message]]: ...


@dataclass
class ChatSet:
    """Conversations about rendered media, held in memory.

    frames: uint8 tensor (N, T, H, W, 3), T = 1 for stills; one conversation per item, whose
    first user turn holds the media placeholder. kinds: what each item is ('caption', 'dialogue', ...).
    """

    frames: torch.Tensor
    conversations: list[list[Message]]
    kinds: list[str]
    scenes: list[Scene] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.conversations)

    def messages(self) -> list[list[Message]]:
        return self.conversations

    def __add__(self, other: ChatSet | QASet) -> ChatSet:
        other = as_chat_set(other)
        if self.frames.shape[1:] != other.frames.shape[1:]:
            raise ValueError(f"cannot join media of shape {tuple(self.frames.shape[1:])} and "
                             f"{tuple(other.frames.shape[1:])}; render both at the same size and frame count")
        return ChatSet(torch.cat([self.frames, other.frames]), self.conversations + other.conversations,
                       self.kinds + other.kinds, self.scenes + other.scenes)


def as_chat_set(data: ChatSet | QASet) -> ChatSet:
    """A QASet (one question each) as a ChatSet; a ChatSet unchanged."""
    if isinstance(data, ChatSet):
        return data
    return ChatSet(data.frames, data.messages(), list(data.kinds), list(data.scenes))


# ---- data ------------------------------------------------------------------------------------
def _visible_still(split: str, index: int, config: WorldConfig | None) -> tuple[Scene, float, list[int]]:
    """A scene and a moment at which at least one object is in view."""
    scene = sample_scene(split, index, config)
    rng = np.random.default_rng([index, 41])
    for _ in range(20):
        t = float(rng.uniform(0, scene.duration))
        visible = [i for i in range(len(scene.objects)) if scene.visible(i, t)]
        if visible:
            return scene, t, visible
    start, end = scene.visible_span(0)
    t = (start + end) / 2
    return scene, t, [i for i in range(len(scene.objects)) if scene.visible(i, t)]


def make_caption_set(split: str, n: int, config: WorldConfig | None = None, start: int = 0) -> ChatSet:
    """Stage-1 data: n stills (N, 1, H, W, 3) with one-turn caption chats
    ("<image> describe the image ." → "a red circle and a blue square .")."""
    frames, chats, scenes = [], [], []
    for index in range(start, start + n):
        scene, t, _ = _visible_still(split, index, config)
        prompt = CAPTION_PROMPTS[index % len(CAPTION_PROMPTS)]
        frames.append(render_still(scene, t)[None])
        chats.append([{"role": "user", "content": f"<image> {prompt}"},
                      {"role": "assistant", "content": still_caption(scene, t)}])
        scenes.append(scene)
    return ChatSet(torch.from_numpy(np.stack(frames)), chats, ["caption"] * n, scenes)


def _question(scene: Scene, t: float, visible: list[int], kind: str, rng: np.random.Generator) -> QA:
    """A still question of `kind` (see INSTRUCT_KINDS); 'binding' needs ≥ 2 visible objects."""
    if kind == "binding":
        kind = ("colour", "shape")[int(rng.integers(2))]
    qa = still_qa(scene, t, kind, rng)
    if qa is None:  # only 'count' survives an empty frame, and frames here are never empty
        raise RuntimeError("no visible object to ask about")
    if qa.kind in ("colour", "shape") and len(visible) >= 2:
        return QA("binding", qa.question, qa.answer)
    return qa


def make_instruct_qa(split: str, n: int, kinds: Sequence[str] = INSTRUCT_KINDS,
                     config: WorldConfig | None = None, start: int = 0) -> QASet:
    """n stills (N, 1, H, W, 3) with one question each, kinds cycling through `kinds`.

    A colour or shape question becomes kind 'binding' when two or more objects are in view: the
    answer belongs to one of several objects, so the model must bind attributes to objects.
    Asking for 'binding' picks a frame with several objects; asking for 'colour'/'shape' then
    leaves the frames with one object.
    """
    unknown = set(kinds) - set(INSTRUCT_KINDS)
    if unknown:
        raise ValueError(f"unknown question kinds {sorted(unknown)}; use some of {INSTRUCT_KINDS}")
    frames, items = [], []
    index = start
    while len(items) < n:
        want = kinds[len(items) % len(kinds)]
        scene, t, visible = _visible_still(split, index, config)
        rng = np.random.default_rng([index, 43])
        index += 1
        if (want == "binding") != (len(visible) >= 2) and want in ("colour", "shape", "binding"):
            continue  # this frame cannot give the kind asked for: try the next scene
        frames.append(render_still(scene, t)[None])
        items.append((scene, _question(scene, t, visible, want, rng)))
        if index - start > 50 * n + 100:
            raise ValueError(f"the world rarely supports question kinds {tuple(kinds)}; loosen the WorldConfig")
    return QASet(torch.from_numpy(np.stack(frames)), [q.question for _, q in items], [q.answer for _, q in items],
                 [q.kind for _, q in items], [s for s, _ in items], [None] * len(items))


def dialogue(scene: Scene, t: float, rng: np.random.Generator) -> list[Message]:
    """A short conversation about the frame at time t: a question about one object, a follow-up
    that refers to it as 'it' (the answer needs the earlier turns), then a count."""
    visible = [i for i in range(len(scene.objects)) if scene.visible(i, t)]
    i = visible[int(rng.integers(len(visible)))]
    o, colour = scene.objects[i], scene.colour_at(i, t)
    x, y = scene.position(i, t)
    facts = {"colour": colour, "shape": o.shape, "position": position_words(float(x), float(y))}
    # the opening names one attribute, the follow-up asks about another one of the same object
    opening = {"colour": f"what colour is the {o.shape} ?", "shape": f"what shape is the {colour} object ?",
               "position": f"where is the {o.shape} ?"}
    first = ("colour", "shape", "position")[int(rng.integers(3))]
    second = "colour" if first == "position" else "position"
    return [
        {"role": "user", "content": f"<image> {opening[first]}"},
        {"role": "assistant", "content": facts[first]},
        {"role": "user", "content": FOLLOW_UPS[second]},
        {"role": "assistant", "content": facts[second]},
        {"role": "user", "content": "how many objects are there ?"},
        {"role": "assistant", "content": NUMBER_WORDS[len(visible)]},
    ]


def make_dialogue_set(split: str, n: int, config: WorldConfig | None = None, start: int = 0) -> ChatSet:
    """n stills (N, 1, H, W, 3), each with a three-turn dialogue (see `dialogue`)."""
    frames, chats, scenes = [], [], []
    for index in range(start, start + n):
        scene, t, _ = _visible_still(split, index, config)
        frames.append(render_still(scene, t)[None])
        chats.append(dialogue(scene, t, np.random.default_rng([index, 47])))
        scenes.append(scene)
    return ChatSet(torch.from_numpy(np.stack(frames)), chats, ["dialogue"] * n, scenes)


# ---- the two stages --------------------------------------------------------------------------
def _standardizer_is_fitted(model: LanguageStreamVLM) -> bool:
    s = model.vision_tokenizer.standardizer
    return not (torch.all(s.mean == 0) and torch.all(s.std == 1))


def stage_batches(model: LanguageStreamVLM, data: ChatData, batch_size: int, features: torch.Tensor | None = None,
                  seed: int = 0) -> Iterator[dict[str, torch.Tensor]]:
    """Endless shuffled training batches (input_ids, attention_mask, labels (B, L), vision_features
    (B, 1, T, P, D)) from a chat data set. `features`: the set's cached vision features
    (`model.cache_features(data.frames)`); computed here when not given."""
    if features is None:
        features = model.cache_features(data.frames)
    if len(features) != len(data.frames):
        raise ValueError(f"{len(features)} cached features for {len(data.frames)} media items; cache them with "
                         "model.cache_features(data.frames)")
    if not _standardizer_is_fitted(model):  # FEASIBILITY pitfall 1: centre the features first
        model.fit_standardizer(features)
    text = model.prepare_chats(data.messages(), num_frames=data.frames.shape[1], media_per_chat=1)
    return map(trim_padding, random_batches({**text, "vision_features": features}, batch_size, seed))


def _run(model, data, features, steps, lr, batch_size, seed, desc, progress, eval_fn, eval_every, history):
    batches = stage_batches(model, data, batch_size, features, seed)
    config = TrainConfig(steps=steps, lr=lr, seed=seed, desc=desc, progress=progress)
    return train(model, batches, config, eval_fn=eval_fn, eval_every=eval_every, history=history)


def align_stage(model: LanguageStreamVLM, data: ChatData, steps: int = 300, lr: float = 2e-3, batch_size: int = 32,
                features: torch.Tensor | None = None, seed: int = 0, progress: bool = True,
                eval_fn: Callable[[LanguageStreamVLM], dict[str, float]] | None = None,
                eval_every: int | None = None, history: History | None = None) -> History:
    """Stage 1, feature alignment: train only the projector (the vision tokenizer) on caption
    chats, encoder and LM frozen. data.frames (N, T, H, W, 3) uint8; features (N, 1, T, P, D)
    optional cached vision features. Leaves the model with only the projector trainable."""
    model.set_trainable("vision_tokenizer")
    return _run(model, data, features, steps, lr, batch_size, seed, "stage 1 · align", progress, eval_fn,
                eval_every, history)


def instruct_stage(model: LanguageStreamVLM, data: ChatData, steps: int = 300, lr: float = 1e-3,
                   batch_size: int = 32, features: torch.Tensor | None = None, seed: int = 0,
                   progress: bool = True, eval_fn: Callable[[LanguageStreamVLM], dict[str, float]] | None = None,
                   eval_every: int | None = None, history: History | None = None) -> History:
    """Stage 2, visual instruction tuning: train the projector and the LM on questions and
    dialogues (loss on assistant turns only), encoder frozen. Same arguments as `align_stage`."""
    model.set_trainable("vision_tokenizer", "lm")
    return _run(model, data, features, steps, lr, batch_size, seed, "stage 2 · instruct", progress, eval_fn,
                eval_every, history)


# ---- evaluation ------------------------------------------------------------------------------
@torch.no_grad()
def evaluate_qa(model: LanguageStreamVLM, qa: QASet, features: torch.Tensor | None = None,
                batch_size: int = 128) -> dict[str, float]:
    """Exact-match accuracy per question kind (and 'all') of greedy answers about stills.
    features: cached (N, 1, T, P, D) vision features of qa.frames, computed when not given."""
    if features is None:
        features = model.cache_features(qa.frames)
    predictions = model.answer_batch(qa.questions, vision_features=features, media_token=qa.media_token,
                                     batch_size=batch_size, max_new_tokens=4)
    return accuracy_by_kind(predictions, qa.answers, qa.kinds)


__all__ = [
    "CAPTION_PROMPTS",
    "INSTRUCT_KINDS",
    "ChatSet",
    "align_stage",
    "as_chat_set",
    "dialogue",
    "evaluate_qa",
    "instruct_stage",
    "make_caption_set",
    "make_dialogue_set",
    "make_instruct_qa",
    "stage_batches",
]
