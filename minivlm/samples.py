"""One dataset record and one collator, for every model of the family.

A `Sample` is media + text: a conversation (chat template, loss on the assistant's replies) or a
plain document (Flamingo's interleaved text, loss on every text token), with the media items
in placeholder order, and — for evaluation and analysis — the kind of item and its ground-truth
scene. `collate(model, samples)` turns a list of them into a padded batch for either fusion:
each placeholder is expanded to `model.placeholder_length(item)` slots (an item's token count
in the language stream, one marker token for cross-attention).

    batch = collate(model, samples)         # input_ids, attention_mask, labels (B, L), media
    loss = model(**batch).loss
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Iterator, Sequence

import numpy as np
import torch

from .chat import IGNORE_INDEX, EncodedChat, Message, encode_chat, encode_document, pad_batch
from .media import Media, check_media


@dataclass(frozen=True)
class Sample:
    """Media and text. messages: a conversation (list of {'role', 'content'}), or text: a plain
    document — exactly one of them. kind: what the item tests ('colour', 'caption', …);
    scene: its ground truth (a `minivlm.data.Scene`), when there is one; answer: the reference
    answer of a question (the last assistant reply, unless given)."""

    media: Sequence[Media]
    messages: Sequence[Message] | None = None
    text: str | None = None
    kind: str = ""
    scene: Any = field(default=None, repr=False)
    answer: str | None = None
    meta: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if (self.messages is None) == (self.text is None):
            raise ValueError("a Sample holds a conversation (messages) or a document (text), exactly one")
        object.__setattr__(self, "media", tuple(self.media))
        check_media(self.texts(), self.media)
        if self.answer is None and self.messages and self.messages[-1]["role"] == "assistant":
            object.__setattr__(self, "answer", self.messages[-1]["content"])

    def texts(self) -> list[str]:
        return [self.text] if self.text is not None else [m["content"] for m in self.messages]

    @property
    def question(self) -> str:
        """The last user turn without its placeholders (what the sample asks)."""
        if self.messages is None:
            raise ValueError("a document has no question")
        user = [m["content"] for m in self.messages if m["role"] == "user"][-1]
        return " ".join(w for w in user.split() if not w.startswith("<") or not w.endswith(">"))

    def prompt(self) -> Sample:
        """The sample without its final assistant reply: what a model answers."""
        if self.messages is None or self.messages[-1]["role"] != "assistant":
            return self
        return replace(self, messages=list(self.messages[:-1]))

    def with_media(self, media: Sequence[Media]) -> Sample:
        return replace(self, media=tuple(media))


def encode_sample(model, sample: Sample, add_generation_prompt: bool = False) -> EncodedChat:
    """Token ids and labels of one sample, each placeholder expanded for `model`."""
    counts = [model.placeholder_length(item) for item in model.prompt_media(sample.media)]
    if sample.messages is not None:
        return encode_chat(model.tokenizer, sample.messages, counts, add_generation_prompt=add_generation_prompt)
    encoded = encode_document(model.tokenizer, sample.text)
    media_ids = set(model.media_token_ids)
    ids, labels = [], []
    count = iter(counts)
    for i, label in zip(encoded.input_ids, encoded.labels):
        repeat = next(count) if i in media_ids else 1
        ids += [i] * repeat
        labels += [IGNORE_INDEX if i in media_ids else label] * repeat  # placeholders are never targets
    return EncodedChat(ids, labels)


def collate(model, samples: Sequence[Sample], side: str = "right",
            add_generation_prompt: bool = False) -> dict[str, Any]:
    """Samples → a batch: input_ids, attention_mask, labels (B, L) padded on `side` ('right' to
    train, 'left' to generate) and media (one tuple of Media per row)."""
    if not samples:
        raise ValueError("no samples to collate")
    encoded = [encode_sample(model, s, add_generation_prompt) for s in samples]
    batch = pad_batch(encoded, model.tokenizer.pad_token_id, side=side)
    return {**batch, "media": [s.media for s in samples]}


def sample_batches(model, samples: Sequence[Sample], batch_size: int, seed: int = 0) -> Iterator[dict[str, Any]]:
    """Endless shuffled training batches (epoch after epoch, deterministic by seed), each padded
    only to its own longest sample."""
    if not samples:
        raise ValueError("no samples to train on")
    g = torch.Generator().manual_seed(seed)
    size = min(batch_size, len(samples))
    while True:
        order = torch.randperm(len(samples), generator=g).tolist()
        for i in range(0, len(order) - size + 1, size):
            yield collate(model, [samples[j] for j in order[i:i + size]])


def mix(iterators: Sequence[Iterator], weights: Sequence[float], seed: int = 0) -> Iterator:
    """Endless batches drawn from several iterators with the given probabilities."""
    rng = np.random.default_rng(seed)
    p = np.asarray(weights, dtype=float) / np.sum(weights)
    while True:
        yield next(iterators[int(rng.choice(len(iterators), p=p))])


def precompute(model, samples: Sequence[Sample], batch_size: int = 64) -> list[Sample]:
    """The samples with every image and video carried by the model's (frozen) encoder features,
    computed once — items shared by several samples are encoded once."""
    rows = [model.prompt_media(s.media) for s in samples]  # each item as the model reads it in its prompt
    unique: dict[int, Media] = {}
    for row in rows:
        for item in row:
            if item.features is None:
                unique.setdefault(id(item), item)
    encoded = dict(zip(unique, model.precompute(list(unique.values()), batch_size)))
    return [s.with_media([encoded.get(id(item), item) for item in row]) for s, row in zip(samples, rows)]


def all_media(samples: Sequence[Sample]) -> list[Media]:
    """Every media item of the samples, each once (shared items are not repeated)."""
    seen: dict[int, Media] = {}
    for s in samples:
        for item in s.media:
            seen.setdefault(id(item), item)
    return list(seen.values())
