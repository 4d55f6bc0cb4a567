"""Interleaved image-text documents (Flamingo's M3W, in miniature) and their collator.

A `Document` is text in which `<image>`/`<video>` markers stand where media appear, at any
position, plus the index of each media item in a `MediaBank`. Three kinds are generated from
the toy world:

- captions and questions about several stills or clips in a row:
  "<image> a red circle . <image> question : what colour is the square ? answer : blue ."
- attribute episodes, the few-shot task: the examples show *which* attribute of an image to say
  (its colour, its shape or where it is), and only the examples say it:
  "<image> circle . <image> square . <image>" → the query image's shape;
- naming episodes, a harder few-shot task: each episode gives its own arbitrary label to each
  colour, shown only in the prompt: "<image> thud . <image> two . <image> thud . <image>"
  → the label of the last image's colour. Labels are words the toy LM already reads and writes
  (borrowed as made-up names), so the frozen LM can copy them.

`collate` turns documents into tensors: token ids with one marker token per media, labels on
every text token (markers, <bos> and padding excluded), the media's cached vision features
padded to the longest document, and which media slots are real.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import numpy as np
import torch

from .chat import IGNORE_INDEX, count_placeholders, encode_document, pad_batch
from .data import (WorldConfig, caption, position_words, render, render_still, sample_scene,
                   still_caption, still_qa, uniform_times)
from .data.naming import NAME_POOL, NAMES, NAMING_KEYS, naming_text  # noqa: F401  (re-exported)
from .data.world import Scene
from .lm import MEDIA_TOKENS

# What an attribute episode can ask about a still's (first) object.
ATTRIBUTES = ("colour", "shape", "position")


@dataclass
class Document:
    """Text with media markers, and the bank index of each media item (in marker order)."""

    text: str
    media: list[int]

    def __post_init__(self) -> None:
        markers = count_placeholders(self.text)
        if markers != len(self.media):
            raise ValueError(f"the document has {markers} media markers but {len(self.media)} media indices: "
                             f"{self.text[:80]!r}")


@dataclass
class MediaBank:
    """Rendered media with their scenes. frames: uint8 (N, T, H, W, 3); times: the still's time
    (stills) or None (clips)."""

    frames: torch.Tensor
    scenes: list[Scene]
    times: list[float] | None = None

    def __len__(self) -> int:
        return len(self.scenes)

    @property
    def marker(self) -> str:
        return "<image>" if self.frames.shape[1] == 1 else "<video>"

    def colour(self, i: int) -> str:
        """Colour of the first object (single-object stills: the colour)."""
        return self.attribute(i, "colour")

    def attribute(self, i: int, name: str) -> str:
        """The first object's colour, shape or position ('top left', 'centre', …) in media i."""
        scene = self.scenes[i]
        t = self.times[i] if self.times is not None else 0.0
        if name == "colour":
            return scene.colour_at(0, t)
        if name == "shape":
            return scene.objects[0].shape
        if name == "position":
            x, y = scene.position(0, t)
            return position_words(float(x), float(y))
        raise ValueError(f"unknown attribute {name!r}; use one of {ATTRIBUTES}")


def still_bank(split: str, n: int, config: WorldConfig | None = None, start: int = 0) -> MediaBank:
    """n stills (N, 1, H, W, 3), each at a moment when the first object is in view."""
    frames, scenes, times = [], [], []
    for k in range(start, start + n):
        scene = sample_scene(split, k, config)
        lo, hi = scene.visible_span(0)
        t = float(np.random.default_rng([k, 13]).uniform(lo, hi))
        frames.append(render_still(scene, t)[None])
        scenes.append(scene)
        times.append(t)
    return MediaBank(torch.from_numpy(np.stack(frames)), scenes, times)


def clip_bank(split: str, n: int, num_frames: int = 8, config: WorldConfig | None = None, start: int = 0) -> MediaBank:
    """n clips (N, T, H, W, 3) sampled at num_frames uniform times."""
    scenes = [sample_scene(split, k, config) for k in range(start, start + n)]
    frames = np.stack([render(s, uniform_times(s, num_frames)) for s in scenes])
    return MediaBank(torch.from_numpy(frames), scenes, None)


# ---- documents -------------------------------------------------------------------------------
def media_text(bank: MediaBank, i: int, rng: np.random.Generator, p_question: float = 0.5) -> str:
    """What follows one media item: its caption, or a question and its answer (stills)."""
    scene = bank.scenes[i]
    if bank.times is None:
        return caption(scene)
    t = bank.times[i]
    if rng.random() < p_question:
        qa = still_qa(scene, t, ("colour", "shape", "count")[int(rng.integers(3))], rng)
        if qa is not None:
            return f"question : {qa.question} answer : {qa.answer} ."
    return still_caption(scene, t)


def caption_document(bank: MediaBank, rng: np.random.Generator, num_media: int = 3,
                     p_question: float = 0.5) -> Document:
    """Several media in a row, each followed by its caption or a QA pair; sometimes text first."""
    items = [int(i) for i in rng.choice(len(bank), size=num_media, replace=False)]
    parts = ["look at these ."] if rng.random() < 0.3 else []
    for i in items:
        parts.append(f"{bank.marker} {media_text(bank, i, rng, p_question)}")
    return Document(" ".join(parts), items)


