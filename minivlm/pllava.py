"""PLLaVA (Xu et al., 2024): an image model extended to video by pooling, tuned with LoRA.
Built in notebook 08.

PLLaVA starts from an image-language model (LLaVA-NeXT, one base view per frame), reads 16
frames, and puts an adaptive average pool after the projector that shrinks each frame's
24 × 24 tokens to 12 × 12 but keeps every frame (`minivlm.reducers.AdaptivePool`, 16 × 12 × 12
tokens): in its ablation, pooling over space cost little and pooling over time always hurt. The
LM is tuned through LoRA adapters on q_proj and v_proj (rank 128, alpha 32, dropout 0.05) with
the projector; at evaluation the adapters are scaled down ("post-optimisation": alpha 4 instead
of 32, `VLM.set_lora_scale`), which leans the model back towards the image LM it started from.

Its diagnosis of naive image-to-video extension (concatenating every frame's tokens): a few
high-norm "dominant" visual tokens, answers that collapse when only the prompt's role tags
change, and a score that fell when the training data grew. This module holds the preset, the
stage, prompt templates the model never saw in training (`PROMPT_TEMPLATES`, `with_template`,
`template_accuracy`), the visual tokens' norms (`token_norms`, `dominance`) and the exercise
checks of notebook 08 (`check_adaptive_pool`, `check_lora`):

    model = build("pllava")                       # 8 frames × 2 × 2 tokens, LoRA on the LM
    model.fit_standardizer(all_media(train))
    run_stage(model, TUNE, train)                 # projector + LoRA
    model.set_lora_scale(POST_ALPHA)              # post-optimisation, before evaluating
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn

from .checks import compare, difference, report
from .config import LoraSpec, VLMConfig
from .eval import accuracy_by_kind
from .lora import add_lora, merge_lora
from .media import Media
from .reducers import AdaptivePool
from .samples import Sample, collate
from .stages import Stage

# The paper's LoRA is rank 128 on a 4096-wide LM (1/32 of the width) with alpha/rank = 1/4;
# the toy LM is 128 wide: rank 8 (enough to learn at toy scale), the same alpha/rank.
LORA = LoraSpec(rank=8, alpha=2.0, dropout=0.05, targets=("q_proj", "v_proj"))
POST_ALPHA = LORA.alpha / 8  # the paper evaluates at alpha 4 of a trained 32

# Keep every frame, halve each side of the 4 × 4 patch grid, after the MLP projector.
PLLAVA = VLMConfig(name="pllava", reducer="adaptive_pool", reducer_args={"time": None, "height": 2, "width": 2},
                   connector="mlp", reduce_after_connector=True, lora=LORA)
PRESETS = {"pllava": PLLAVA}

# The projector and the LM's adapters train; the encoder and the LM's own weights stay frozen.
TUNE = Stage("pllava · video instructions", train=("vision_tokenizer", "lora"), data="clips", steps=300, lr=6e-3,
             batch_size=16)

# Question kinds of notebook 08: three a single frame answers, two that need the frames' order.
KINDS = ("colour", "shape", "count", "direction", "order")
TEMPORAL_KINDS = ("direction", "order")

# How a question is put to the model. Training uses the first; the others change only the
# wrapping — the role tags (PLLaVA's OOD prompt changed "USER:" to "Human:"), a system turn,
# the placeholder's place, a phrase before the question.
PROMPT_TEMPLATES = {
    "trained": "<user> {media} {question} <assistant>",
    "role words": "human : {media} {question} <assistant>",
    "system turn": "<system> you are a model that can see the video . <user> {media} {question} <assistant>",
    "media last": "<user> {question} {media} <assistant>",
    "rephrased": "<user> {media} look at the video and answer : {question} <assistant>",
}


def pooled(config: VLMConfig, time: int | None, height: int, width: int | None = None) -> VLMConfig:
    """The config with PLLaVA's pooling to a (time, height, width) grid (width defaults to height);
    named after the shape, e.g. 'pool 8×2×2'."""
    width = height if width is None else width
    shown = "all" if time is None else time
    return config.replace(name=f"pool {shown}×{height}×{width}", reducer="adaptive_pool",
                          reducer_args={"time": time, "height": height, "width": width})


def with_template(samples: Sequence[Sample], template: str) -> list[Sample]:
    """Each one-question sample as a prompt in `template` (a key of PROMPT_TEMPLATES or a format
    string with {media} and {question}): a plain document ending where the answer starts, with
    the same media, kind, scene and answer."""
    form = PROMPT_TEMPLATES.get(template, template)
    out = []
    for s in samples:
        turns = s.prompt().messages
        if turns is None or len(turns) != 1:
            raise ValueError("with_template takes one-question samples (one user turn, then the answer)")
        media = " ".join(item.placeholder for item in s.media)
        text = form.format(media=media, question=s.question)
        out.append(Sample(s.media, text=text, kind=s.kind, scene=s.scene, answer=s.answer, meta=s.meta))
    return out


@torch.no_grad()
def template_accuracy(model, samples: Sequence[Sample], template: str = "trained", batch_size: int = 64,
                      max_new_tokens: int = 8) -> dict[str, float]:
    """Exact-match accuracy per kind (and 'all') of greedy answers to one-question samples asked
    in `template` (see `with_template`). The 'trained' template gives the same ids as the chat
    template with its generation prompt, so it equals `minivlm.eval.evaluate`."""
    prompts = with_template(samples, template)
    predictions = []
    for start in range(0, len(prompts), batch_size):
        batch = collate(model, prompts[start:start + batch_size], side="left")
        out = model.generate(batch["input_ids"], batch["attention_mask"], batch["media"],
                             max_new_tokens=max_new_tokens)
        predictions += [model.decode(row) for row in out]
    return accuracy_by_kind(predictions, [s.answer for s in samples], [s.kind for s in samples])


@torch.no_grad()
def token_norms(model, items: Sequence[Media]) -> list[torch.Tensor]:
    """The L2 norm of every visual token the LM reads (the vision tokenizer's output), one (N_i,)
    tensor per item."""
    return [tokens.norm(dim=-1).cpu() for tokens in model.encode_media(list(items))]


def dominance(norms: Sequence[torch.Tensor]) -> float:
    """How much the largest token stands out: the mean over items of max norm / median norm
    (1 when every token has the same norm; PLLaVA's "dominant tokens" make it large)."""
    return float(torch.stack([n.max() / n.median().clamp_min(1e-8) for n in norms]).mean())


def trainable_parameters(model, parts: Sequence[str]) -> int:
    """How many weights the named parts hold (each parameter counted once)."""
    seen = {id(p): p.numel() for part in parts for p in model.part_parameters(part)}
    return sum(seen.values())


# ---- exercise checks (notebook 08) -------------------------------------------------------------
def check_adaptive_pool(fn: Callable[[torch.Tensor, int, int, int], torch.Tensor]) -> bool:
    """Exercise 1: fn(x, time, height, width), x (B, T, P, D) frame tokens on a square grid →
    (B, time·height·width, D), must equal `AdaptivePool(time, height, width)`."""
    hand_made = torch.arange(2 * 4 * 16 * 2, dtype=torch.float32).reshape(2, 4, 16, 2)
    g = torch.Generator().manual_seed(8)
    cases = [(hand_made, 2, 2, 2), (hand_made, 4, 1, 1), (hand_made, 1, 4, 4),
             (torch.randn(3, 8, 16, 5, generator=g), 8, 2, 2), (torch.randn(1, 6, 36, 3, generator=g), 3, 2, 3)]
    return compare("adaptive pooling over time × height × width", fn,
                   lambda x, t, h, w: AdaptivePool(t, h, w)(x), cases)


def check_lora(apply: Callable[..., torch.Tensor], merge: Callable[..., torch.Tensor]) -> bool:
    """Exercise 2: apply(x, weight, lora_A, lora_B, alpha) → x Wᵀ + (alpha / r) · x Aᵀ Bᵀ, and
    merge(weight, lora_A, lora_B, alpha) → W + (alpha / r) · B A, both against peft's adapter
    on an nn.Linear (r = lora_A.shape[0]; x (N, in), W (out, in), A (r, in), B (out, r))."""

    def check():
        for seed, (d_in, d_out, rank, alpha) in enumerate([(6, 4, 2, 4.0), (8, 8, 4, 1.0), (5, 7, 3, 12.0)]):
            g = torch.Generator().manual_seed(seed)
            holder = nn.Module()
            holder.q_proj = nn.Linear(d_in, d_out, bias=False)
            add_lora(holder, LoraSpec(rank=rank, alpha=alpha, targets=("q_proj",)))
            layer = holder.q_proj
            with torch.no_grad():  # B starts at 0 in LoRA; give both factors values to test with
                for p in layer.parameters():
                    p.copy_(torch.randn(p.shape, generator=g))
            weight = layer.get_base_layer().weight.detach().clone()
            a, b = layer.lora_A["default"].weight.detach(), layer.lora_B["default"].weight.detach()
            x = torch.randn(3, d_in, generator=g)
            shown = f"(in={d_in}, out={d_out}, r={rank}, alpha={alpha})"
            with torch.no_grad():
                problem = difference(apply(x, weight, a, b, alpha), layer(x), atol=1e-4)
            if problem:
                return f"applying the adapter {shown}: {problem}"
            got = merge(weight.clone(), a.clone(), b.clone(), alpha)
            merge_lora(holder)
            problem = difference(got, holder.q_proj.weight.detach(), atol=1e-4)
            if problem:
                return f"merging the adapter {shown}: {problem}"
        return None

    return report("LoRA: apply, then merge", check)


__all__ = ["KINDS", "LORA", "PLLAVA", "POST_ALPHA", "PRESETS", "PROMPT_TEMPLATES", "TEMPORAL_KINDS", "TUNE",
           "check_adaptive_pool", "check_lora", "dominance", "pooled", "template_accuracy", "token_norms",
           "trainable_parameters", "with_template"]
