"""Scoring answers: exact match, accuracy per question kind, confusion tables, leaderboards."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Sequence


def normalize_answer(text: str) -> str:
    """Lower case, single spaces, no trailing full stop: how answers are compared."""
    words = text.lower().replace(".", " . ").split()
    while words and words[-1] == ".":
        words.pop()
    return " ".join(words)


def exact_match(prediction: str, answer: str) -> bool:
    return normalize_answer(prediction) == normalize_answer(answer)


def accuracy(predictions: Sequence[str], answers: Sequence[str]) -> float:
    if len(predictions) != len(answers):
        raise ValueError(f"{len(predictions)} predictions for {len(answers)} answers")
    if not answers:
        return float("nan")
    return sum(exact_match(p, a) for p, a in zip(predictions, answers)) / len(answers)


def accuracy_by_kind(predictions: Sequence[str], answers: Sequence[str], kinds: Sequence[str]) -> dict[str, float]:
    """Exact-match accuracy for each question kind, plus 'all'."""
    if not len(predictions) == len(answers) == len(kinds):
        raise ValueError("predictions, answers and kinds must have the same length")
    groups: dict[str, list[bool]] = defaultdict(list)
    for p, a, k in zip(predictions, answers, kinds):
        groups[k].append(exact_match(p, a))
    out = {k: sum(v) / len(v) for k, v in sorted(groups.items())}
    out["all"] = accuracy(predictions, answers)
    return out


def chance_by_kind(answers: Sequence[str], kinds: Sequence[str]) -> dict[str, float]:
    """Accuracy of always giving each kind's most common answer: the floor to beat."""
    groups: dict[str, list[str]] = defaultdict(list)
    for a, k in zip(answers, kinds):
        groups[k].append(normalize_answer(a))
    out = {k: Counter(v).most_common(1)[0][1] / len(v) for k, v in sorted(groups.items())}
    total = sum(Counter(v).most_common(1)[0][1] for v in groups.values())
    out["all"] = total / max(1, len(answers))
    return out


