"""Reasoning temporal localization (LITA's RTL task) in the toy world, and LITA's time tokens.
Built in notebook 07.

**Time tokens.** LITA (Huang et al., 2024) writes a time as the token of its *relative*
position in the clip: with T tokens `<t0>` … `<t{T-1}>`, a time τ in a clip of L seconds is
token k = round(τ (T − 1) / L), and token k stands for τ = L k / (T − 1). The same token means
"a third of the way in" for a 6 s clip and a 15 s clip. LITA samples T frames with
`linspace(0, L, T)` (`lita_frame_times`), so frame k sits exactly at token k's time.

**RTL questions** need a reasoning step to find *when*: the question names an object only by
something it does ("when is the object that turns blue visible ?"), the model must work out
which object that is, then give the span of what is asked, as "from START to END" and a short
explanation — LITA's "[start end] explanation" in the tokenizer's words:

    from <t2> to <t9> . the red circle turns blue .      (time tokens)
    from 1.6 to 7.2 . the red circle turns blue .        (seconds, the ablation)

    samples = make_rtl("train", 400)        # list[Sample], meta: span (s), duration, video
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import numpy as np

from ..media import Media
from ..samples import Sample
from .render import render
from .text import event_phrase, event_words, seconds
from .world import Event, Scene, WorldConfig, sample_scene

TIME_FORMATS = ("tokens", "seconds")
NUM_FRAMES = 16  # T: frames per clip and time tokens (LITA: 100 of each)
# Clips of varying duration with many events, so spans and the clues that pick them are common.
RTL_WORLD = WorldConfig(durations=(4.0, 16.0), min_objects=2, max_objects=3, p_static=0.1, p_appear=0.5,
                        p_disappear=0.5, p_stop=0.4, p_change=0.4)
# Spans asked about cover 20–60 % of their clip: shorter ones are below what T time tokens can
# tell apart, longer ones would reward a guess of "most of the clip".
MIN_SPAN, MAX_SPAN = 0.2, 0.6
_TIME_TOKEN = re.compile(r"^<t(\d+)>$")


# ---- time tokens ---------------------------------------------------------------------------
def time_index(t: float, duration: float, num_tokens: int = NUM_FRAMES) -> int:
    """The time token index of time t (s) in a clip of `duration` s: round(t (T − 1) / L),
    clipped to 0 … T − 1."""
    if duration <= 0 or num_tokens < 2:
        raise ValueError(f"need duration > 0 and at least 2 time tokens, got {duration} s and {num_tokens}")
    return int(np.clip(np.round(t * (num_tokens - 1) / duration), 0, num_tokens - 1))


def index_time(k: int, duration: float, num_tokens: int = NUM_FRAMES) -> float:
    """The time (s) that time token k stands for: L k / (T − 1)."""
    if not 0 <= k < num_tokens:
        raise ValueError(f"time token index {k} is outside 0 … {num_tokens - 1}")
    return duration * k / (num_tokens - 1)


def time_token(t: float, duration: float, num_tokens: int = NUM_FRAMES) -> str:
    """Time t (s) as a time token: '<t5>' (see `minivlm.lm.time_tokens`)."""
    return f"<t{time_index(t, duration, num_tokens)}>"


def token_time(token: str, duration: float, num_tokens: int = NUM_FRAMES) -> float:
    """A time token ('<t5>') back to seconds in a clip of `duration` s."""
    match = _TIME_TOKEN.match(token.strip())
    if match is None:
        raise ValueError(f"{token!r} is not a time token; time tokens are written '<t0>' … '<t{num_tokens - 1}>'")
    return index_time(int(match.group(1)), duration, num_tokens)


def lita_frame_times(duration: float, num_frames: int = NUM_FRAMES) -> np.ndarray:
    """LITA's frame sampling: num_frames times from 0 to the clip's end, evenly spaced, so frame k
    sits at time token k's time (the last one just inside the clip). Shape (T,), seconds."""
    return np.minimum(np.linspace(0.0, duration, num_frames), duration - 1e-3)


