"""LLaVA's presets, data and two-stage recipe (Liu et al. 2023; LLaVA-1.5, Liu et al. 2024).
Built in notebook 03.

The model is a language-stream preset (`LLAVA`, `LLAVA_15`; `minivlm.build("llava-1.5")`):
frozen CLIP encoder → Linear/MLP projector → LM, the visual tokens written into the prompt.
What LLaVA added is *how it is trained*, two stages as data (`minivlm.stages.Stage`):

- **stage 1, feature alignment** (`ALIGN`) — image–caption pairs as one-turn chats
  ("<image> describe the image ." → caption); only the projector (the vision tokenizer) trains,
  encoder and LM frozen. The projector learns to write visual tokens the frozen LM reads like
  words (LLaVA: 595K CC3M pairs; LLaVA-1.5: 558K).
- **stage 2, visual instruction tuning** (`INSTRUCT`) — questions and multi-turn conversations
  about images; projector and LM train, the encoder stays frozen (LLaVA: 158K instructions;
  LLaVA-1.5: 665K).

The data are `minivlm.samples.Sample`s of toy-world stills: `make_caption_set` (stage 1),
`make_instruct_qa` and `make_dialogue_set` (stage 2, and `make_instruct_qa` on the test split
for evaluation with `minivlm.eval.evaluate`):

    model = build("llava-1.5")
    data = {"captions": precompute(model, make_caption_set("train", 2000)),
            "instructions": precompute(model, make_instruct_qa("train", 1500) + make_dialogue_set("train", 500))}
    model.fit_standardizer(all_media(data["captions"]))
    run_recipe(model, RECIPE, data)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from .chat import Message
from .config import VLMConfig
from .data import (
    CAPTION_PROMPTS,
    NUMBER_WORDS,
    QA,
    Scene,
    WorldConfig,
    position_words,
    qa_sample,
    render_still,
    sample_scene,
    still_caption,
    still_qa,
)
from .media import Media
from .samples import Sample
from .stages import Stage

# LLaVA: a linear projector on the penultimate layer's patch tokens (no CLS); LLaVA-1.5: a 2-layer MLP.
LLAVA = VLMConfig(name="llava", connector="linear", feature_layer=-2, keep_cls=False)
LLAVA_15 = LLAVA.replace(name="llava-1.5", connector="mlp")
PRESETS = {"llava": LLAVA, "llava-1.5": LLAVA_15}

# Stage 1 trains the projector alone on captions; stage 2 the projector and the LM on instructions.
ALIGN = Stage("stage 1 · align", train=("vision_tokenizer",), data="captions", steps=300, lr=2e-3, batch_size=32)
INSTRUCT = Stage("stage 2 · instruct", train=("vision_tokenizer", "lm"), data="instructions", steps=300, lr=1e-3,
                 batch_size=32)
RECIPE = [ALIGN, INSTRUCT]

# Still questions, with "binding" for colour/shape questions that must pick one of several objects.
INSTRUCT_KINDS = ("colour", "shape", "count", "position", "binding")
FOLLOW_UPS = {"colour": "what colour is it ?", "shape": "what shape is it ?", "position": "where is it ?"}


# ---- data ------------------------------------------------------------------------------------
def _still(split: str, index: int, config: WorldConfig | None) -> tuple[Scene, float, list[int]]:
    """Scene `index` of `split`, a moment at which something is in view, and the objects in view then."""
    scene = sample_scene(split, index, config)
    t = scene.visible_moment(np.random.default_rng([index, 41]))
    return scene, t, [i for i in range(len(scene.objects)) if scene.visible(i, t)]


def _image(scene: Scene, t: float) -> Media:
    return Media.image(render_still(scene, t))


def make_caption_set(split: str, n: int, config: WorldConfig | None = None, start: int = 0) -> list[Sample]:
    """Stage-1 data: n stills, each a one-turn caption chat ("<image> describe the image ." →
    "a red circle and a blue square ."), kind 'caption'; meta['time']: the still's moment (s)."""
    out = []
    for index in range(start, start + n):
        scene, t, _ = _still(split, index, config)
        prompt = CAPTION_PROMPTS[index % len(CAPTION_PROMPTS)]
        messages = [{"role": "user", "content": f"<image> {prompt}"},
                    {"role": "assistant", "content": still_caption(scene, t)}]
        out.append(Sample([_image(scene, t)], messages, kind="caption", scene=scene, meta={"time": t}))
    return out


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
                     config: WorldConfig | None = None, start: int = 0) -> list[Sample]:
    """n stills with one question each ('<image> what colour is the circle ?' → 'red'), kinds
    cycling through `kinds`; meta['time']: the still's moment (s).

    A colour or shape question becomes kind 'binding' when two or more objects are in view: the
    answer belongs to one of several objects, so the model must bind attributes to objects.
    Asking for 'binding' picks a frame with several objects; asking for 'colour'/'shape' then
    leaves the frames with one object.
    """
    unknown = set(kinds) - set(INSTRUCT_KINDS)
    if unknown:
        raise ValueError(f"unknown question kinds {sorted(unknown)}; use some of {INSTRUCT_KINDS}")
    out: list[Sample] = []
    index = start
    while len(out) < n:
        want = kinds[len(out) % len(kinds)]
        scene, t, visible = _still(split, index, config)
        rng = np.random.default_rng([index, 43])
        index += 1
        if index - start > 50 * n + 100:
            raise ValueError(f"the world rarely supports question kinds {tuple(kinds)}; loosen the WorldConfig")
        if (want == "binding") != (len(visible) >= 2) and want in ("colour", "shape", "binding"):
            continue  # this frame cannot give the kind asked for: try the next scene
        sample = qa_sample(_image(scene, t), _question(scene, t, visible, want, rng), scene)
        out.append(replace(sample, meta={**sample.meta, "time": t}))
    return out


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


def make_dialogue_set(split: str, n: int, config: WorldConfig | None = None, start: int = 0) -> list[Sample]:
    """n stills, each with a three-turn dialogue (see `dialogue`), kind 'dialogue'; meta['time']:
    the still's moment (s)."""
    out = []
    for index in range(start, start + n):
        scene, t, _ = _still(split, index, config)
        messages = dialogue(scene, t, np.random.default_rng([index, 47]))
        out.append(Sample([_image(scene, t)], messages, kind="dialogue", scene=scene, meta={"time": t}))
    return out


__all__ = [
    "ALIGN",
    "CAPTION_PROMPTS",
    "INSTRUCT",
    "INSTRUCT_KINDS",
    "LLAVA",
    "LLAVA_15",
    "PRESETS",
    "RECIPE",
    "dialogue",
    "make_caption_set",
    "make_dialogue_set",
    "make_instruct_qa",
]