def attribute_episode(bank: MediaBank, rng: np.random.Generator, shots: int, attribute: str | None = None
                      ) -> tuple[Document, str]:
    """A few-shot episode whose task is set only by its examples: `shots` stills, each followed by
    one attribute of its object (the same attribute for the whole episode: colour, shape or
    position; random unless given), then a query still "<image>" whose answer is that attribute.
    With 0 shots nothing says which attribute is wanted.

    Returns (prompt document, answer). Training text: prompt.text + f" {answer} ."."""
    if shots + 1 > len(bank):
        raise ValueError(f"a {shots}-shot episode needs {shots + 1} different stills; the bank has {len(bank)}")
    attribute = attribute or ATTRIBUTES[int(rng.integers(len(ATTRIBUTES)))]
    media = [int(i) for i in rng.choice(len(bank), shots + 1, replace=False)]
    parts = [f"<image> {bank.attribute(i, attribute)} ." for i in media[:-1]] + ["<image>"]
    return Document(" ".join(parts), media), bank.attribute(media[-1], attribute)


def naming_episode(bank: MediaBank, rng: np.random.Generator, shots: int, ways: int = 3,
                   names: Sequence[str] = NAMES, index_by_colour: dict[str, list[int]] | None = None
                   ) -> tuple[Document, str]:
    """A few-shot episode: `ways` colours get random names from `names` (new for each episode);
    `shots` examples "<image> NAME ." (colours dealt round-robin, shuffled), then the query
    "<image>" whose answer is the name of the query image's colour. The format is that of the toy
    LM's text naming lists (`naming_text`) with each colour word replaced by an image.

    Returns (prompt document, answer). Training text: prompt.text + f" {answer} ."."""
    by_colour = index_by_colour or colour_index(bank)
    colours = [c for c in by_colour if len(by_colour[c]) >= 2]
    if len(colours) < ways or len(names) < ways:
        raise ValueError(f"need {ways} colours with ≥ 2 stills and {ways} names; got {len(colours)} and {len(names)}")
    chosen = [colours[k] for k in rng.choice(len(colours), ways, replace=False)]
    label = dict(zip(chosen, (names[k] for k in rng.choice(len(names), ways, replace=False))))
    support_colours = [chosen[k % ways] for k in range(shots)]
    rng.shuffle(support_colours)
    query_colour = chosen[int(rng.integers(ways))]
    parts, media = [], []
    for colour in [*support_colours, query_colour]:
        media.append(int(rng.choice(by_colour[colour])))
        parts.append(f"<image> {label[colour]} .")
    parts[-1] = "<image>"
    return Document(" ".join(parts), media), label[query_colour]


def colour_index(bank: MediaBank) -> dict[str, list[int]]:
    """{colour: bank indices whose first object has that colour}."""
    out: dict[str, list[int]] = {}
    for i in range(len(bank)):
        out.setdefault(bank.colour(i), []).append(i)
    return out


def complete(doc: Document, answer: str) -> Document:
    """The training form of an episode: the prompt with its answer and a full stop."""
    return Document(f"{doc.text} {answer} .", list(doc.media))


# ---- collation -------------------------------------------------------------------------------
def collate(tokenizer, docs: Sequence[Document], features: torch.Tensor, side: str = "right") -> dict[str, torch.Tensor]:
    """Documents → a batch for FlamingoVLM.

    features: the bank's cached vision features (N, 1, T, P, D) (`VLM.cache_features`).
    Returns input_ids, attention_mask, labels (B, L) — labels on text tokens only (not <bos>,
    markers or padding) —, vision_features (B, M, T, P, D) with zeros for missing media, and
    media_mask (B, M): True for real media. side: 'right' for training, 'left' for generation.
    """
    if side not in ("left", "right"):
        raise ValueError("side must be 'left' or 'right'")
    if features.ndim != 5 or features.shape[1] != 1:
        raise ValueError(f"features must be cached vision features (N, 1, T, P, D), got {tuple(features.shape)}")
    marker_ids = set(tokenizer.convert_tokens_to_ids(list(MEDIA_TOKENS)))
    encoded = [encode_document(tokenizer, d.text) for d in docs]
    for d, enc in zip(docs, encoded):
        if sum(i in marker_ids for i in enc.input_ids) != len(d.media):
            raise ValueError(f"tokenizing {d.text[:60]!r} gave a different number of markers than media")
        enc.labels[:] = [IGNORE_INDEX if i in marker_ids else label for i, label in zip(enc.input_ids, enc.labels)]
    batch = pad_batch(encoded, tokenizer.pad_token_id, side=side)
    num_media = max(1, max(len(d.media) for d in docs))
    vision = torch.zeros((len(docs), num_media, *features.shape[2:]), dtype=features.dtype)
    media_mask = torch.zeros((len(docs), num_media), dtype=torch.bool)
    for r, d in enumerate(docs):
        if d.media:
            vision[r, : len(d.media)] = features[d.media, 0]
            media_mask[r, : len(d.media)] = True
    return {**batch, "vision_features": vision, "media_mask": media_mask}


def document_batches(make_document: Callable[[np.random.Generator], Document], tokenizer, features: torch.Tensor,
                     batch_size: int, seed: int = 0) -> Iterator[dict[str, torch.Tensor]]:
    """Endless batches of freshly generated documents (deterministic by seed)."""
    rng = np.random.default_rng(seed)
    while True:
        yield collate(tokenizer, [make_document(rng) for _ in range(batch_size)], features)


def mix(iterators: Sequence[Iterator], weights: Sequence[float], seed: int = 0) -> Iterator:
    """Endless batches drawn from several iterators with the given probabilities."""
    rng = np.random.default_rng(seed)
    p = np.asarray(weights, dtype=float) / np.sum(weights)
    while True:
        yield next(iterators[int(rng.choice(len(iterators), p=p))])


__all__ = ["NAMES", "NAME_POOL", "ATTRIBUTES", "naming_text", "Document", "MediaBank", "still_bank", "clip_bank",
           "caption_document", "attribute_episode", "naming_episode",
           "colour_index", "complete", "collate", "document_batches", "mix", "media_text"]