# ---- spans as text -----------------------------------------------------------------------------
def format_time(t: float, duration: float, time_format: str, num_tokens: int = NUM_FRAMES) -> str:
    """A time as an answer writes it: a time token, or seconds with one decimal ('2.5')."""
    if time_format == "tokens":
        return time_token(t, duration, num_tokens)
    if time_format == "seconds":
        return seconds(t)
    raise ValueError(f"unknown time format {time_format!r}; use one of {TIME_FORMATS}")


def format_span(span: tuple[float, float], duration: float, time_format: str, num_tokens: int = NUM_FRAMES) -> str:
    """'from <t2> to <t9>' or 'from 1.6 to 7.2'."""
    start, end = (format_time(t, duration, time_format, num_tokens) for t in span)
    return f"from {start} to {end}"


def parse_span(text: str, duration: float, time_format: str, num_tokens: int = NUM_FRAMES
               ) -> tuple[float, float] | None:
    """The span (s) an answer gives ('from A to B …'), or None when it gives none that can be read.
    A reversed span is put in order."""
    match = re.search(r"from (\S+) to (\S+)", text)
    if match is None:
        return None
    try:
        if time_format == "tokens":
            a, b = (token_time(m, duration, num_tokens) for m in match.groups())
        elif time_format == "seconds":
            a, b = (float(m) for m in match.groups())
        else:
            raise ValueError(f"unknown time format {time_format!r}; use one of {TIME_FORMATS}")
    except ValueError as err:
        if "time format" in str(err):
            raise
        return None
    return (min(a, b), max(a, b))


# ---- questions ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class RTLQuestion:
    """A question whose answer is a span (s), found through the event `clue` names."""

    question: str
    span: tuple[float, float]
    clue: Event  # the event that tells which object is meant
    obj: int
    asked: str  # what is asked about the object: visible, moving, still, colour

    def explanation(self, scene: Scene) -> str:
        return f"{event_phrase(scene, self.clue)} ."

    def answer(self, scene: Scene, time_format: str = "tokens", num_tokens: int = NUM_FRAMES) -> str:
        return f"{format_span(self.span, scene.duration, time_format, num_tokens)} . {self.explanation(scene)}"


def clues(scene: Scene) -> dict[int, list[tuple[str, Event]]]:
    """For each object, the ways a question can point at it through one of its events without
    naming it: 'the object that turns blue', 'the object that stops', … (only when no other
    object does the same)."""
    by_words: dict[str, list[Event]] = {}
    for e in scene.events:
        by_words.setdefault(event_words(e.kind, e.detail), []).append(e)
    out: dict[int, list[tuple[str, Event]]] = {}
    for words, events in by_words.items():
        if len({e.obj for e in events}) == 1:
            out.setdefault(events[0].obj, []).append((f"the object that {words}", events[0]))
    return out


def spans(scene: Scene, i: int) -> dict[str, tuple[float, float]]:
    """What can be asked about object i, and its span (s): when it is visible, moving, still,
    and each colour it has (when it changes colour). Spans that cover less than MIN_SPAN or more
    than MAX_SPAN of the clip are left out."""
    o = scene.objects[i]
    start, end = scene.visible_span(i)
    out = {"visible": (start, end)}
    if o.direction is not None and o.stop is not None:
        out["moving"], out["still"] = (start, o.stop), (o.stop, end)
    if o.change_time is not None:
        out[o.colour], out[o.new_colour] = (start, o.change_time), (o.change_time, end)
    return {k: (float(a), float(b)) for k, (a, b) in out.items() if MIN_SPAN <= (b - a) / scene.duration <= MAX_SPAN}


_ASK = {"visible": "when is {clue} visible ?", "moving": "when does {clue} move ?",
        "still": "when does {clue} stay still ?"}


