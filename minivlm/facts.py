"""Facts: what a scene makes true, and what a sentence claims — so text can be checked.

A `Fact` is one checkable claim: "there are three objects", "the red circle moves left", "at
1.5 seconds the red circle bounces off the left wall". `scene_facts(scene)` lists what a full
description of a clip should say; `holds(fact, scene)` checks any fact against the ground
truth; `read_facts(text)` reads the facts a sentence in the toy world's language claims (the
language of `minivlm.data.describe` and of `minivlm.instruct`). Together they let us verify
generated instruction data and judge a model's open answers without a human or an LLM.

Objects are named by their colour at the start and their shape ("red circle"), as in every
generated text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from .data import COLOURS, DIRECTIONS, NUMBER_WORDS, SHAPES, Scene, seconds
from .data.text import event_words, indefinite_article
from .data.world import scene_events

RELATIONS = ("count", "object", "absent", "motion", "event", "never", "colour_at", "count_at")
WALLS = ("left", "right", "top", "bottom")
_BASE_VERBS = {"appears": "appear", "disappears": "disappear", "stops": "stop", "bounces": "bounce", "turns": "turn"}


@dataclass(frozen=True)
class Fact:
    """One claim about a clip.

    relation: 'count' (value: a number word), 'object' (subject is in the clip), 'absent'
    (subject is not), 'motion' (value: a direction or 'still'), 'event' (value: 'appears',
    'disappears', 'stops', 'bounces off the left wall', 'turns blue'; time in seconds or None
    for "at some moment"), 'never' (the subject never does the event `value`), 'colour_at'
    (value: the colour the subject has at `time`), 'count_at' (value: how many objects are
    visible at `time`).
    """

    relation: str
    subject: str = ""
    value: str = ""
    time: float | None = None

    def __post_init__(self) -> None:
        if self.relation not in RELATIONS:
            raise ValueError(f"unknown fact relation {self.relation!r}; use one of {RELATIONS}")

    def text(self) -> str:
        """The fact as a toy-world sentence (what `read_facts` reads back)."""
        if self.relation == "count":
            n = NUMBER_WORDS.index(self.value)
            return f"there {'is' if n == 1 else 'are'} {self.value} object{'' if n == 1 else 's'} ."
        if self.relation == "object":
            return f"there is {indefinite_article(self.subject)} {self.subject} ."
        if self.relation == "absent":
            return f"there is no {self.subject} ."
        if self.relation == "motion":
            return f"the {self.subject} " + ("stays still ." if self.value == "still" else f"moves {self.value} .")
        if self.relation == "colour_at":
            return f"at {seconds(self.time or 0.0)} seconds the {self.subject} is {self.value} ."
        if self.relation == "count_at":
            return f"at {seconds(self.time or 0.0)} seconds we see {self.value} ."
        if self.relation == "never":
            return f"the {self.subject} does not {base_form(self.value)} ."
        when = f"at {seconds(self.time)} seconds " if self.time is not None else ""
        return f"{when}the {self.subject} {self.value} ."


def base_form(value: str) -> str:
    """An event's words without the third person: 'stops' → 'stop', 'bounces off the left wall'
    → 'bounce off the left wall' (for "does not …", "does it … ?")."""
    first, *rest = value.split()
    return " ".join([_BASE_VERBS.get(first, first), *rest])


def event_fact(scene: Scene, event, timed: bool = True) -> Fact:
    """An event of the scene as a fact: its object, its words (`event_words`) and, when `timed`,
    its start time."""
    return Fact("event", scene.objects[event.obj].name(), event_words(event.kind, event.detail),
                event.start if timed else None)


def object_index(scene: Scene, name: str) -> int | None:
    """Index of the object called `name` ('red circle'), or None."""
    names = [o.name() for o in scene.objects]
    return names.index(name) if name in names else None


def scene_facts(scene: Scene) -> list[Fact]:
    """What a complete description of the clip says: count, objects, motions, timed events."""
    facts = [Fact("count", "", NUMBER_WORDS[len(scene.objects)])]
    facts += [Fact("object", o.name()) for o in scene.objects]
    facts += [Fact("motion", o.name(), o.direction or "still") for o in scene.objects]
    facts += [event_fact(scene, e) for e in scene.events]
    return facts


def holds(fact: Fact, scene: Scene, tolerance: float = 0.5) -> bool:
    """Is `fact` true of `scene`? Event times may be off by up to `tolerance` seconds (8 frames
    over 4 seconds are 0.5 s apart, so no model can place an event more precisely)."""
    i = object_index(scene, fact.subject) if fact.subject else None
    if fact.relation == "count":
        return fact.value == NUMBER_WORDS[len(scene.objects)]
    if fact.relation == "count_at":
        t = fact.time if fact.time is not None else 0.0
        return fact.value == NUMBER_WORDS[sum(scene.visible(k, t) for k in range(len(scene.objects)))]
    if fact.relation == "absent":
        return not any(fact.subject in (f"{c} {o.shape}" for c in (o.colour, o.new_colour) if c)
                       for o in scene.objects)
    if i is None:
        return False
    o = scene.objects[i]
    if fact.relation == "object":
        return True
    if fact.relation == "motion":
        return fact.value == (o.direction or "still")
    if fact.relation == "colour_at":
        return fact.time is not None and scene.colour_at(i, fact.time) == fact.value
    if fact.relation == "never":
        return not any(e.obj == i and event_words(e.kind, e.detail).startswith(fact.value) for e in scene.events)
    for e in scene.events:  # event
        same = e.obj == i and event_words(e.kind, e.detail) == fact.value
        if same and (fact.time is None or abs(fact.time - e.start) <= tolerance + 1e-9):
            return True
    return False


def counterfactual(scene: Scene, obj: int, **changes) -> Scene:
    """The same clip with one object changed (e.g. `disappear=None`: it never leaves), events
    recomputed: the world in which a what-if question's answer is true."""
    objects = list(scene.objects)
    objects[obj] = replace(objects[obj], **changes)
    changed = replace(scene, objects=tuple(objects))
    return replace(changed, events=scene_events(changed))


