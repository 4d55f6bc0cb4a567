"""Text from ground truth: captions, detailed descriptions and question-answer pairs by kind.

All text is canonical: lower case, words and punctuation separated by single spaces, so a
word-level tokenizer round-trips it exactly. Every answer is computed from the scene.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

from .world import COLOURS, DIRECTIONS, SHAPES, SOUND_OF_EVENT, Event, Scene

NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six")
CLIP_QA_KINDS = ("colour", "shape", "count", "direction", "order", "when", "audio")
STILL_QA_KINDS = ("colour", "shape", "count", "position")
# How users ask for a caption (LLaVA's stage-1 prompts, in toy-world words).
CAPTION_PROMPTS = (
    "describe the image .",
    "what is in this picture ?",
    "caption this image in a few words .",
    "tell me what the image shows .",
    "what do you see ?",
)
# The one wording of each event, used by descriptions, questions, instructions, facts and the judge.
EVENT_VERBS = {"appear": "appears", "disappear": "disappears", "stop": "stops"}
# Events that can be ordered in a question (a bounce is too frequent to name one).
ORDERABLE_EVENTS = ("appear", "disappear", "stop", "change")


@dataclass(frozen=True)
class QA:
    """One question about a clip or still, with its answer and the kind of skill it tests."""

    kind: str
    question: str
    answer: str
    span: tuple[float, float] | None = None  # for 'when' questions: the answer in seconds

    def to_dict(self) -> dict:
        return asdict(self)


def seconds(t: float) -> str:
    """A time as the course writes it: one decimal ('2.5')."""
    return f"{t:.1f}"


def indefinite_article(word: str) -> str:
    """The indefinite article for a word: 'an orange', 'a red'."""
    return "an" if word[0] in "aeiou" else "a"


def event_words(kind: str, detail: str = "") -> str:
    """The words an event is told with: 'appears', 'stops', 'bounces off the left wall', 'turns blue'."""
    if kind == "bounce":
        return f"bounces off the {detail} wall"
    if kind == "change":
        return f"turns {detail}"
    if kind not in EVENT_VERBS:
        raise ValueError(f"unknown event kind {kind!r}; use one of {(*EVENT_VERBS, 'bounce', 'change')}")
    return EVENT_VERBS[kind]


def event_phrase(scene: Scene, event) -> str:
    """An event as a clause: 'the red circle turns blue' (objects named by their first colour)."""
    return f"the {scene.objects[event.obj].name()} {event_words(event.kind, event.detail)}"


def caption(scene: Scene, sound: bool = False) -> str:
    """One short sentence: each object and how it moves. sound: followed by what the soundtrack
    holds (`soundtrack.sound_caption`: 'the voice says red and three . a buzz is heard .')."""
    parts = []
    for o in scene.objects:
        how = f"moves {o.direction}" if o.direction else "stays still"
        parts.append(f"{indefinite_article(o.colour)} {o.name()} {how}")
    text = " , ".join(parts) + " ."
    if sound:
        from .soundtrack import sound_caption

        text = f"{text} {sound_caption(scene)}"
    return text


def still_caption(scene: Scene, t: float = 0.0) -> str:
    """What a single frame at time t shows: the visible objects with their colour then."""
    names = [f"{indefinite_article(scene.colour_at(i, t))} {scene.colour_at(i, t)} {o.shape}" for i, o in enumerate(scene.objects) if scene.visible(i, t)]
    if not names:
        return "an empty scene ."
    return " and ".join(names) + " ."


def describe(scene: Scene, sound: bool = False) -> str:
    """A detailed description: the objects, their motion, then every event in time order.
    sound: followed by the soundtrack told in words (`soundtrack.describe_soundtrack`)."""
    n = len(scene.objects)
    out = [f"there {'is' if n == 1 else 'are'} {NUMBER_WORDS[n]} object{'s' if n > 1 else ''} ."]
    for o in scene.objects:
        out.append(f"the {o.name()} " + (f"moves {o.direction} ." if o.direction else "stays still ."))
    out += [f"at {seconds(e.start)} seconds {event_phrase(scene, e)} ." for e in scene.events]
    if sound:
        from .soundtrack import describe_soundtrack

        out.append(describe_soundtrack(scene))
    return " ".join(out)


def choose(rng: np.random.Generator, items: Sequence):
    """One item, uniformly (None for no items)."""
    return items[int(rng.integers(len(items)))] if len(items) else None


def order_pair(scene: Scene, rng: np.random.Generator) -> tuple[Event, Event] | None:
    """Two events an order question can ask about, (earlier, later): of different objects, at
    least 0.5 s apart, not bounces (see ORDERABLE_EVENTS); None when the scene has no such pair."""
    events = [e for e in scene.events if e.kind in ORDERABLE_EVENTS]
    return choose(rng, [(a, b) for a in events for b in events if a.obj != b.obj and b.start - a.start >= 0.5])


def clip_qa(scene: Scene, kind: str, rng: np.random.Generator) -> QA | None:
    """A question of `kind` (see CLIP_QA_KINDS) about the whole clip, or None if the scene
    has nothing to ask of that kind (e.g. no events for 'order')."""
    objs = list(enumerate(scene.objects))
    if kind == "colour":
        pick = choose(rng, [o for _, o in objs if o.change_time is None])
        return pick and QA(kind, f"what colour is the {pick.shape} ?", pick.colour)
    if kind == "shape":
        o = choose(rng, [o for _, o in objs])
        return QA(kind, f"what shape is the {o.colour} object ?", o.shape)
    if kind == "count":
        return QA(kind, "how many objects are there ?", NUMBER_WORDS[len(objs)])
    if kind == "direction":
        return choose(rng, direction_questions(scene))
    if kind == "order":
        pair = order_pair(scene, rng)
        if pair is None:
            return None
        a, b = pair
        phrase = [event_phrase(scene, e) for e in (a, b)]
        first, second = (phrase[0], phrase[1]) if rng.random() < 0.5 else (phrase[1], phrase[0])
        return QA(kind, f"what happens first , {first} or {second} ?", phrase[0])
    if kind == "when":
        return choose(rng, when_questions(scene))
    if kind == "audio":
        if not scene.events:
            return None
        first = SOUND_OF_EVENT[scene.events[0].kind]
        return QA(kind, "what is the first sound ?", f"{indefinite_article(first)} {first}")
    raise ValueError(f"unknown clip question kind {kind!r}; use one of {CLIP_QA_KINDS}")


def direction_questions(scene: Scene) -> list[QA]:
    """'which way does the red circle move first ?' for every object whose first direction the clip
    shows: it moves from the start and does not stop within the first second."""
    return [QA("direction", f"which way does the {o.name()} move first ?", o.direction) for o in scene.objects
            if o.direction and o.appear == 0 and (o.stop is None or o.stop >= 1.0)]


def when_questions(scene: Scene) -> list[QA]:
    """'when is the red circle visible ?' for every object, answered 'from 0.4 to 4.0 seconds'
    (its `Scene.visible_span`, also in QA.span)."""
    out = []
    for i, o in enumerate(scene.objects):
        start, end = scene.visible_span(i)
        out.append(QA("when", f"when is the {o.name()} visible ?", f"from {seconds(start)} to {seconds(end)} seconds",
                      span=(start, end)))
    return out


def position_words(x: float, y: float) -> str:
    """A 3x3 grid name for a normalised position: 'top left', 'centre', 'bottom' ..."""
    row = ("top", "", "bottom")[min(2, int(y * 3))]
    col = ("left", "", "right")[min(2, int(x * 3))]
    return " ".join(w for w in (row, col) if w) or "centre"


def still_qa(scene: Scene, t: float, kind: str, rng: np.random.Generator) -> QA | None:
    """A question of `kind` (see STILL_QA_KINDS) about the frame at time t."""
    visible = [i for i in range(len(scene.objects)) if scene.visible(i, t)]
    if not visible:
        return QA("count", "how many objects are there ?", "zero") if kind == "count" else None
    i = choose(rng, visible)
    o, colour = scene.objects[i], scene.colour_at(i, t)
    if kind == "colour":
        return QA(kind, f"what colour is the {o.shape} ?", colour)
    if kind == "shape":
        return QA(kind, f"what shape is the {colour} object ?", o.shape)
    if kind == "count":
        return QA(kind, "how many objects are there ?", NUMBER_WORDS[len(visible)])
    if kind == "position":
        x, y = scene.position(i, t)
        return QA(kind, f"where is the {colour} {o.shape} ?", position_words(float(x), float(y)))
    raise ValueError(f"unknown still question kind {kind!r}; use one of {STILL_QA_KINDS}")


# Everyday words for prompts, instructions and dialogues, so that new templates rarely need
# a new tokenizer. Generated text adds the rest (see vocabulary_words).
COMMON_WORDS = """
a an the this that these those it its they them there here is are was were be been being do does
did done have has had what which who whom whose when where why how many much more most less few
first second third last next then before after during while until since at on in into onto of off
to from by with without over under above below between through across along around about again
yes no not none some any all each every both either neither other another same different only also
and or but so because if than as very too just still now once twice always never often
can could will would should may might must shall please tell me describe explain answer question
say see look watch show shows video clip image picture frame frames scene object objects shape shapes
colour colours color sound sounds hear heard audio time times second seconds start end beginning
middle moment happen happens happened move moves moving moved stop stops stopped appear appears
appeared disappear disappears disappeared bounce bounces bounced change changes changed turn turns
turned stay stays still visible wall walls left right up down top bottom centre center side way
direction fast slow faster slower earlier later long short big small large larger smaller detail
detailed details summary summarize count number total i you we he she my your our their user
assistant system think reason because therefore so if would what-if true false correct wrong
let us sure here's okay ok thanks thank hello hi caption describe in one sentence words word
using single phrase briefly brief short long full whole part parts kind kinds type types
voice voices says said speak speaks spoke speech spoken talk talks listen listening hearing loud quiet
noise noises tone tones rising falling click clicks thud ding beep buzz hum whistle silence silent
starts ends begin begins began ending span spans period interval timestamp timestamps
grid cell cells row rows column columns corner corners upper lower resolution crop crops patch patches
tile tiles high low view views overview zoom
human gpt bot model response input output instruction instructions query reply replies
""".split()


def vocabulary_words(num_scenes: int = 200) -> list[str]:
    """Every word the generators write (from a fixed sample of scenes), everyday words, and
    numbers — for building a tokenizer. Deterministic."""
    from .world import sample_scene

    words = set(NUMBER_WORDS) | set(SHAPES) | set(COLOURS) | set(DIRECTIONS) | set(COMMON_WORDS)
    words |= {seconds(k / 10) for k in range(0, 201)} | {str(k) for k in range(0, 101)}
    words |= {",", ".", "?", "!", ":", ";", "'", "-"}
    rng = np.random.default_rng(0)
    for index in range(num_scenes):
        scene = sample_scene("train", index)
        texts = [caption(scene), describe(scene), still_caption(scene, 1.0)]
        texts += [qa.question + " " + qa.answer for kind in CLIP_QA_KINDS
                  if (qa := clip_qa(scene, kind, rng)) is not None]
        for text in texts:
            words |= set(text.split())
    return sorted(words)


# ---- questions that need the soundtrack (data.soundtrack; notebook 05) -------------------------
# noise: what the off-screen noise is (audio alone); speech: what the voice says (audio alone);
# sync: which object moves while the voice says a word (audio and video, in time).
AUDIO_QA_KINDS = ("noise", "speech", "sync")
# where: where an object is while the voice says a word (one frame of that moment answers it; the
# object is elsewhere when the other word is said). Notebook 09's sync kind, beside 'sync'.
AV_SYNC_KINDS = ("sync", "where")
HEARD_KINDS = (*AUDIO_QA_KINDS, "where")  # every kind `audio_qa` asks


def moving_at(scene: Scene, i: int, t: float) -> bool:
    """Whether object i is in view and moving at time t."""
    o = scene.objects[i]
    return scene.visible(i, t) and o.direction is not None and (o.stop is None or t < o.stop)


def audio_qa(scene: Scene, kind: str, rng: np.random.Generator) -> QA | None:
    """A question of `kind` (see AUDIO_QA_KINDS) about the scene's soundtrack, or None if the
    scene has nothing to ask of that kind."""
    from .soundtrack import soundtrack

    sounds = soundtrack(scene)
    if kind == "noise":
        noise = sounds.noises[0]
        if noise.anchor is None:
            return None
        return QA(kind, f"what noise is heard when {event_phrase(scene, noise.anchor)} ?",
                  f"{indefinite_article(noise.name)} {noise.name}")
    if kind == "speech":
        k = int(rng.integers(len(sounds.words)))
        which = "first" if k == 0 else "last" if k == len(sounds.words) - 1 else None
        return QA(kind, f"what does the voice say {which} ?", sounds.words[k].word) if which else None
    if kind == "sync":
        options = []
        for u in sounds.words:
            visible = [i for i in range(len(scene.objects)) if scene.visible(i, u.middle)]
            movers = [i for i in visible if moving_at(scene, i, u.middle)]
            if len(visible) >= 2 and len(movers) == 1:
                options.append((u, movers[0]))
        pick = choose(rng, options)
        return pick and QA(kind, f"which object moves while the voice says {pick[0].word} ?",
                           f"the {scene.objects[pick[1]].name()}")
    if kind == "where":
        options = []
        for u in sounds.words:
            others = [v.middle for v in sounds.words if v is not u]
            for i, o in enumerate(scene.objects):
                if not all(scene.visible(i, t) for t in (u.middle, *others)):
                    continue
                here = position_words(*(float(c) for c in scene.position(i, u.middle)))
                if all(position_words(*(float(c) for c in scene.position(i, t))) != here for t in others):
                    options.append((u, o, here))
        pick = choose(rng, options)
        return pick and QA(kind, f"where is the {pick[1].name()} when the voice says {pick[0].word} ?", pick[2])
    raise ValueError(f"unknown audio question kind {kind!r}; use one of {HEARD_KINDS}")
