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

LLaVA's data contribution in miniature: `make_written_instructions` — a `TextOnlyWriter` that
reads only a still's caption and its objects' boxes as text (`writer_context`, as GPT-4 did)
writes a conversation, a detailed description or a reasoning question. LLaVA-1.5's
answer-format prompt (`FORMAT_PROMPT`) is appended to short-answer questions by
`with_format_prompt`. `check_splice` and `check_label_mask` check notebook 03's exercises.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from .chat import Message
from .checks import compare, difference, report
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
from .data.text import indefinite_article
from .instruct import _count_sentence
from .media import Media
from .samples import Sample, encode_sample
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


# ---- LLaVA's data: instructions written by a text-only writer from captions and boxes ----------
# LLaVA asked a text-only GPT-4 to write conversations about an image it never saw, from the
# image's captions and its objects' boxes. Here a templated writer stands in for GPT-4: it too
# receives only that text (`context`), never the scene or the pixels.
WRITER_KINDS = ("conversation", "detail", "reasoning")  # LLaVA-Instruct's three response types
DETAIL_PROMPTS = ("describe the image in detail .", "tell me what you see in this picture , in detail .",
                  "can you describe this image in detail ?", "explain what the image shows , in detail .")
# LLaVA-1.5 appends this to every short-answer question, so that the model learns when to be brief.
FORMAT_PROMPT = "answer the question using a single word or phrase ."
_BOX_LINE = re.compile(r"^(\w+) (\w+): \[([0-9.]+), ([0-9.]+), ([0-9.]+), ([0-9.]+)\]$")


