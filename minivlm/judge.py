"""Judging open answers: Video-ChatGPT's five criteria and Video-LLaVA's yes/no accuracy + score.

Open answers ("the red circle moves left , then it stops at 2.0 seconds") have no single
right string, so Video-ChatGPT (2023) had GPT-3.5 score each answer 0–5 against a reference on
five criteria: **correctness of information**, **detail orientation**, **contextual
understanding** (on generic "describe the video" questions), **temporal understanding** (on
questions about the order of events) and **consistency** (the same question asked twice in
different words). Video-LLaVA (2023) and others report open-ended QA the same way: the judge
says yes/no (is the answer right?) and gives a 0–5 score; accuracy is the share of yes.

Two judges, one interface (`Judge.judge(criterion, question, answer, reference, ...)`):

- `RuleJudge` reads the facts an answer states (`minivlm.facts.read_facts`) and checks them
  against the toy world's ground truth: facts right, facts wrong, facts of the reference
  covered, events in the right order.
- `LLMJudge(llm)` sends the prompts below to any `Callable[[str], str]` and parses its
  "{'pred': 'yes', 'score': 4}" reply — the papers' method, when you have a strong LLM.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from .data import COLOURS, DIRECTIONS, NUMBER_WORDS, SHAPES, Scene, clip_qa, describe
from .data.text import event_phrase, event_words
from .media import Media
from .facts import WALLS, Fact, holds, isolated, next_event, read_facts, same_claim

CRITERIA = ("correctness", "detail", "context", "temporal", "consistency")
JUDGE_CRITERIA = (*CRITERIA, "qa")


@dataclass(frozen=True)
class Verdict:
    """A judge's decision: a 0–5 score, yes/no (is the answer right?) and why."""

    score: float
    correct: bool
    reason: str = ""


class Judge(Protocol):
    def judge(self, criterion: str, question: str, answer: str, reference: str, scene: Scene | None = None,
              question2: str | None = None, answer2: str | None = None) -> Verdict:
        """Score `answer` to `question` against `reference` on `criterion` (see JUDGE_CRITERIA).
        Consistency also takes the paraphrased `question2` and its `answer2`."""


def _check_criterion(criterion: str) -> None:
    if criterion not in JUDGE_CRITERIA:
        raise ValueError(f"unknown criterion {criterion!r}; use one of {JUDGE_CRITERIA}")


# ---- the rule-based judge ---------------------------------------------------------------------
_WORLD_WORDS = (set(COLOURS) | set(SHAPES) | set(DIRECTIONS) | set(NUMBER_WORDS) | set(WALLS)
                | {"yes", "no", "still", "appears", "disappears", "stops", "bounces", "turns", "changes"})


def content_words(text: str) -> set[str]:
    """The words that carry an answer's meaning in the toy world: colours, shapes, directions,
    numbers, walls, times, yes/no and event verbs."""
    words = text.lower().replace(".", " . ").replace(",", " , ").replace("?", " ? ").split()
    times = set(re.findall(r"\d+\.\d", text))
    return {w for w in words if w in _WORLD_WORDS} | times


def _f1(a: set[str], b: set[str]) -> float:
    if not a and not b:
        return 1.0
    both = len(a & b)
    if both == 0:
        return 0.0
    p, r = both / len(a), both / len(b)
    return 2 * p * r / (p + r)


def _subject(question: str) -> str | None:
    named = [f.subject for f in read_facts(question) if f.relation == "object"]
    return named[0] if named else None


