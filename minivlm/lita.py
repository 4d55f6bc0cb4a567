"""LITA (Huang et al., 2024, "Language Instructed Temporal-Localization Assistant"). Built in notebook 07.

LITA asks a video LLM *when* something happens, and answers with **time tokens**: T tokens
`<t0>` … `<t{T-1}>` for relative positions in the clip (`minivlm.data.rtl.time_token`), instead
of seconds the model would have to guess from frames that carry no clock. Its video tokens are
**SlowFast tokens** (`minivlm.reducers.SlowFastTokens`): one averaged token per frame for all T
frames (fast) beside a few frames pooled 2 × 2 (slow). It is a LLaVA-style language-stream
model with a linear projector; LITA fine-tunes the projector *and* the LLM (the encoder stays
frozen), on its tasks including Reasoning Temporal Localization (`minivlm.data.rtl.make_rtl`),
scored by mIoU and Precision@0.5 (`minivlm.eval.localization_scores`).

    model = build("lita")                                   # SlowFast tokens, linear projector
    train = precompute(model, make_rtl("train", 800))
    model.fit_standardizer(all_media(train))
    init_time_tokens(model)                                 # time tokens start as new words
    run_stage(model, RTL_STAGE, train)
    scores = evaluate_rtl(model, test)          # {'miou', 'p@0.5', 'videos', 'explained', 'readable'}

The layouts of the paper's ablation are one changed field: `build("lita", reducer_args=LAYOUTS["slow"])`.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch

from .checks import compare
from .config import VLMConfig
from .data.rtl import NUM_FRAMES, parse_span, time_token, token_time
from .eval import localization_scores, temporal_iou
from .lm import time_tokens
from .reducers import SlowFastTokens
from .samples import Sample
from .stages import Stage

# LITA: 4 slow frames pooled 2 × 2 beside one fast token per frame; a linear projector (LLaVA's).
LITA = VLMConfig(name="lita", reducer="slowfast", reducer_args={"slow_frames": 4, "pool": 2}, connector="linear",
                 max_frames=100)
PRESETS = {"lita": LITA}

# The token layouts of LITA's ablation (reducer_args of the "slowfast" reducer). With T = 16
# frames of 4 × 4 patches: slowfast 16 + 4·4 = 32 tokens; slow only, 8 frames, 8·4 = 32 (the same
# budget); fast only 16 (one token per frame is all it has).
LAYOUTS = {
    "slowfast": {"slow_frames": 4, "pool": 2},
    "slow": {"slow_frames": 8, "pool": 2, "fast": False},
    "fast": {"slow": False},
}

# LITA fine-tunes the projector and the LLM; the vision encoder stays frozen. (At 1e-3 the toy
# model answered "the whole clip" to every question after 150 steps; 3e-3 left that answer.)
RTL_STAGE = Stage("rtl", train=("vision_tokenizer", "lm"), data="rtl", steps=100, lr=3e-3, batch_size=24)


@torch.no_grad()
def init_time_tokens(model, num_tokens: int = NUM_FRAMES) -> None:
    """Start the time tokens `<t0>` … `<t{T-1}>` as new words: their (tied) embeddings set to the
    mean embedding of the LM's other tokens, as when LITA adds them to its tokenizer and resizes
    the embeddings. (The toy LM's tokenizer reserves them, but its pretraining never used them, so
    their embeddings only learnt never to be predicted.)"""
    ids = model.tokenizer.convert_tokens_to_ids(time_tokens(num_tokens))
    weight = model.lm.get_input_embeddings().weight  # (V, D)
    others = torch.ones(weight.shape[0], dtype=torch.bool)
    others[ids] = False
    weight[ids] = weight[others].mean(0)
    output = model.lm.get_output_embeddings()
    if output is not None and output.weight is not weight:  # untied output layer: the same start
        output.weight[ids] = output.weight[others].mean(0)


def localize(model, samples: Sequence[Sample], time_format: str = "tokens", num_tokens: int = NUM_FRAMES,
             batch_size: int = 64, max_new_tokens: int = 16) -> tuple[list[str], list[tuple[float, float] | None]]:
    """The model's greedy answers to RTL samples ('from A to B . explanation .') and the spans (s)
    read from them (None where an answer gives no readable span)."""
    prompts = [s.prompt().messages[-1]["content"] for s in samples]
    answers = model.answer([list(s.media) for s in samples], prompts, batch_size=batch_size,
                           max_new_tokens=max_new_tokens)
    spans = [parse_span(a, s.meta["duration"], time_format, num_tokens) for a, s in zip(answers, samples)]
    return answers, spans


def explanation(answer: str) -> str:
    """The explanation part of an RTL answer ('from A to B . the red circle stops .' → 'the red circle stops .')."""
    return answer.split(" . ", 1)[1].strip() if " . " in answer else ""


def rtl_scores(samples: Sequence[Sample], answers: Sequence[str], spans: Sequence[tuple[float, float] | None]
               ) -> dict[str, float]:
    """mIoU and Precision@0.5 of the spans, averaged per video (LITA's protocol); 'explained': the
    fraction of answers whose explanation names the right event (the reasoning step); 'readable':
    the fraction with a span that could be read."""
    scores = localization_scores(spans, [s.meta["span"] for s in samples], [s.meta["video"] for s in samples])
    explained = sum(explanation(a) == explanation(s.answer) for a, s in zip(answers, samples)) / len(samples)
    return {**scores, "explained": explained, "readable": sum(p is not None for p in spans) / len(spans)}


def evaluate_rtl(model, samples: Sequence[Sample], time_format: str = "tokens",
                 num_tokens: int = NUM_FRAMES) -> dict[str, float]:
    """The model's RTL scores on samples (see `rtl_scores`)."""
    answers, spans = localize(model, samples, time_format, num_tokens)
    return rtl_scores(samples, answers, spans)


def prior_spans(train: Sequence[Sample], samples: Sequence[Sample]) -> list[tuple[float, float]]:
    """The floor without any look at the video: for each kind of question (visible, moving, still,
    colour), the training set's average *relative* span (start and end as fractions of the clip),
    scaled to each clip."""
    groups: dict[str, list[tuple[float, float]]] = {}
    for s in train:
        (a, b), length = s.meta["span"], s.meta["duration"]
        groups.setdefault(s.meta["asked"], []).append((a / length, b / length))
    if not groups:
        raise ValueError("no training samples to average spans over")
    every = [span for spans in groups.values() for span in spans]
    out = []
    for s in samples:
        spans = groups.get(s.meta["asked"], every)
        start, end = (sum(x) / len(spans) for x in zip(*spans))
        out.append((start * s.meta["duration"], end * s.meta["duration"]))
    return out


# ---- the exercise checks of notebook 07 ------------------------------------------------------
def check_time_tokens(learner_token: Callable[[float, float, int], str],
                      learner_time: Callable[[str, float, int], float]) -> bool:
    """Notebook 07, exercise 1: time (s) → time token and back, against `data.rtl.time_token` /
    `token_time`, on clips of different lengths and token counts."""
    cases = [(0.0, 8.0, 16), (5.0, 8.0, 16), (3.0, 8.0, 16), (7.99, 8.0, 16), (12.3, 15.0, 16), (2.0, 5.0, 100),
             (44.0, 50.0, 100)]
    tokens = [("<t0>", 8.0, 16), ("<t15>", 8.0, 16), ("<t6>", 12.0, 16), ("<t50>", 33.0, 100)]
    return (compare("time → time token", learner_token, time_token, cases)
            and compare("time token → time", learner_time, token_time, tokens))


def check_slowfast(learner: Callable[[torch.Tensor, int, int], torch.Tensor]) -> bool:
    """Notebook 07, exercise 2: SlowFast tokens from frame tokens (B, T, P, D), against
    `reducers.SlowFastTokens`."""
    g = torch.Generator().manual_seed(7)
    cases = [(torch.randn(2, 16, 16, 3, generator=g), 4, 2), (torch.randn(1, 12, 16, 2, generator=g), 4, 2),
             (torch.randn(1, 6, 64, 2, generator=g), 2, 4)]
    return compare("SlowFast tokens", learner, lambda x, s, pool: SlowFastTokens(s, pool)(x), cases)


def check_iou(learner: Callable[[tuple[float, float], tuple[float, float]], float]) -> bool:
    """Notebook 07, exercise 3: the temporal IoU of two spans, against `eval.temporal_iou`."""
    cases = [((1.0, 3.0), (2.0, 4.0)), ((0.0, 1.0), (2.0, 3.0)), ((2.0, 6.0), (3.0, 4.0)), ((1.5, 2.5), (1.5, 2.5)),
             ((4.0, 9.0), (0.0, 5.0))]
    return compare("temporal IoU", learner, temporal_iou, cases)


__all__ = ["LAYOUTS", "LITA", "PRESETS", "RTL_STAGE", "check_iou", "check_slowfast", "check_time_tokens",
           "evaluate_rtl", "explanation", "init_time_tokens", "localize", "prior_spans", "rtl_scores"]
