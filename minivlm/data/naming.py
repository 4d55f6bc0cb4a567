"""Naming lists: arbitrary names given to colour and shape words, only within one text.

"red thud . blue two . red thud ." — a key's name is predictable only by finding where the key
came before and copying what followed: the induction pattern behind in-context learning
(Olsson et al., 2022). The toy LM is pretrained on such lists (`minivlm.zoo`); Flamingo's
naming episodes (`minivlm.interleaved`) put an image where the key word stands here.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .world import COLOURS, SHAPES

# Borrowed words used as made-up names: the toy LM has learned to read and write each of them.
NAMES = ("one", "two", "three", "four", "left", "right", "up", "down", "click", "ding", "thud")
# The wider pool of names in the toy LM's text-only naming lists (its "in-context learning"
# pretraining); the episodes' NAMES are among them.
NAME_POOL = (*NAMES, "five", "six", "zero", "top", "bottom", "centre", "side", "wall", "sound", "time",
             "frame", "scene", "picture", "clip", "word", "detail", "number", "moment", "way", "sentence")
NAMING_KEYS = (*COLOURS, *SHAPES)


def naming_text(rng: np.random.Generator, max_items: int = 12, keys: Sequence[str] = NAMING_KEYS,
                names: Sequence[str] = NAME_POOL) -> str:
    """A naming list in words, for pretraining the toy LM: "red thud . blue two . red thud ."
    Each list gives 2–4 keys (colour or shape words) random names, then repeats keys (between
    ways + 1 and `max_items` items in all)."""
    ways = int(rng.integers(2, 5))
    chosen = [keys[k] for k in rng.choice(len(keys), ways, replace=False)]
    label = dict(zip(chosen, (names[k] for k in rng.choice(len(names), ways, replace=False))))
    order = [chosen[int(rng.integers(ways))] for _ in range(int(rng.integers(ways + 1, max_items + 1)))]
    return " ".join(f"{key} {label[key]} ." for key in order)


def naming_prompt(rng: np.random.Generator, shots: int, ways: int = 3, keys: Sequence[str] = COLOURS,
                  names: Sequence[str] = NAMES) -> tuple[str, str]:
    """A few-shot naming test in words, laid out like Flamingo's naming episodes: `ways` keys get
    random names, `shots` examples "KEY NAME ." (keys dealt round-robin, shuffled), then a query
    key. Returns (prompt, answer): "red thud . blue two . green up . red" → "thud"."""
    keys = list(keys)
    chosen = [keys[k] for k in rng.choice(len(keys), ways, replace=False)]
    label = dict(zip(chosen, (names[k] for k in rng.choice(len(names), ways, replace=False))))
    support = [chosen[k % ways] for k in range(shots)]
    rng.shuffle(support)
    query = chosen[int(rng.integers(ways))]
    return " ".join([*(f"{key} {label[key]} ." for key in support), query]), label[query]