class RuleJudge:
    """Judges answers with the ground truth. Event times may be off by `tolerance` seconds."""

    def __init__(self, tolerance: float = 0.5):
        self.tolerance = tolerance

    def judge(self, criterion: str, question: str, answer: str, reference: str, scene: Scene | None = None,
              question2: str | None = None, answer2: str | None = None) -> Verdict:
        _check_criterion(criterion)
        if criterion == "qa":
            return self.qa(answer, reference, question, scene)
        if criterion == "consistency":
            if answer2 is None:
                raise ValueError("consistency needs the answer to the paraphrased question: pass answer2=")
            return self.consistency(question, answer, answer2, reference, scene)
        if scene is None:
            raise ValueError(f"the rule-based judge needs the clip's scene for {criterion!r}: pass scene=")
        stated = read_facts(answer, _subject(question))
        expected = read_facts(reference, _subject(question))
        if criterion == "correctness":
            return self.correctness(stated, scene)
        if criterion == "detail":
            return self.detail(stated, expected, scene)
        if criterion == "context":
            return self.context(stated, expected)
        return self.temporal(stated, expected, scene, answer, reference, question)

    def _true(self, fact: Fact, scene: Scene) -> bool:
        return holds(fact, scene, self.tolerance)

    def correctness(self, stated: list[Fact], scene: Scene) -> Verdict:
        """Share of the stated facts that are true (nothing stated: 0)."""
        if not stated:
            return Verdict(0.0, False, "states nothing that can be checked")
        wrong = [f for f in stated if not self._true(f, scene)]
        score = 5.0 * (len(stated) - len(wrong)) / len(stated)
        reason = f"{len(stated) - len(wrong)} of {len(stated)} facts true" + (
            f"; wrong: {wrong[0].text()!r}" if wrong else "")
        return Verdict(score, not wrong, reason)

    def detail(self, stated: list[Fact], expected: list[Fact], scene: Scene) -> Verdict:
        """Share of the reference's facts that the answer states correctly."""
        if not expected:
            return Verdict(5.0 if stated else 0.0, bool(stated), "the reference states no facts")
        true_stated = [f for f in stated if self._true(f, scene)]
        covered = sum(any(same_claim(e, f, self.tolerance) for f in true_stated) for e in expected)
        return Verdict(5.0 * covered / len(expected), covered == len(expected),
                       f"{covered} of {len(expected)} reference facts covered")

    def context(self, stated: list[Fact], expected: list[Fact]) -> Verdict:
        """Does the answer talk about the right things: the clip's objects and no others
        (Jaccard overlap of the objects named), and the right number of them."""
        said = {f.subject for f in stated if f.relation == "object"}
        truth = {f.subject for f in expected if f.relation == "object"}
        overlap = len(said & truth) / max(1, len(said | truth))
        counts = [f.value for f in stated if f.relation == "count"]
        true_count = [f.value for f in expected if f.relation == "count"]
        if counts and true_count and counts[0] != true_count[0]:
            overlap *= 0.5
        return Verdict(5.0 * overlap, overlap == 1.0, f"objects named {sorted(said)}, in the clip {sorted(truth)}")

    def temporal(self, stated: list[Fact], expected: list[Fact], scene: Scene, answer: str, reference: str,
                 question: str) -> Verdict:
        """Events: the reference's events found in the answer × events told in the true order ×
        share of the told events that happened. No events in the reference: judged as QA."""
        want = [f for f in expected if f.relation == "event"]
        if not want:
            return self.qa(answer, reference, question, scene)
        told = [f for f in stated if f.relation == "event"]
        if not told:
            return Verdict(0.0, False, "names no event")
        real = [f for f in told if self._true(f, scene)]
        found = sum(any(same_claim(w, f, self.tolerance) for f in real) for w in want) / len(want)
        times = [_true_time(f, scene, self.tolerance) for f in real]
        pairs = [(a, b) for k, a in enumerate(times) for b in times[k + 1:] if abs(a - b) > 1e-6]
        in_order = sum(a < b for a, b in pairs) / len(pairs) if pairs else 1.0
        precision = len(real) / len(told)
        score = 5.0 * found * in_order * precision
        return Verdict(score, score >= 5.0 - 1e-6,
                       f"{found:.0%} of the asked events, {in_order:.0%} of pairs in order, {precision:.0%} real")

    def qa(self, answer: str, reference: str, question: str = "", scene: Scene | None = None) -> Verdict:
        """Video-LLaVA-style open QA: yes when the answer's meaning words equal the reference's
        and it states nothing false; score = 5 × F1 of the meaning words. Words the question
        already says ("the cross" in "what colour is the cross ?") are not counted."""
        want = content_words(reference)
        got = content_words(answer) - (content_words(question) - want)
        f1 = _f1(got, want)
        false = []
        if scene is not None:
            false = [f for f in read_facts(answer, _subject(question)) if not self._true(f, scene)]
        score = 5.0 * f1 * (0.5 if false else 1.0)
        return Verdict(score, got == want and not false,
                       f"meaning words {sorted(got)} vs {sorted(want)}" + (f"; false: {false[0].text()!r}" if false else ""))

    def consistency(self, question: str, answer: str, answer2: str, reference: str,
                    scene: Scene | None = None) -> Verdict:
        """Both answers right and saying the same thing: agreement × mean QA score."""
        v1, v2 = self.qa(answer, reference, question, scene), self.qa(answer2, reference, question, scene)
        asked = content_words(question) - content_words(reference)
        agree = _f1(content_words(answer) - asked, content_words(answer2) - asked)
        return Verdict(agree * (v1.score + v2.score) / 2, v1.correct and v2.correct and agree == 1.0,
                       f"agreement {agree:.2f}; scores {v1.score:.1f} and {v2.score:.1f}")