def isolated(scene: Scene, event, gap: float = 0.3) -> bool:
    """No other event within `gap` seconds of `event`: "what happens at t" has one answer."""
    return all(o is event or abs(o.start - event.start) > gap for o in scene.events)


def next_event(events: list, event, gap: float = 0.5):
    """The first of `events` at least `gap` seconds after `event`, or None."""
    later = [e for e in events if e.start - event.start >= gap]
    return min(later, key=lambda e: e.start) if later else None


def same_claim(a: Fact, b: Fact, tolerance: float = 0.5) -> bool:
    """Do two facts claim the same thing (times within `tolerance`; a missing time matches any)?"""
    if (a.relation, a.subject, a.value) != (b.relation, b.subject, b.value):
        return False
    if a.time is None or b.time is None:
        return True
    return abs(a.time - b.time) <= tolerance + 1e-9


# ---- reading facts out of text --------------------------------------------------------------
_COLOURS = "|".join(COLOURS)
_SHAPES = "|".join(SHAPES)
_NUMBERS = "|".join(NUMBER_WORDS)
_OBJECT = re.compile(rf"\b(no |not an? |not the )?({_COLOURS}) ({_SHAPES})\b")
_TIME = re.compile(r"\bat (\d+\.\d) seconds\b")
_COUNT = re.compile(rf"\b(?:there (?:is|are) |see |shows )?({_NUMBERS}) (?:objects?|shapes?)\b")
_MOTION = re.compile(rf"\b(?:moves|moving|goes) ({'|'.join(DIRECTIONS)})\b|\b(stays still|does not move)\b")
_EVENT = re.compile(rf"\b(appears|disappears|stops|bounces off the ({'|'.join(WALLS)}) wall|turns ({_COLOURS})"
                    rf"|changes colour to ({_COLOURS}))\b")


def read_facts(text: str, subject: str | None = None) -> list[Fact]:
    """The facts a text claims, in the order it claims them.

    Reads the toy world's sentences clause by clause (clauses end at . ? ! ;): counts ("there
    are two objects"), objects named by colour and shape ("the red circle"; "no red circle"
    reads as absent), motions ("moves left", "stays still") and events ("at 1.5 seconds the red
    circle stops", "it turns blue"). A clause without an object name ("it stops") is about the
    last object named, or about `subject` (e.g. the object a question asked about).
    """
    facts: list[Fact] = []
    current = subject
    for clause in re.split(r"[.?!;]", text.lower()):
        clause = " ".join(clause.split())
        if not clause:
            continue
        for m in _COUNT.finditer(clause):
            facts.append(Fact("count", "", m.group(1)))
        named = list(_OBJECT.finditer(clause))
        for m in named:
            name = f"{m.group(2)} {m.group(3)}"
            facts.append(Fact("absent" if m.group(1) else "object", name))
        positive = [m for m in named if not m.group(1)]
        if positive:
            current = f"{positive[0].group(2)} {positive[0].group(3)}"
        if current is None:
            continue
        times = [float(t) for t in _TIME.findall(clause)]
        for m in _MOTION.finditer(clause):
            facts.append(Fact("motion", current, m.group(1) or "still"))
        events = list(_EVENT.finditer(clause))
        for k, m in enumerate(events):
            value = m.group(1)
            if m.group(4):
                value = f"turns {m.group(4)}"
            subject_here = _subject_before(clause, m.start()) or current
            time = times[k] if len(times) == len(events) else (times[0] if len(times) == 1 else None)
            facts.append(Fact("event", subject_here, value, time))
    return facts


def _subject_before(clause: str, position: int) -> str | None:
    names = [m for m in _OBJECT.finditer(clause[:position]) if not m.group(1)]
    return f"{names[-1].group(2)} {names[-1].group(3)}" if names else None


def mentioned_objects(text: str) -> set[str]:
    """Object names a text mentions (positively)."""
    return {f.subject for f in read_facts(text) if f.relation == "object"}
