"""Video instruction data written from descriptions: the VideoChat / Video-ChatGPT / Valley recipe.

Those papers gave ChatGPT a video's description (captions, detected objects, timestamps) and
asked it to write conversations a user might have about the video; the video model is then
trained to hold them while *watching* instead of reading. Valley wrote three kinds (as LLaVA did
for images): a **detailed description**, a **multi-turn dialogue**, and **complex reasoning**
(why / what-if / in which order).

Here a writer does the same from the toy world's ground truth:

- `TemplateWriter` writes all three kinds from a `Scene` with varied templates. Every answer
  carries the facts it asserts (`minivlm.facts.Fact`), so `verify` can check it against the
  scene (for what-if questions: against the scene with that one thing changed).
- `LLMWriter(llm)` asks any `llm: Callable[[str], str]` (a real chat model when you have one)
  with the papers' kind of prompt built from `describe(scene)`, parses the reply, and keeps only
  answers whose facts the scene confirms — LLM-written data needs that filter.

`make_instructions(split, n, ...)` renders the clips and writes the conversations as
`minivlm.samples.Sample`s: each conversation holds its clip's one shared video `Media` (so
`minivlm.samples.precompute` encodes each clip once), its kind, its scene, and its
`Instruction` in `meta["instruction"]` (with the facts of every turn). Training batches come
from `minivlm.samples.sample_batches`. Built in notebook 04.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .data import (
    COLOURS,
    NUMBER_WORDS,
    SHAPES,
    Scene,
    WorldConfig,
    clip_qa,
    describe,
    render,
    sample_scene,
    sample_scenes,
    seconds,
    uniform_times,
)
from .data.text import choose, event_phrase, event_words, indefinite_article, order_pair
from .facts import Fact, base_form, counterfactual, event_fact, holds, isolated, read_facts
from .judge import temporal_question
from .media import Media
from .samples import Sample

INSTRUCTION_KINDS = ("description", "dialogue", "reasoning")
Message = dict[str, str]


@dataclass(frozen=True)
class Turn:
    """One question and its answer. `facts`: what the answer asserts, checkable against the
    scene — or against the scene with `what_if` applied ({'obj': i, field: value, ...})."""

    question: str
    answer: str
    facts: tuple[Fact, ...] = ()
    skill: str = ""
    what_if: dict | None = None


@dataclass
class Instruction:
    """A conversation about one clip: `kind` is one of INSTRUCTION_KINDS."""

    kind: str
    turns: list[Turn]
    source: str = "template"

    def messages(self, media_token: str = "<video>") -> list[Message]:
        """Chat messages; the media placeholder opens the first question."""
        out: list[Message] = []
        for k, t in enumerate(self.turns):
            out.append({"role": "user", "content": f"{media_token} {t.question}" if k == 0 else t.question})
            out.append({"role": "assistant", "content": t.answer})
        return out

    def sample(self, media: Media, scene: Scene | None = None, **meta) -> Sample:
        """The conversation about `media` (a clip) as a training Sample (kind = this kind; the
        Instruction, with every turn's facts, in meta['instruction'], beside `meta`)."""
        return Sample([media], self.messages(media.placeholder), kind=self.kind, scene=scene,
                      meta={"instruction": self, **meta})


class InstructionWriter(Protocol):
    def write(self, scene: Scene, kind: str, rng: np.random.Generator) -> Instruction | None:
        """A conversation of `kind` about `scene`, or None when the scene offers nothing for it."""


# ---- small helpers ------------------------------------------------------------------------
def _count_sentence(n: int) -> str:
    return f"there {'is' if n == 1 else 'are'} {NUMBER_WORDS[n]} object{'' if n == 1 else 's'} ."


def _event_facts(text: str) -> tuple[Fact, ...]:
    """The (untimed) events a generated answer states: its checkable facts."""
    return tuple(f for f in read_facts(text) if f.relation == "event")


# ---- the template writer --------------------------------------------------------------------
DESCRIPTION_QUESTIONS = (
    "describe the video in detail .",
    "what happens in this video ? please describe it in detail .",
    "tell me what you see in this clip , in detail .",
    "please explain what happens in the video .",
    "can you describe this clip in detail ?",
    "watch the video and describe every detail .",
)


class TemplateWriter:
    """Writes Valley's three kinds of conversations from the ground truth, with varied templates.

    `sentence_answers`: probability that a short dialogue answer ("left .") is written as a
    sentence instead ("it moves left ."). `variety`: probability of the second description style.
    """

    def __init__(self, sentence_answers: float = 0.5, variety: float = 0.0, max_turns: int = 4):
        self.sentence_answers = sentence_answers
        self.variety = variety
        self.max_turns = max_turns

    def write(self, scene: Scene, kind: str, rng: np.random.Generator) -> Instruction | None:
        if kind == "description":
            return Instruction(kind, [self.description(scene, rng)])
        if kind == "dialogue":
            turns = self.dialogue(scene, rng)
            return Instruction(kind, turns) if turns else None
        if kind == "reasoning":
            turn = self.reasoning(scene, rng)
            return Instruction(kind, [turn]) if turn else None
        raise ValueError(f"unknown instruction kind {kind!r}; use one of {INSTRUCTION_KINDS}")

    # detailed description -------------------------------------------------------------------
    def description(self, scene: Scene, rng: np.random.Generator) -> Turn:
        question = choose(rng, DESCRIPTION_QUESTIONS)
        facts = [Fact("count", "", NUMBER_WORDS[len(scene.objects)])]
        facts += [Fact("motion", o.name(), o.direction or "still") for o in scene.objects]
        facts += [event_fact(scene, e) for e in scene.events]
        if rng.random() >= self.variety:
            answer = describe(scene)
        else:  # a second style: a list of the objects, then the events with "first" and "then"
            names = [f"{indefinite_article(o.name())} {o.name()}" for o in scene.objects]
            listed = names[0] if len(names) == 1 else " , ".join(names[:-1]) + " and " + names[-1]
            parts = [f"the video shows {NUMBER_WORDS[len(names)]} object{'s' if len(names) > 1 else ''} : {listed} ."]
            parts += [f"the {o.name()} " + (f"moves {o.direction} ." if o.direction else "stays still .")
                      for o in scene.objects]
            for k, e in enumerate(scene.events):
                lead = "first , " if k == 0 else "then , "
                parts.append(f"{lead}at {seconds(e.start)} seconds the {scene.objects[e.obj].name()} "
                             f"{event_words(e.kind, e.detail)} .")
            answer = " ".join(parts)
        return Turn(question, answer, tuple(facts), "description")

    # multi-turn dialogue --------------------------------------------------------------------
    def _short(self, rng, short: str, sentence: str) -> str:
        return sentence if rng.random() < self.sentence_answers else short

    def dialogue(self, scene: Scene, rng: np.random.Generator) -> list[Turn]:
        """A few questions about the scene, then about one object, referring back with 'it'."""
        turns: list[Turn] = []
        n = len(scene.objects)
        opening = int(rng.integers(3))
        if opening == 0:
            q = choose(rng, ["how many objects are there ?", "how many objects do you see ?",
                              "how many shapes does the video show ?"])
            turns.append(Turn(q, self._short(rng, f"{NUMBER_WORDS[n]} .", _count_sentence(n)),
                              (Fact("count", "", NUMBER_WORDS[n]),), "count"))
        elif opening == 1:
            turns.append(self._presence(scene, rng))
        i = int(rng.integers(n))
        o = scene.objects[i]
        name = o.name()
        first = choose(rng, ["what colour is the {s} ?", "which colour does the {s} have ?"]).format(s=o.shape)
        if o.change_time is None:
            turns.append(Turn(first, self._short(rng, f"{o.colour} .", f"the {o.shape} is {o.colour} ."),
                              (Fact("object", name),), "colour"))
        else:
            turns.append(Turn(first, f"it is {o.colour} , then at {seconds(o.change_time)} seconds it turns {o.new_colour} .",
                              (Fact("object", name), Fact("event", name, f"turns {o.new_colour}", o.change_time)),
                              "colour"))
        ask = choose(rng, ["which way does it move ?", "in which direction does it move ?", "where does it move ?",
                            f"which way does the {name} move first ?"])
        if o.direction:
            turns.append(Turn(ask, self._short(rng, f"{o.direction} .", f"it moves {o.direction} ."),
                              (Fact("motion", name, o.direction),), "direction"))
            stop = [e for e in scene.events if e.obj == i and e.kind == "stop"]
            q = choose(rng, ["does it stop ?", "does it stop moving ?"])
            if stop:
                turns.append(Turn(q, f"yes , it stops at {seconds(stop[0].start)} seconds .",
                                  (event_fact(scene, stop[0]),), "stop"))
            else:
                turns.append(Turn(q, self._short(rng, "no .", "no , it does not stop ."),
                                  (Fact("never", name, "stops"),), "stop"))
        else:
            turns.append(Turn(ask, self._short(rng, "it stays still .", "it does not move ."),
                              (Fact("motion", name, "still"),), "direction"))
        timed = [e for e in scene.events if isolated(scene, e)]
        if timed and rng.random() < 0.5:
            e = choose(rng, timed)
            turns.append(Turn(f"what happens at {seconds(e.start)} seconds ?",
                              f"{event_phrase(scene, e)} .",
                              (event_fact(scene, e),), "when"))
        return turns[: self.max_turns]

    def _presence(self, scene: Scene, rng: np.random.Generator) -> Turn:
        ask = choose(rng, ["is there {a} {x} ?", "do you see {a} {x} ?", "does the video show {a} {x} ?"])
        if rng.random() < 0.5:
            name = choose(rng, scene.objects).name()
            return Turn(ask.format(a=indefinite_article(name), x=name), self._short(rng, "yes .", f"yes , there is {indefinite_article(name)} {name} ."),
                        (Fact("object", name),), "presence")
        taken = {f"{c} {o.shape}" for o in scene.objects for c in (o.colour, o.new_colour) if c}
        options = [f"{c} {s}" for c in COLOURS for s in SHAPES if f"{c} {s}" not in taken]
        name = choose(rng, options)
        return Turn(ask.format(a=indefinite_article(name), x=name), self._short(rng, "no .", f"no , there is no {name} ."),
                    (Fact("absent", name),), "presence")

    # complex reasoning ------------------------------------------------------------------------
    def reasoning(self, scene: Scene, rng: np.random.Generator) -> Turn | None:
        """One why / what-if / order question, drawn among those the scene can answer."""
        makers = [self.why, self.what_if, self.order]
        for k in rng.permutation(len(makers)):
            turn = makers[k](scene, rng)
            if turn is not None:
                return turn
        return None

    def why(self, scene: Scene, rng: np.random.Generator) -> Turn | None:
        options = []
        for e in scene.events:
            name = scene.objects[e.obj].name()
            t = seconds(e.start)
            fact = (event_fact(scene, e),)
            if e.kind == "bounce" and isolated(scene, e):
                options.append(Turn(f"why does the {name} change direction at {t} seconds ?",
                                    f"because it bounces off the {e.detail} wall .", fact, "why"))
            elif e.kind == "disappear":
                q = choose(rng, [f"why is the {name} not visible after {t} seconds ?",
                                  f"why can we not see the {name} at the end ?"])
                options.append(Turn(q, f"because it disappears at {t} seconds .", fact, "why"))
            elif e.kind == "stop":
                options.append(Turn(f"why does the {name} not move after {t} seconds ?",
                                    f"because it stops at {t} seconds .", fact, "why"))
            elif e.kind == "change":
                options.append(Turn(f"why does the {name} look {e.detail} at the end ?",
                                    f"because it turns {e.detail} at {t} seconds .", fact, "why"))
            elif e.kind == "appear":
                options.append(Turn(f"why do we not see the {name} at the start ?",
                                    f"because it appears later , at {t} seconds .", fact, "why"))
        return choose(rng, options)

    def what_if(self, scene: Scene, rng: np.random.Generator) -> Turn | None:
        options = []
        end = scene.duration - 1e-6
        for i, o in enumerate(scene.objects):
            name = o.name()
            if o.disappear is not None:
                world = counterfactual(scene, i, disappear=None)
                n = sum(world.visible(k, end) for k in range(len(world.objects)))
                options.append(Turn(f"if the {name} did not disappear , how many objects would we see at the end ?",
                                    f"we would see {NUMBER_WORDS[n]} .", (Fact("count_at", "", NUMBER_WORDS[n], end),),
                                    "what-if", {"obj": i, "disappear": None}))
            if o.change_time is not None:
                options.append(Turn(f"if the {name} did not change colour , what colour would it be at the end ?",
                                    f"it would still be {o.colour} .", (Fact("colour_at", name, o.colour, end),),
                                    "what-if", {"obj": i, "change_time": None, "new_colour": None}))
            if o.stop is not None:
                world = counterfactual(scene, i, stop=None)
                later = [e for e in world.events if e.obj == i and e.kind == "bounce" and e.start > o.stop]
                if later:
                    e = later[0]
                    options.append(Turn(f"if the {name} did not stop , which wall would it bounce off first ?",
                                        f"it would bounce off the {e.detail} wall .", (event_fact(world, e),),
                                        "what-if", {"obj": i, "stop": None}))
        return choose(rng, options)

    def order(self, scene: Scene, rng: np.random.Generator) -> Turn | None:
        """An order question in one of three forms, drawn among those the scene can answer: which
        of two events comes first (`minivlm.data.clip_qa`'s 'order' question), the same as a
        yes/no question, or what happens after an event (`minivlm.judge.temporal_question`)."""
        for style in rng.permutation(3):
            if style == 0:
                qa = clip_qa(scene, "order", rng)
                if qa is not None:
                    return Turn(qa.question, f"{qa.answer} .", _event_facts(qa.answer), "order")
            elif style == 1:
                pair = order_pair(scene, rng)
                if pair is not None:
                    a, b = pair
                    x, y = (a, b) if rng.random() < 0.5 else (b, a)
                    fx = event_fact(scene, x)
                    q = f"does the {fx.subject} {base_form(fx.value)} before {event_phrase(scene, y)} ?"
                    answer = f"{'yes' if x is a else 'no'} , {event_phrase(scene, a)} first ."
                    return Turn(q, answer, (event_fact(scene, a), event_fact(scene, b)), "order")
            else:
                asked = temporal_question(scene, "after", rng)
                if asked is not None:
                    return Turn(*asked, _event_facts(" . ".join(asked)), "order")
        return None


# ---- checking ------------------------------------------------------------------------------
def verify(instruction: Instruction, scene: Scene) -> list[str]:
    """Problems with a conversation, checked against the scene (empty list: all answers hold).

    Each turn's facts must hold (in the what-if world for what-if turns), and every fact that
    can be read from the answer text must hold too, so text and facts cannot drift apart.
    """
    problems = []
    subject = None
    for k, t in enumerate(instruction.turns):
        world = scene
        if t.what_if:
            changes = dict(t.what_if)
            world = counterfactual(scene, changes.pop("obj"), **changes)
        for f in t.facts:
            if not holds(f, world, tolerance=0.05):
                problems.append(f"turn {k}: {f.text()!r} is false ({t.question!r} → {t.answer!r})")
        asked = read_facts(t.question, subject)
        subject = next((f.subject for f in reversed(asked) if f.relation == "object"), subject)
        subject = next((f.subject for f in t.facts if f.subject), subject)  # what the answer is about
        for f in read_facts(t.answer, subject):
            if not holds(f, world, tolerance=0.05):
                problems.append(f"turn {k}: the answer says {f.text()!r}, which is false")
        if not t.facts and not t.what_if:
            problems.append(f"turn {k}: no facts, so the answer cannot be checked")
    return problems


def unknown_words(texts: Sequence[str], tokenizer) -> set[str]:
    """Words of `texts` that the tokenizer turns into <unk> (new template words need adding to
    minivlm.data.text.COMMON_WORDS, or the model reads <unk>)."""
    unk = tokenizer.unk_token_id
    out = set()
    for text in texts:
        for word in text.split():
            if unk in tokenizer(word, add_special_tokens=False).input_ids:
                out.add(word)
    return out


def colour_at_end(scene: Scene) -> Turn | None:
    """The dialogue template of notebook 04's exercise 1: "what colour is the {name} at the end ?"
    about the first object (in `scene.objects` order) still visible at the end (time
    `scene.duration - 0.01`), answered with its colour then ("blue ."), with the fact that says so;
    None when no object is visible at the end."""
    t = scene.duration - 0.01
    for i, o in enumerate(scene.objects):
        if scene.visible(i, t):
            colour = scene.colour_at(i, t)
            return Turn(f"what colour is the {o.name()} at the end ?", f"{colour} .",
                        (Fact("colour_at", o.name(), colour, t),), "colour")
    return None


def colour_at_end_problem(template: Callable[[Scene], Turn | None], tokenizer,
                          scenes: Sequence[Scene] | None = None) -> str | None:
    """None when `template(scene)` asks and answers like `colour_at_end` on every scene (default:
    60 validation scenes), else what is wrong: the object (the first one still visible at the
    end), the time of its fact (the end), its colour then, an answer text that disagrees with its
    fact, a fact `verify` rejects, or words the tokenizer does not know."""
    for scene in scenes if scenes is not None else sample_scenes("val", 60):
        got, want = template(scene), colour_at_end(scene)
        if (got is None) != (want is None):
            return (f"scene {scene.seed}: returned {got!r}, but an object "
                    f"{'is' if want is not None else 'is not'} visible at the end")
        if want is None:
            continue
        truth = want.facts[0]
        facts = [f for f in got.facts if f.relation == "colour_at"]
        if not facts:
            return "the turn needs a Fact('colour_at', name, colour, time) so its answer can be checked"
        for f in facts:
            if f.subject != truth.subject:
                return (f"scene {scene.seed}: the turn is about the {f.subject}, but the first object (in "
                        f"scene.objects order) still visible at the end is the {truth.subject}")
            if f.time is None or abs(f.time - truth.time) > 0.05:
                return f"scene {scene.seed}: the fact is at {f.time} s, but the question asks about the end ({truth.time:.2f} s)"
            if f.value != truth.value:
                return f"scene {scene.seed}: the {truth.subject} is {truth.value} at the end, the fact says {f.value}"
        if truth.subject not in got.question:
            return f"scene {scene.seed}: the question {got.question!r} does not name the {truth.subject}"
        said = [w for w in got.answer.split() if w in COLOURS]
        if said != [truth.value]:
            return (f"scene {scene.seed}: the answer {got.answer!r} names {said or 'no colour'}, but its fact and the "
                    f"scene say {truth.value}")
        problems = verify(Instruction("dialogue", [got]), scene)
        if problems:
            return f"scene {scene.seed}: {problems[0]}"
        unknown = unknown_words([got.question, got.answer], tokenizer)
        if unknown:
            return f"words the tokenizer does not know: {sorted(unknown)}"
    return None


# ---- an LLM writes the conversations ---------------------------------------------------------
KIND_REQUESTS = {
    "description": "The user asks for a detailed description of the video. Answer with every object, how it "
                   "moves, and everything that happens, in time order, with times in seconds.",
    "dialogue": "Write three questions and answers about the objects: how many there are, their colours, which "
                "way they move and when things happen. Ask only what the description answers with certainty.",
    "reasoning": "Write one question that needs reasoning about the video: why something happens, what would "
                 "happen if something were different, or in which order things happen; then a short answer "
                 "that gives the reason.",
}

SYSTEM_PROMPT = (
    "You are an AI visual assistant that can analyze a single video. You receive a description of a "
    "video: its objects, how they move and what happens, with times in seconds. Design a conversation "
    "between a user and you, the assistant, about this video. Answer as if you were watching the video, "
    "not reading a description. Use lower case, and separate words and punctuation with spaces. "
    "Write each turn on its own line, starting with 'user:' or 'assistant:'."
)


class LLMWriter:
    """Instruction data written by a language model from the description, as VideoChat,
    Video-ChatGPT and Valley did with ChatGPT. `llm` is any `Callable[[str], str]` (prompt →
    reply). With `check=True` only turns whose stated facts hold in the scene are kept, and a
    turn that states no readable fact is dropped too (it could not be checked)."""

    def __init__(self, llm: Callable[[str], str], check: bool = True):
        self.llm = llm
        self.check = check

    def prompt(self, scene: Scene, kind: str) -> str:
        if kind not in KIND_REQUESTS:
            raise ValueError(f"unknown instruction kind {kind!r}; use one of {INSTRUCTION_KINDS}")
        return f"{SYSTEM_PROMPT}\n\nvideo description: {describe(scene)}\n\n{KIND_REQUESTS[kind]}\n"

    @staticmethod
    def parse(reply: str) -> list[tuple[str, str]]:
        """'user: …' / 'assistant: …' lines → [(question, answer)] (unpaired lines are dropped)."""
        pairs, question = [], None
        for line in reply.splitlines():
            m = re.match(r"\s*(user|assistant)\s*:\s*(.+)", line.strip(), flags=re.IGNORECASE)
            if not m:
                continue
            role, text = m.group(1).lower(), " ".join(m.group(2).lower().split())
            if role == "user":
                question = text
            elif question is not None:
                pairs.append((question, text))
                question = None
        return pairs

    def write(self, scene: Scene, kind: str, rng: np.random.Generator | None = None) -> Instruction | None:
        turns = []
        subject = None
        for question, answer in self.parse(self.llm(self.prompt(scene, kind))):
            asked = read_facts(question, subject)
            subject = next((f.subject for f in reversed(asked) if f.relation == "object"), subject)
            facts = tuple(read_facts(answer, subject))
            if self.check and (not facts or not all(holds(f, scene) for f in facts)):
                continue
            turns.append(Turn(question, answer, facts, kind))
        return Instruction(kind, turns, source="llm") if turns else None


# ---- data sets -----------------------------------------------------------------------------
def write_instructions(scenes: Sequence[Scene], writer: InstructionWriter | None = None,
                       kinds: Sequence[str] = INSTRUCTION_KINDS, seed: int = 0,
                       start: int = 0) -> tuple[list[Instruction], list[int]]:
    """One conversation of each kind per scene (when the scene supports it), as text only.
    Returns the conversations and, for each, the index of its scene. Deterministic for a given
    seed (scene k draws from its own stream, numbered start + k)."""
    unknown = set(kinds) - set(INSTRUCTION_KINDS)
    if unknown:
        raise ValueError(f"unknown instruction kinds {sorted(unknown)}; use {INSTRUCTION_KINDS}")
    writer = writer or TemplateWriter()
    instructions, clip = [], []
    for k, scene in enumerate(scenes):
        rng = np.random.default_rng([seed, start + k, 5])
        for kind in kinds:
            ins = writer.write(scene, kind, rng)
            if ins is not None:
                instructions.append(ins)
                clip.append(k)
    return instructions, clip


def instruction_samples(clips: Sequence[Media], scenes: Sequence[Scene], writer: InstructionWriter | None = None,
                        kinds: Sequence[str] = INSTRUCTION_KINDS, seed: int = 0, start: int = 0) -> list[Sample]:
    """Conversations about clips as Samples: for clip k (a video Media of scene k), one
    conversation of each kind its scene supports, all holding that one Media object (shared
    items are encoded once by `minivlm.samples.precompute`). meta: {'instruction', 'clip': k}."""
    if len(clips) != len(scenes):
        raise ValueError(f"{len(clips)} clips for {len(scenes)} scenes; give one clip per scene")
    instructions, owner = write_instructions(scenes, writer, kinds, seed, start)
    return [ins.sample(clips[k], scenes[k], clip=k) for ins, k in zip(instructions, owner)]


def make_instructions(split: str, n: int, num_frames: int = 8, kinds: Sequence[str] = INSTRUCTION_KINDS,
                      writer: InstructionWriter | None = None, config: WorldConfig | None = None,
                      start: int = 0, seed: int = 0) -> list[Sample]:
    """n clips of `split`, rendered in memory at `num_frames` uniform times (a video Media with
    its frame times, uint8 (T, H, W, 3)), with one conversation of each kind the scene supports
    (see `instruction_samples`)."""
    scenes = [sample_scene(split, start + k, config) for k in range(n)]
    times = [uniform_times(s, num_frames) for s in scenes]
    clips = [Media.video(render(s, t), t) for s, t in zip(scenes, times)]
    return instruction_samples(clips, scenes, writer, kinds, seed, start)