def _true_time(fact: Fact, scene: Scene, tolerance: float) -> float:
    """When the event a (true) fact names really happened: the closest matching event."""
    names = [o.name() for o in scene.objects]
    best = [e.start for e in scene.events if names[e.obj] == fact.subject and event_words(e.kind, e.detail) == fact.value]
    if fact.time is not None:
        best.sort(key=lambda t: abs(t - fact.time))
    return best[0] if best else float("nan")


# ---- the LLM judge ------------------------------------------------------------------------------
_SYSTEM = ("You are an intelligent chatbot designed for evaluating {what} for video-based question-answer "
           "pairs. Your task is to compare the predicted answer with the correct answer and {task}")
_REPLY = ("Reply with a Python dictionary string only, with no other text, in the form {form}. "
          "For example: {example}.")
_INSTRUCTIONS = {  # criterion: (what is evaluated, the task, the rules)
    "correctness": (
        "the factual accuracy of generative outputs",
        "determine if they are factually consistent.",
        ("The predicted answer must be factually accurate and agree with the video content. Consider synonyms "
         "or paraphrases as valid matches. Judge each stated fact against the correct answer."),
    ),
    "detail": (
        "the detail orientation of generative outputs",
        "determine its level of detail.",
        ("Check whether the predicted answer covers all major points of the video; it should be complete and "
         "specific rather than generic."),
    ),
    "context": (
        "the contextual understanding of generative outputs",
        "determine if it aligns with the overall context of the video content.",
        ("The predicted answer should be about the objects and events in the video, with nothing out of context "
         "or invented."),
    ),
    "temporal": (
        "the temporal understanding of generative outputs",
        "determine if it shows the right sequence of events.",
        ("The predicted answer must name the events the question asks about, in the order they happen in the "
         "video, at the right times."),
    ),
    "consistency": (
        "the consistency of generative outputs for similar questions",
        "determine if the two answers are consistent with each other and correct.",
        ("The same question was asked twice in different words. The two predicted answers must agree with each "
         "other and with the correct answer; any contradiction lowers the score."),
    ),
    "qa": (
        "the correctness of generative outputs",
        "determine if they match meaningfully.",
        ("Focus on meaningful match between the predicted answer and the correct answer. Consider synonyms or "
         "paraphrases as valid matches."),
    ),
}


def judge_prompt(criterion: str, question: str, answer: str, reference: str, question2: str | None = None,
                 answer2: str | None = None) -> str:
    """The text the LLM judge receives, following Video-ChatGPT's evaluation prompts."""
    _check_criterion(criterion)
    what, task, rules = _INSTRUCTIONS[criterion]
    lines = [_SYSTEM.format(what=what, task=task), "INSTRUCTIONS: " + rules, "",
             "Please evaluate the following video-based question-answer pair:"]
    if criterion == "consistency":
        lines += [f"Question 1: {question}", f"Question 2: {question2}", f"Correct Answer: {reference}",
                  f"Predicted Answer to Question 1: {answer}", f"Predicted Answer to Question 2: {answer2}"]
    else:
        lines += [f"Question: {question}", f"Correct Answer: {reference}", f"Predicted Answer: {answer}"]
    if criterion == "qa":
        lines.append(_REPLY.format(form="{'pred': 'yes' or 'no', 'score': an integer from 0 to 5}",
                                   example="{'pred': 'yes', 'score': 4}"))
    else:
        lines.append(_REPLY.format(form="{'score': an integer from 0 to 5}", example="{'score': 4}"))
    return "\n".join(lines)


def parse_judgement(reply: str) -> tuple[float, bool | None]:
    """"{'pred': 'yes', 'score': 4}" → (4.0, True). Tolerates text around the dictionary; a
    missing 'pred' gives None. Raises ValueError when there is no score to read."""
    match = re.search(r"\{.*?\}", reply, flags=re.DOTALL)
    data = {}
    if match:
        try:
            data = ast.literal_eval(match.group(0))
        except (ValueError, SyntaxError):
            data = {}
    if "score" not in data:
        m = re.search(r"score\W+(\d+(?:\.\d+)?)", reply)
        if not m:
            raise ValueError(f"the judge's reply holds no score: {reply[:120]!r}")
        data["score"] = float(m.group(1))
    pred = data.get("pred")
    if pred is None:
        m = re.search(r"pred\W+(yes|no)", reply, flags=re.IGNORECASE)
        pred = m.group(1) if m else None
    return float(np.clip(float(data["score"]), 0, 5)), None if pred is None else str(pred).lower() == "yes"


