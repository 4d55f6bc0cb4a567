"""Conversations as token ids: the chat template, placeholder expansion and label masking.

A conversation is a list of messages `{"role": "system"|"user"|"assistant", "content": str}`
(the transformers format). Media appear in the text as placeholders (`<image>`, `<video>`,
`<audio>`). The template is deliberately plain:

    <bos> <system> … <user> <video> what colour is the circle ? <assistant> red <eos> <user> …

Only assistant replies (and the <eos> that ends them) are learned: every other label is -100.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from .lm import BOS, EOS, MEDIA_TOKENS

IGNORE_INDEX = -100
ROLES = ("system", "user", "assistant")

Message = dict[str, str]


def format_chat(messages: Sequence[Message], add_generation_prompt: bool = False) -> str:
    """The conversation as one string in the course's template."""
    parts = [BOS]
    for message in messages:
        role, content = message["role"], message["content"].strip()
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; use one of {ROLES}")
        parts.append(f"<{role}> {content}")
        if role == "assistant":
            parts.append(EOS)
    if add_generation_prompt:
        parts.append("<assistant>")
    return " ".join(parts)


@dataclass
class EncodedChat:
    """Token ids of one conversation; labels are -100 outside assistant replies."""

    input_ids: list[int]
    labels: list[int]


def count_placeholders(text: str) -> int:
    return sum(text.split().count(tok) for tok in MEDIA_TOKENS)


def encode_chat(tokenizer, messages: Sequence[Message], tokens_per_media: int | Sequence[int] = 1,
                num_media: int | None = None, add_generation_prompt: bool = False) -> EncodedChat:
    """Tokenize a conversation for a VLM (label masking built in notebook 03).

    Each media placeholder is expanded to `tokens_per_media` copies of itself (an int for all,
    or one count per placeholder in order), so the model can write that many visual
    embeddings into those slots. `num_media`, if given, is the number of media items that will
    come with this conversation; a mismatch with the placeholders raises a ValueError.
    """
    texts = [m["content"] for m in messages]
    n_placeholders = sum(count_placeholders(t) for t in texts)
    if num_media is not None and num_media != n_placeholders:
        raise ValueError(
            f"the prompt has {n_placeholders} media placeholder(s) ({'/'.join(MEDIA_TOKENS)}) but "
            f"{num_media} media item(s) were given; put exactly one placeholder in the text "
            "for each image, clip or audio track, in the order they are given"
        )
    counts = ([tokens_per_media] * n_placeholders if isinstance(tokens_per_media, int)
              else list(tokens_per_media))
    if len(counts) != n_placeholders:
        raise ValueError(f"got {len(counts)} token counts for {n_placeholders} placeholders")
    media_ids = set(tokenizer.convert_tokens_to_ids(list(MEDIA_TOKENS)))
    input_ids: list[int] = []
    labels: list[int] = []
    pieces = [(BOS, False)]
    for m in messages:
        if m["role"] not in ROLES:
            raise ValueError(f"unknown role {m['role']!r}; use one of {ROLES}")
        pieces.append((f"<{m['role']}>", False))
        learn = m["role"] == "assistant"
        pieces.append((m["content"].strip(), learn))
        if learn:
            pieces.append((EOS, True))
    if add_generation_prompt:
        pieces.append(("<assistant>", False))
    count_iter = iter(counts)
    for text, learn in pieces:
        ids = tokenizer(text, add_special_tokens=False).input_ids
        for i in ids:
            repeat = next(count_iter) if i in media_ids else 1
            input_ids.extend([i] * repeat)
            labels.extend([i if learn else IGNORE_INDEX] * repeat)
    return EncodedChat(input_ids, labels)


def encode_document(tokenizer, text: str) -> EncodedChat:
    """Tokenize plain text (no chat template) for language modelling: <bos>, then the text,
    with a label on every text token — how an LM is pretrained (Flamingo's collate then drops
    the media markers from the labels)."""
    ids = [tokenizer.convert_tokens_to_ids(BOS), *tokenizer(text, add_special_tokens=False).input_ids]
    return EncodedChat(ids, [IGNORE_INDEX, *ids[1:]])


def pad_batch(encoded: Sequence[EncodedChat], pad_id: int, side: str = "right",
              max_length: int | None = None) -> dict[str, torch.Tensor]:
    """Stack encoded conversations into tensors (B, L): input_ids, attention_mask, labels.

    Right padding for training; left padding for batched generation (the new tokens of every
    row then start at the same position).
    """
    if side not in ("left", "right"):
        raise ValueError("side must be 'left' or 'right'")
    length = max(len(e.input_ids) for e in encoded)
    if max_length is not None and length > max_length:
        raise ValueError(f"a conversation has {length} tokens, more than max_length={max_length}")
    ids = torch.full((len(encoded), length), pad_id, dtype=torch.long)
    labels = torch.full((len(encoded), length), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(encoded), length), dtype=torch.long)
    for row, e in enumerate(encoded):
        n = len(e.input_ids)
        cols = slice(0, n) if side == "right" else slice(length - n, length)
        ids[row, cols] = torch.tensor(e.input_ids)
        labels[row, cols] = torch.tensor(e.labels)
        mask[row, cols] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def qa_messages(question: str, answer: str | None = None, media: str | None = "<video>",
                system: str | None = None) -> list[Message]:
    """A one-question conversation: the media placeholder goes before the question."""
    messages: list[Message] = []
    if system:
        messages.append({"role": "system", "content": system})
    prompt = f"{media} {question}" if media else question
    messages.append({"role": "user", "content": prompt})
    if answer is not None:
        messages.append({"role": "assistant", "content": answer})
    return messages


def trim_padding(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Cut the columns that are padding in every row of a right-padded batch: a batch sliced
    from a data set padded to its longest example is often mostly padding."""
    length = int(batch["attention_mask"].sum(1).max())
    return {k: v[:, :length] if v.ndim >= 2 and v.shape[1] == batch["attention_mask"].shape[1] else v
            for k, v in batch.items()}