@dataclass(frozen=True)
class Box:
    """An object as the writer reads it: colour, shape and box (x1, y1, x2, y2), normalised."""

    colour: str
    shape: str
    box: tuple[float, float, float, float]

    @property
    def name(self) -> str:
        return f"{self.colour} {self.shape}"

    @property
    def centre(self) -> tuple[float, float]:
        return (self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2

    def where(self) -> str:
        """'at the top left' / 'in the centre' (a 3×3 grid of the box's centre)."""
        words = position_words(*self.centre)
        return "in the centre" if words == "centre" else f"at the {words}"


def writer_context(scene: Scene, t: float) -> str:
    """What the text-only writer is given about the still at time t: its caption and each visible
    object's box [x1, y1, x2, y2] (normalised, 3 decimals) — LLaVA's captions + boxes."""
    short = min(scene.height, scene.width)
    lines = [f"caption: {still_caption(scene, t)}", "boxes:"]
    for i, o in enumerate(scene.objects):
        if scene.visible(i, t):
            x, y = (float(v) for v in scene.position(i, t))
            rx, ry = o.radius * short / scene.width, o.radius * short / scene.height
            box = np.clip([x - rx, y - ry, x + rx, y + ry], 0.0, 1.0)
            lines.append(f"{scene.colour_at(i, t)} {o.shape}: [{', '.join(f'{v:.3f}' for v in box)}]")
    return "\n".join(lines)


def read_boxes(context: str) -> list[Box]:
    """The objects of a writer context (see `writer_context`)."""
    boxes = []
    for line in context.splitlines():
        m = _BOX_LINE.match(line.strip())
        if m:
            boxes.append(Box(m.group(1), m.group(2), tuple(float(m.group(k)) for k in range(3, 7))))
    if not boxes:
        raise ValueError("the context lists no boxes: write it with writer_context(scene, t) "
                         "('colour shape: [x1, y1, x2, y2]' lines)")
    return boxes


class TextOnlyWriter:
    """Writes LLaVA's three kinds of instructions — a multi-turn conversation, a detailed
    description, a reasoning question — from a context *text* (caption + boxes) alone, with
    varied templates, answering in sentences as GPT-4 did. It stands in for GPT-4: it never sees
    the scene or the image."""

    def write(self, context: str, kind: str, rng: np.random.Generator) -> list[Message]:
        """A conversation of `kind` (see WRITER_KINDS); the first user turn opens with '<image>'."""
        boxes = read_boxes(context)
        if kind == "conversation":
            turns = self.conversation(boxes, rng)
        elif kind == "detail":
            turns = [(DETAIL_PROMPTS[int(rng.integers(len(DETAIL_PROMPTS)))], self.detail(boxes))]
        elif kind == "reasoning":
            turns = [self.reasoning(boxes, rng)]
        else:
            raise ValueError(f"unknown instruction kind {kind!r}; use one of {WRITER_KINDS}")
        out: list[Message] = []
        for k, (question, answer) in enumerate(turns):
            out += [{"role": "user", "content": f"<image> {question}" if k == 0 else question},
                    {"role": "assistant", "content": answer}]
        return out

    @staticmethod
    def conversation(boxes: list[Box], rng: np.random.Generator) -> list[tuple[str, str]]:
        b = boxes[int(rng.integers(len(boxes)))]
        asks = {"colour": (f"what colour is the {b.shape} ?", f"the {b.shape} is {b.colour} ."),
                "shape": (f"what shape is the {b.colour} object ?", f"it is {indefinite_article(b.shape)} {b.shape} ."),
                "position": (f"where is the {b.name} ?", f"the {b.name} is {b.where()} .")}
        follow = {"colour": ("what colour is it ?", f"it is {b.colour} ."),
                  "position": ("where is it ?", f"it is {b.where()} .")}
        first = ("colour", "shape", "position")[int(rng.integers(3))]
        second = "colour" if first == "position" else "position"
        return [asks[first], follow[second], ("how many objects are there ?", _count_sentence(len(boxes)))]

    @staticmethod
    def detail(boxes: list[Box]) -> str:
        return " ".join([_count_sentence(len(boxes))] + [f"the {b.name} is {b.where()} ." for b in boxes])

    @staticmethod
    def reasoning(boxes: list[Box], rng: np.random.Generator) -> tuple[str, str]:
        """A relation between two objects read from their boxes (above/below, left/right), or,
        with one object, whether there is more than one."""
        if len(boxes) == 1:
            return ("is there more than one object ?",
                    f"no , there is only one object , {indefinite_article(boxes[0].colour)} {boxes[0].name} .")
        a, b = (boxes[k] for k in rng.permutation(len(boxes))[:2])
        dx, dy = b.centre[0] - a.centre[0], b.centre[1] - a.centre[1]
        if abs(dy) > abs(dx):  # ask about the clearer of the two relations
            yes = dy > 0
            q, rel, other = f"is the {a.name} above the {b.name} ?", "above", "below"
        else:
            yes = dx > 0
            q, rel, other = f"is the {a.name} to the left of the {b.name} ?", "to the left of", "to the right of"
        return q, f"{'yes' if yes else 'no'} , the {a.name} is {rel if yes else other} the {b.name} ."


def make_written_instructions(split: str, n: int, writer: TextOnlyWriter | None = None,
                              kinds: Sequence[str] = WRITER_KINDS, config: WorldConfig | None = None,
                              start: int = 0) -> list[Sample]:
    """n stills, each with one instruction the writer wrote from `writer_context` alone, kinds
    cycling through `kinds` (kind = the writer's kind); meta: 'time' (s) and 'context' (the
    writer's input)."""
    writer = writer or TextOnlyWriter()
    out = []
    for k, index in enumerate(range(start, start + n)):
        scene, t, _ = _still(split, index, config)
        context = writer_context(scene, t)
        messages = writer.write(context, kinds[k % len(kinds)], np.random.default_rng([index, 53]))
        out.append(Sample([_image(scene, t)], messages, kind=kinds[k % len(kinds)], scene=scene,
                          meta={"time": t, "context": context}))
    return out


def with_format_prompt(samples: Sequence[Sample], prompt: str = FORMAT_PROMPT) -> list[Sample]:
    """The samples with LLaVA-1.5's answer-format prompt appended to their last user turn."""
    out = []
    for s in samples:
        if not s.messages:
            raise ValueError("with_format_prompt takes conversations (Samples with messages)")
        last = max(k for k, m in enumerate(s.messages) if m["role"] == "user")
        messages = [dict(m) for m in s.messages]
        messages[last]["content"] = f"{messages[last]['content']} {prompt}"
        out.append(replace(s, messages=messages))
    return out


# ---- notebook 03's exercise checks ----------------------------------------------------------------
def _check_samples(n: int = 2) -> list[Sample]:
    """Conversations of every shape the checks need: multi-turn, one-turn, long answers, a format prompt."""
    return (make_dialogue_set("val", n) + make_caption_set("val", n)
            + make_written_instructions("val", 3 * n) + with_format_prompt(make_instruct_qa("val", n)))


def check_splice(learner: Callable[[torch.Tensor, torch.Tensor, Sequence[torch.Tensor], int], torch.Tensor],
                 model) -> bool:
    """Notebook 03, exercise 1: write each image's visual tokens into its slots, against the
    model's own `embed`, on prompts with one and with two images.

    learner(embeds (L, D), input_ids (L,), visual [(N_i, D)] in image order, image_id) → (L, D)."""
    image_id = model.tokenizer.convert_tokens_to_ids("<image>")
    samples = _check_samples(1)
    pair = make_caption_set("val", 2, start=10)  # two different images
    two = Sample([pair[0].media[0], pair[1].media[0]],
                 [{"role": "user", "content": "<image> <image> what colour is the circle in the second image ?"},
                  {"role": "assistant", "content": "red"}])

    def check():
        with torch.no_grad():
            for s in [samples[0], two, samples[-1]]:
                ids = torch.tensor(encode_sample(model, s).input_ids, device=model.device)
                embeds = model.lm.get_input_embeddings()(ids)
                visual = model.encode_media(list(s.media))
                got = learner(embeds.clone(), ids, [v.clone() for v in visual], image_id)
                problem = difference(got, model.embed(ids[None], [list(s.media)])[0], atol=1e-5)
                if problem:
                    return f"for a prompt with {len(s.media)} image(s), {len(ids)} tokens: {problem}"
        return None

    return report("visual tokens in their slots", check)


def check_label_mask(learner: Callable[[Sequence[int], int, int], Sequence[int]], model) -> bool:
    """Notebook 03, exercise 2: labels from raw token ids — a token is learned when it stands
    between an '<assistant>' marker (excluded) and the next '<eos>' (included) — against
    `minivlm.chat.encode_chat`'s labels, on dialogues, captions, written instructions and
    short answers with the format prompt.

    learner(input_ids, assistant_id, eos_id) → labels (same length; IGNORE_INDEX elsewhere)."""
    tokenizer = model.tokenizer
    assistant_id, eos_id = tokenizer.convert_tokens_to_ids(["<assistant>", "<eos>"])
    encoded = [encode_sample(model, s) for s in _check_samples()]
    cases = [(e.input_ids, assistant_id, eos_id) for e in encoded]
    wanted = {tuple(e.input_ids): e.labels for e in encoded}
    return compare("labels only on the assistant's replies", lambda *a: list(learner(*a)),
                   lambda ids, *_: wanted[tuple(ids)], cases)


__all__ = [
    "ALIGN",
    "Box",
    "CAPTION_PROMPTS",
    "DETAIL_PROMPTS",
    "FORMAT_PROMPT",
    "INSTRUCT",
    "INSTRUCT_KINDS",
    "LLAVA",
    "LLAVA_15",
    "PRESETS",
    "RECIPE",
    "TextOnlyWriter",
    "WRITER_KINDS",
    "check_label_mask",
    "check_splice",
    "dialogue",
    "make_caption_set",
    "make_dialogue_set",
    "make_instruct_qa",
    "make_written_instructions",
    "read_boxes",
    "with_format_prompt",
    "writer_context",
]