class LLMJudge:
    """Any `llm: Callable[[str], str]` as the judge (GPT-3.5 in Video-ChatGPT's benchmark)."""

    def __init__(self, llm: Callable[[str], str]):
        self.llm = llm

    def judge(self, criterion: str, question: str, answer: str, reference: str, scene: Scene | None = None,
              question2: str | None = None, answer2: str | None = None) -> Verdict:
        reply = self.llm(judge_prompt(criterion, question, answer, reference, question2, answer2))
        score, pred = parse_judgement(reply)
        return Verdict(score, pred if pred is not None else score >= 3, reply.strip()[:200])


# ---- a benchmark in the toy world ------------------------------------------------------------------
PARAPHRASES = {
    "count": ("how many objects are there ?", "how many shapes does the video show ?"),
    "colour": ("what colour is the {shape} ?", "which colour does the {shape} have ?"),
    "direction": ("which way does the {name} move first ?", "in which direction does the {name} move at the start ?"),
}
TEMPORAL_KINDS = ("direction", "first", "after")
QA_KINDS = ("colour", "shape", "count", "direction", "order")


@dataclass(frozen=True)
class BenchItem:
    """One question of the benchmark. `set`: generic | temporal | consistency | qa."""

    clip: int
    set: str
    kind: str
    question: str
    reference: str
    question2: str | None = None


def temporal_question(scene: Scene, kind: str, rng: np.random.Generator) -> tuple[str, str] | None:
    """A question about time and its reference answer: 'direction' (which way it moves first —
    only the order of frames tells) and 'first' (which of two events comes first) are
    `minivlm.data.clip_qa`'s 'direction' and 'order' questions; 'after': what happens next after
    an event (non-bounce events, each alone in its moment; the next at least 0.5 s later)."""
    if kind in ("direction", "first"):
        qa = clip_qa(scene, "order" if kind == "first" else kind, rng)
        return (qa.question, qa.answer) if qa else None
    if kind == "after":
        events = [e for e in scene.events if e.kind != "bounce" and isolated(scene, e)]
        starts = [e for e in events if next_event(events, e) is not None]
        if not starts:
            return None
        a = starts[int(rng.integers(len(starts)))]
        return f"what happens after {event_phrase(scene, a)} ?", f"{event_phrase(scene, next_event(events, a))} ."
    raise ValueError(f"unknown temporal kind {kind!r}; use one of {TEMPORAL_KINDS}")


def make_benchmark(scenes: Sequence[Scene], seed: int = 0) -> list[BenchItem]:
    """Video-ChatGPT's benchmark in the toy world, for each clip: a generic question (judged for
    correctness, detail, context), a temporal question, a paraphrased pair (consistency), and a
    short open question (accuracy + score)."""
    items: list[BenchItem] = []
    for k, scene in enumerate(scenes):
        rng = np.random.default_rng([seed, k, 13])
        items.append(BenchItem(k, "generic", "description", "describe the video in detail .", describe(scene)))
        for j in rng.permutation(len(TEMPORAL_KINDS)):
            tq = temporal_question(scene, TEMPORAL_KINDS[j], rng)
            if tq:
                items.append(BenchItem(k, "temporal", TEMPORAL_KINDS[j], *tq))
                break
        kind = list(PARAPHRASES)[k % len(PARAPHRASES)]
        o = scene.objects[int(rng.integers(len(scene.objects)))]
        if kind == "colour" and o.change_time is not None:
            kind = "count"
        if kind == "direction" and (not o.direction or o.appear > 0 or (o.stop is not None and o.stop < 1.0)):
            kind = "count"
        q1, q2 = (q.format(shape=o.shape, name=o.name()) for q in PARAPHRASES[kind])
        answer = {"count": NUMBER_WORDS[len(scene.objects)], "colour": o.colour, "direction": o.direction}[kind]
        items.append(BenchItem(k, "consistency", kind, q1, answer, q2))
        for j in rng.permutation(len(QA_KINDS)):
            qa = clip_qa(scene, QA_KINDS[j], rng)
            if qa:
                items.append(BenchItem(k, "qa", qa.kind, qa.question, qa.answer))
                break
    return items