def rtl_questions(scene: Scene) -> list[RTLQuestion]:
    """Every reasoning-localization question the scene supports (a clue × a span of the same
    object; a colour is not asked through the clue of turning into it)."""
    out = []
    for i, pointers in sorted(clues(scene).items()):
        for asked, span in spans(scene, i).items():
            for words, event in pointers:
                if asked in _ASK:
                    question = _ASK[asked].format(clue=words)
                elif event.kind == "change":
                    continue  # "when is the object that turns blue blue ?" gives itself away
                else:
                    question = f"when does {words} look {asked} ?"
                out.append(RTLQuestion(question, span, event, i, asked if asked in _ASK else "colour"))
    return out


def _pick(found: list[RTLQuestion], n: int, rng: np.random.Generator) -> list[RTLQuestion]:
    """Up to n questions, each through a clue of a kind drawn uniformly from those left (bounces
    are many; this keeps stops, appearances and colour changes as common)."""
    groups: dict[str, list[RTLQuestion]] = {}
    for q in found:
        groups.setdefault(q.clue.kind, []).append(q)
    out = []
    while groups and len(out) < n:
        kind = sorted(groups)[int(rng.integers(len(groups)))]
        out.append(groups[kind].pop(int(rng.integers(len(groups[kind])))))
        if not groups[kind]:
            del groups[kind]
    return out


def make_rtl(split: str, n: int, questions_per_clip: int = 2, num_frames: int = NUM_FRAMES,
             time_format: str = "tokens", config: WorldConfig | None = RTL_WORLD, start: int = 0) -> list[Sample]:
    """n RTL samples: clips of varying duration (`RTL_WORLD`), each rendered at `num_frames`
    LITA frame times, with up to `questions_per_clip` questions each (the clip's Media shared).
    Answers use `time_format` ('tokens': T = num_frames time tokens; 'seconds').
    kind 'rtl'; meta: span (s), duration (s), video (the scene index), asked, clue (the event)."""
    if time_format not in TIME_FORMATS:
        raise ValueError(f"unknown time format {time_format!r}; use one of {TIME_FORMATS}")
    out: list[Sample] = []
    for index in range(start, start + 50 * n + 100):
        scene = sample_scene(split, index, config)
        found = rtl_questions(scene)
        if not found:
            continue
        chosen = _pick(found, questions_per_clip, np.random.default_rng([index, 71]))
        times = lita_frame_times(scene.duration, num_frames)
        video = Media.video(render(scene, times), times)
        for q in chosen:
            messages = [{"role": "user", "content": f"<video> {q.question}"},
                        {"role": "assistant", "content": q.answer(scene, time_format, num_frames)}]
            out.append(Sample([video], messages, kind="rtl", scene=scene,
                              meta={"span": q.span, "duration": scene.duration, "video": index, "asked": q.asked,
                                    "clue": q.clue}))
            if len(out) == n:
                return out
    raise ValueError("the world rarely supports RTL questions; use a WorldConfig with more events (RTL_WORLD)")


def with_time_format(samples: list[Sample], time_format: str, num_tokens: int = NUM_FRAMES) -> list[Sample]:
    """The same RTL samples (same media, same questions) answered in another time format."""
    out = []
    for s in samples:
        span, duration = s.meta["span"], s.meta["duration"]
        *turns, last = s.messages
        explanation = last["content"].split(" . ", 1)[1]
        answer = f"{format_span(span, duration, time_format, num_tokens)} . {explanation}"
        out.append(replace(s, messages=[*turns, {"role": "assistant", "content": answer}], answer=answer))
    return out


__all__ = ["MAX_SPAN", "MIN_SPAN", "NUM_FRAMES", "RTLQuestion", "RTL_WORLD", "TIME_FORMATS", "clues", "format_span",
           "format_time", "index_time", "lita_frame_times", "make_rtl", "parse_span", "rtl_questions", "spans",
           "time_index", "time_token", "token_time", "with_time_format"]
