"""The language model: a causal LM from transformers and a word-level tokenizer for the toy world.

Offline, the course builds tiny Llama-style LMs from a config and a tokenizer trained locally
with `tokenizers`. Online, `load_lm("HuggingFaceTB/SmolLM2-135M")` takes the real path
(`AutoModelForCausalLM.from_pretrained`) and `add_course_tokens` adds the special tokens.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import torch
from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from .runtime import seeded


PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
ROLE_TOKENS = ("<system>", "<user>", "<assistant>")
MEDIA_TOKENS = ("<image>", "<video>", "<audio>")
NUM_TIME_TOKENS = 100


def time_tokens(n: int = NUM_TIME_TOKENS) -> list[str]:
    """LITA-style time tokens <t0> … <t{n-1}>: relative positions in a clip."""
    return [f"<t{i}>" for i in range(n)]


def special_tokens(num_time_tokens: int = NUM_TIME_TOKENS) -> list[str]:
    return [PAD, UNK, BOS, EOS, *ROLE_TOKENS, *MEDIA_TOKENS, *time_tokens(num_time_tokens)]


def build_tokenizer(corpus: Iterable[str] = (), num_time_tokens: int = NUM_TIME_TOKENS) -> PreTrainedTokenizerFast:
    """A word-level tokenizer over the toy world's words (+ any words in `corpus`).

    Word level keeps toy-world prompts short (byte-level BPE makes them ~4x longer). Text is
    lower-cased, split on spaces and punctuation (decimals like '2.5' stay one word); unknown
    words become <unk>. Special tokens: pad/unk/bos/eos, roles, <image> <video> <audio>, and
    time tokens.
    """
    from .data.text import vocabulary_words  # here, not at the top: the data layer imports this module

    words = set(vocabulary_words())
    splitter = pre_tokenizers.Split(Regex(r"\d+\.\d+|\w+|[^\w\s]"), behavior="isolated")
    for text in corpus:
        for piece, _ in splitter.pre_tokenize_str(text.lower()):
            if piece.strip():
                words.add(piece)
    specials = special_tokens(num_time_tokens)
    vocab = {tok: i for i, tok in enumerate([*specials, *sorted(words - set(specials))])}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    core.normalizer = normalizers.Lowercase()
    core.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), splitter])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token=PAD, unk_token=UNK, bos_token=BOS, eos_token=EOS,
        additional_special_tokens=[*ROLE_TOKENS, *MEDIA_TOKENS, *time_tokens(num_time_tokens)],
        clean_up_tokenization_spaces=False,
    )
    return tokenizer


def build_lm(tokenizer: PreTrainedTokenizerFast, hidden_size: int = 128, num_layers: int = 4,
             num_heads: int = 4, intermediate_size: int | None = None, max_positions: int = 1024,
             init_std: float = 0.02, seed: int = 0) -> LlamaForCausalLM:
    """A randomly initialised Llama-style causal LM sized for the CPU (defaults ≈ 1 M params).

    init_std: the weights' initial standard deviation (transformers' `initializer_range`). At
    width 128 the usual 0.02 leaves attention nearly uniform for a long time, and induction heads
    (copying from context) form late; the zoo uses 0.08."""
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden_size, num_hidden_layers=num_layers,
        num_attention_heads=num_heads, num_key_value_heads=num_heads,
        intermediate_size=intermediate_size or 4 * hidden_size, max_position_embeddings=max_positions,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, tie_word_embeddings=True, initializer_range=init_std,
    )
    with seeded(seed):
        return LlamaForCausalLM(config)


def position_ids(attention_mask: torch.Tensor) -> torch.Tensor:
    """Position of each token counting real tokens only, so a left-padded prompt gets the same
    positions as the prompt alone (padding sits at 0). (B, L) → (B, L) long."""
    return (attention_mask.long().cumsum(1) - 1).clamp_min(0)


class ModelNotAvailable(OSError):
    """A named model could not be loaded (offline, or no such name); the message says what to do."""


def load_lm(name_or_path: str | Path, dtype: torch.dtype | None = None):
    """Load a causal LM and its tokenizer by transformers model id or local folder.

    The real path: `AutoModelForCausalLM.from_pretrained`. Course special tokens are added
    (and embeddings resized) when the tokenizer lacks them.
    """
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(name_or_path))
        lm = AutoModelForCausalLM.from_pretrained(str(name_or_path), dtype=dtype)
    except (OSError, ValueError) as err:
        raise ModelNotAvailable(
            f"could not load the language model {str(name_or_path)!r}: it is not a local folder with "
            "a saved model, and it could not be fetched (offline, or no such model id). Offline, use "
            "minivlm.zoo.toy_lm() or build_lm(); online, check the transformers model id."
            f" (transformers said: {str(err).splitlines()[0][:200]})"
        ) from None
    add_course_tokens(tokenizer, lm)
    return lm, tokenizer


def add_course_tokens(tokenizer, lm=None, num_time_tokens: int = NUM_TIME_TOKENS) -> int:
    """Add the course's special tokens to a (real) tokenizer, and resize `lm`'s embeddings.
    Returns how many tokens were added."""
    missing = [t for t in special_tokens(num_time_tokens) if t not in tokenizer.get_vocab()]
    added = 0
    if missing:
        extra = {}
        if tokenizer.pad_token is None:
            extra["pad_token"] = PAD
        added = tokenizer.add_special_tokens({**extra, "additional_special_tokens": [t for t in missing if t != PAD]})
    if lm is not None and lm.get_input_embeddings().num_embeddings < len(tokenizer):
        lm.resize_token_embeddings(len(tokenizer))
    return added