def direction_items(scenes: Sequence[Scene]) -> list[BenchItem]:
    """Every "which way does the {name} move first ?" question the clips allow — one per object
    that moves from the start (present at 0 s, not stopping before 1 s), as `clip_qa` asks it —
    as temporal BenchItems: more direction questions than `make_benchmark`'s one temporal question
    per clip, so a layout's direction accuracy has a tighter interval (chance: 1 in 4)."""
    items = []
    for k, scene in enumerate(scenes):
        for o in scene.objects:
            if o.direction and o.appear == 0 and (o.stop is None or o.stop >= 1.0):
                items.append(BenchItem(k, "temporal", "direction", f"which way does the {o.name()} move first ?",
                                       o.direction))
    return items


def model_answers(model, clips: Sequence[Media], long_tokens: int = 130, short_tokens: int = 24,
                  batch_size: int = 64) -> Callable[[list[int], list[str]], list[str]]:
    """An `answer_fn` for `evaluate`: the VLM's greedy answers (`VLM.answer`) about clips[k] —
    video Media, raw or precomputed (`VLM.precompute`) — with room for `long_tokens` when the
    question asks to describe, `short_tokens` otherwise."""
    def answer_fn(indices: list[int], questions: list[str]) -> list[str]:
        answers = [""] * len(questions)
        for long in (True, False):
            rows = [k for k, q in enumerate(questions) if ("describe" in q.split()) == long]
            if rows:
                got = model.answer([clips[indices[k]] for k in rows], [questions[k] for k in rows],
                                   batch_size=batch_size, max_new_tokens=long_tokens if long else short_tokens)
                for k, a in zip(rows, got):
                    answers[k] = a
        return answers

    return answer_fn


@dataclass
class Report:
    """Benchmark results: `summary` (the five criteria, accuracy and score), `by_kind` (QA and
    temporal accuracy per question kind), and every judged answer in `records`."""

    summary: dict[str, float]
    by_kind: dict[str, float]
    records: list[dict] = field(default_factory=list)


def evaluate(answer_fn: Callable[[list[int], list[str]], list[str]], items: Sequence[BenchItem],
             scenes: Sequence[Scene], judge: Judge) -> Report:
    """Ask every benchmark question (answer_fn(clip indices, questions) → answers) and judge it.

    Paraphrased questions are asked separately, each in a fresh conversation."""
    questions = [it.question for it in items] + [it.question2 for it in items if it.question2]
    clips = [it.clip for it in items] + [it.clip for it in items if it.question2]
    answers = answer_fn(clips, questions)
    if len(answers) != len(questions):
        raise ValueError(f"answer_fn gave {len(answers)} answers for {len(questions)} questions")
    second = iter(answers[len(items):])
    scores: dict[str, list[float]] = {c: [] for c in CRITERIA}
    qa_correct, qa_score, kind_correct = [], [], {}
    records = []
    for it, answer in zip(items, answers):
        scene = scenes[it.clip]
        record = {"clip": it.clip, "set": it.set, "kind": it.kind, "question": it.question,
                  "answer": answer, "reference": it.reference}
        if it.set == "generic":
            for c in ("correctness", "detail", "context"):
                v = judge.judge(c, it.question, answer, it.reference, scene)
                scores[c].append(v.score)
                record[c] = v.score
        elif it.set == "temporal":
            v = judge.judge("temporal", it.question, answer, it.reference, scene)
            scores["temporal"].append(v.score)
            kind_correct.setdefault(f"temporal/{it.kind}", []).append(v.correct)
            record.update(temporal=v.score, correct=v.correct)
        elif it.set == "consistency":
            answer2 = next(second)
            v = judge.judge("consistency", it.question, answer, it.reference, scene, it.question2, answer2)
            scores["consistency"].append(v.score)
            record.update(question2=it.question2, answer2=answer2, consistency=v.score, correct=v.correct)
        else:
            v = judge.judge("qa", it.question, answer, it.reference, scene)
            qa_correct.append(v.correct)
            qa_score.append(v.score)
            kind_correct.setdefault(f"qa/{it.kind}", []).append(v.correct)
            record.update(score=v.score, correct=v.correct)
        records.append(record)
    summary = {c: float(np.mean(v)) if v else float("nan") for c, v in scores.items()}
    summary["accuracy"] = float(np.mean(qa_correct)) if qa_correct else float("nan")
    summary["score"] = float(np.mean(qa_score)) if qa_score else float("nan")
    by_kind = {k: float(np.mean(v)) for k, v in sorted(kind_correct.items())}
    return Report(summary, by_kind, records)