def confusion(predictions: Sequence[str], answers: Sequence[str]) -> tuple[list[str], list[list[int]]]:
    """Labels and a confusion matrix: rows are true answers, columns predictions."""
    labels = sorted({normalize_answer(a) for a in answers} | {normalize_answer(p) for p in predictions})
    index = {label: i for i, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for p, a in zip(predictions, answers):
        matrix[index[normalize_answer(a)]][index[normalize_answer(p)]] += 1
    return labels, matrix


def leaderboard(results: dict[str, dict[str, float]], digits: int = 2) -> str:
    """A plain-text table: one row per model, one column per metric."""
    columns = sorted({c for r in results.values() for c in r}, key=lambda c: (c == "all", c))
    width = max(8, *(len(c) for c in columns))
    name_w = max(5, *(len(n) for n in results))
    lines = [f"{'model':<{name_w}} " + " ".join(f"{c:>{width}}" for c in columns)]
    for name, row in results.items():
        cells = [f"{row[c]:>{width}.{digits}f}" if c in row else " " * (width - 1) + "-" for c in columns]
        lines.append(f"{name:<{name_w}} " + " ".join(cells))
    return "\n".join(lines)


def linear_probe(train_x, train_y, test_x, test_y, steps: int = 300, lr: float = 1e-2, seed: int = 0) -> float:
    """Accuracy of a linear classifier trained on frozen features: how much of a label the
    features make linearly readable. x: (N, D) float, y: (N,) int class ids."""
    import torch

    g = torch.Generator().manual_seed(seed)
    mean, std = train_x.mean(0), train_x.std(0).clamp_min(1e-6)
    xtr, xte = (train_x - mean) / std, (test_x - mean) / std
    classes = int(max(train_y.max(), test_y.max())) + 1
    head = torch.nn.Linear(xtr.shape[1], classes)
    torch.nn.init.normal_(head.weight, std=0.01, generator=g)
    torch.nn.init.zeros_(head.bias)
    opt = torch.optim.Adam(head.parameters(), lr=lr)
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(head(xtr), train_y) + 1e-4 * head.weight.pow(2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return (head(xte).argmax(1) == test_y).float().mean().item()


def evaluate(model, samples: Sequence, batch_size: int = 64, max_new_tokens: int = 8) -> dict[str, float]:
    """Exact-match accuracy per kind (and 'all') of the model's greedy answers to one-question
    samples (`minivlm.samples.Sample`): each sample's question with its media, against its answer."""
    prompts = []
    for s in samples:
        turns = s.prompt().messages
        if turns is None or len(turns) != 1:
            raise ValueError("evaluate takes one-question samples (one user turn, then the answer)")
        prompts.append(turns[0]["content"])
    predictions = model.answer([list(s.media) for s in samples], prompts, batch_size=batch_size,
                               max_new_tokens=max_new_tokens)
    return accuracy_by_kind(predictions, [s.answer for s in samples], [s.kind for s in samples])


def temporal_iou(pred: tuple[float, float] | None, true: tuple[float, float]) -> float:
    """Intersection over union of two time spans (start, end) in seconds; 0 for no prediction."""
    if pred is None:
        return 0.0
    inter = max(0.0, min(pred[1], true[1]) - max(pred[0], true[0]))
    union = max(pred[1], true[1]) - min(pred[0], true[0])
    return inter / union if union > 0 else float(pred == true)


def localization_scores(preds: Sequence[tuple[float, float] | None], trues: Sequence[tuple[float, float]],
                        videos: Sequence | None = None, threshold: float = 0.5) -> dict[str, float]:
    """LITA's temporal localization metrics: mIoU and Precision@threshold (IoU ≥ threshold),
    each averaged over a video's questions first, then over videos (`videos`: the video of
    each question; None: every question its own video). A missing prediction scores IoU 0.
    Returns {'miou': …, 'p@0.5': …, 'videos': count} (fractions in [0, 1])."""
    if not len(preds) == len(trues) == len(videos if videos is not None else preds):
        raise ValueError(f"need one prediction, true span and video per question: {len(preds)}, {len(trues)}, "
                         f"{len(videos) if videos is not None else '-'}")
    if not len(preds):
        raise ValueError("no questions to score")
    per_video: dict = defaultdict(list)
    for k, (p, t) in enumerate(zip(preds, trues)):
        per_video[videos[k] if videos is not None else k].append(temporal_iou(p, t))
    ious = [sum(v) / len(v) for v in per_video.values()]
    hits = [sum(i >= threshold for i in v) / len(v) for v in per_video.values()]
    return {"miou": sum(ious) / len(ious), f"p@{threshold:g}": sum(hits) / len(hits), "videos": len(per_video)}


def chat_about(model, scene, num_frames: int = 8, kinds: Sequence[str] = ("count", "colour", "shape", "direction"),
               seed: int = 0, max_new_tokens: int = 8, show: bool = False) -> list[tuple[str, str, str]]:
    """Ask `model` the toy world's question of each kind (`data.clip_qa`) about one clip of
    `scene` (num_frames uniform frames), printing the question, the model's answer and the truth.
    show: first draw the frames the model sees and print the scene's description (the truth).
    Returns (question, answer, truth) for each kind the scene can be asked about."""
    import numpy as np

    from .data import clip_qa, describe, render, uniform_times
    from .media import Media

    rng = np.random.default_rng(seed)
    times = uniform_times(scene, num_frames)
    frames = render(scene, times)
    if show:
        from .plot import show_frames

        show_frames(frames, times)
        print("truth:", describe(scene))
    video = Media.video(frames, times)
    out = []
    for kind in kinds:
        qa = clip_qa(scene, kind, rng)
        if qa is not None:
            answer = model.chat(video, qa.question, max_new_tokens=max_new_tokens)
            print(f"user: {qa.question}\nassistant: {answer}   (truth: {qa.answer})")
            out.append((qa.question, answer, qa.answer))
    return out
