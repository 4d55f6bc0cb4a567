# %% [markdown]
# # 02 · Flamingo: a frozen language model that learns to look
#
# **Flamingo** (DeepMind, 2022) was the first model that could be *shown* a few image–text examples
# in its prompt and then do the same thing for a new image — **in-context few-shot learning**,
# the trick GPT-3 had made famous for text. Its recipe:
#
# - keep a big pretrained **language model frozen** (Chinchilla, 70 B parameters) and a pretrained
#   **vision encoder frozen** (NFNet-F6);
# - turn every image or video into a fixed number of visual tokens with a **Perceiver Resampler**
#   (64 learned queries that cross-attend to all frames' features, plus learned time embeddings);
# - between the frozen LM layers, insert new **GATED XATTN-DENSE** blocks: the text cross-attends
#   to the visual tokens, and the result is added through a gate `tanh(α)` with **α = 0 at
#   initialisation**, so on step 0 the model *is* the frozen LM;
# - train only the new parts on web pages where images and text are **interleaved** (M3W: 43 M
#   pages), plus image–text and video–text pairs. Each text token sees only the visual tokens of the
#   image that came last before it.
#
# Figures of merit (Flamingo-80B): on VQAv2, 56.3 % zero-shot → 67.6 % with 32 examples in the
# prompt; COCO captioning CIDEr 84.3 → 113.8. With 32 shots it beat the *fine-tuned* state of the art
# on 6 of 16 benchmarks, using no task-specific training at all. The ablations (Table 3 of the paper,
# Flamingo-3B) show why the design matters: without the tanh gating the overall score dropped from 70.7
# to 66.5, and fine-tuning the LM instead of freezing it dropped it to 62.7 (the LM forgets).
#
# In this notebook we build each part, train a miniature Flamingo on interleaved toy-world documents
# — with the toy LM and the toy CLIP both frozen — and test the headline: does accuracy on a task
# defined **only in the prompt** rise with the number of shots?

# %%
# Setup: installs the course package when it is not importable yet (e.g. on Colab).
try:
    import minivlm
except ImportError:
    %pip install -q "minivlm @ git+https://github.com/minivlm/minivlm"
    import minivlm

# %%
import dataclasses
import tempfile
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from minivlm import build, fast_mode, interleaved, pick, plot, seed_everything, zoo
from minivlm.cross_attention import (GatedCrossAttentionBlock, decoder_layers, media_attention_mask, media_index,
                                     tanh_gated_residual)
from minivlm.data import COLOURS, WorldConfig
from minivlm.eval import evaluate
from minivlm.flamingo import FLAMINGO, PRETRAIN, check_media_index, check_media_mask
from minivlm.lm import position_ids
from minivlm.resampler import PerceiverResampler
from minivlm.results import Record, direction, interval, verdict
from minivlm.samples import Sample, collate
from minivlm.stages import run_stage
from minivlm.vlm import VLM

record = Record("02")  # this notebook's measured figures → results/02.json in full mode
seed_everything(0)
torch.set_num_threads(max(1, torch.get_num_threads()))
print("fast mode:", fast_mode())

# %% [markdown]
# ## 1 · Interleaved documents and the few-shot task
#
# Flamingo learned from documents in which images and text alternate. Our toy documents do the same
# with stills and clips of the toy world: captions, questions with answers, and two kinds of
# few-shot **episodes**. A document is a plain `Sample` (`minivlm.samples`): its text, with an
# `<image>` or `<video>` placeholder where each media item stands, and the media beside it, in order.
# The media come from `interleaved.render_stills` / `render_clips`: a list of `Media` records and,
# beside it, the scene each one was rendered from (its ground truth).
#
# An **attribute episode** is the headline task. A few example images, each followed by one word
# about it, then a new image: "<image> *circle* . <image> *square* . <image>". The examples are the
# only thing that says *what* to say about the new image — its colour, its shape, or where it is
# (`interleaved.ATTRIBUTES`). This is the kind of task Flamingo's few-shot numbers measure: on VQAv2
# or COCO, the examples in the prompt show the model what is being asked and in what form to answer.
# Without examples the model can only guess the attribute: if it saw the image perfectly, that
# guess is right 1 time in 3.

# %%
one_object = WorldConfig(max_objects=1)
stills = interleaved.render_stills("train", pick(1500, 60), one_object)  # (list of Media, list of scenes)
rng = np.random.default_rng(0)
episode = interleaved.attribute_episode(*stills, rng, shots=4)
print(episode.text, "→", episode.answer, f"({episode.kind})")
plot.show_frames(np.stack([item.pixels[0].numpy() for item in episode.media]),
                 title="a 4-shot attribute episode: 4 examples, then the query");

# %% [markdown]
# A **naming episode** is harder. Each episode invents its *own* names for three colours and shows
# them only in the prompt — "<image> *thud* ." after every red object, "<image> *two* ." after every
# blue one — then shows a new image to name. The names are borrowed words the toy LM already reads
# and writes (`interleaved.NAMES`), with meanings that change from episode to episode. Here the
# prompt defines not only the task but the answers themselves; guessing one of the three names
# gives 1/3.

# %%
episode = interleaved.naming_episode(*stills, rng, shots=4)
print(episode.text, "→", episode.answer, "| colours:", episode.meta["colours"])
print("training form:", interleaved.complete(episode).text)

# %%
print(interleaved.caption_document(*stills, rng, num_media=3).text)

# %% [markdown]
# ## 2 · The Perceiver Resampler, from scratch
#
# The vision encoder gives P patch tokens per frame; a clip of T frames gives T·P tokens — too many
# and too variable to hand to an LM. The **Perceiver Resampler** fixes the number: a set of N learned
# **latent** vectors are the queries of a cross-attention whose keys and values are *all* the frames'
# tokens (and the latents themselves). Before that, a learned **temporal embedding** is added to every
# token of frame t, so the latents can tell frames apart. A few layers of (attention + feed-forward),
# and any input becomes N tokens.

# %%
class TinyResampler(nn.Module):
    def __init__(self, dim, num_latents=4, depth=2, heads=4, max_frames=8):
        super().__init__()
        self.latents = nn.Parameter(torch.randn(num_latents, dim) * 0.02)
        self.time = nn.Parameter(torch.randn(max_frames, 1, dim) * 0.02)  # one vector per frame index
        self.attn = nn.ModuleList(nn.MultiheadAttention(dim, heads, batch_first=True) for _ in range(depth))
        self.ff = nn.ModuleList(nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, 2 * dim), nn.GELU(),
                                              nn.Linear(2 * dim, dim)) for _ in range(depth))

    def forward(self, x):  # x (B, T, P, D) → (B, num_latents, D)
        x = (x + self.time[: x.shape[1]]).flatten(1, 2)  # add time, then flatten space and time: (B, T·P, D)
        lat = self.latents.expand(len(x), -1, -1)
        for attn, ff in zip(self.attn, self.ff):
            kv = torch.cat([x, lat], dim=1)  # keys/values: the media tokens and the latents
            lat = lat + attn(lat, kv, kv, need_weights=False)[0]
            lat = lat + ff(lat)
        return lat


tiny = TinyResampler(dim=32)
for frames in (1, 3, 8):
    print(f"{frames} frame(s) × 16 patches → {tuple(tiny(torch.randn(2, frames, 16, 32)).shape)}")

# %% [markdown]
# The package's `PerceiverResampler` (`minivlm.resampler`) is the same idea with pre-norm attention
# (as in Flamingo and OpenFlamingo) and a switch for the temporal embeddings. Without them, the
# resampler sees a clip as a *set* of tokens: playing the clip backwards gives exactly the same
# output, and "moves left" could not be told from "moves right".

# %%
resampler = PerceiverResampler(32, num_latents=4, temporal=False)
clip_tokens = torch.randn(1, 6, 16, 32)
print("without temporal embeddings, reversed clip gives the same tokens:",
      torch.allclose(resampler(clip_tokens), resampler(clip_tokens.flip(1)), atol=1e-5))
resampler = PerceiverResampler(32, num_latents=4, temporal=True)
print("with temporal embeddings:", torch.allclose(resampler(clip_tokens), resampler(clip_tokens.flip(1)), atol=1e-5))

# %% [markdown]
# ## 3 · Which image does each word see? The media mask
#
# In a document `a <image> red . <image> blue`, Flamingo lets each text token cross-attend to the
# visual tokens of **one** media only: the last one at or before it (the `<image>` marker itself
# belongs to its image). Text before the first image sees no image at all. Earlier images still
# influence later text — through the LM's own self-attention over the text.
#
# ### Exercise 1 — the media index
# Write `my_media_index(input_ids, media_ids)`: for token ids `(B, L)`, return a `(B, L)` long tensor
# whose entry is the number (1, 2, …) of the most recent media marker at or before that position,
# 0 if there is none. `media_ids` is a list of the marker token ids. Hint: `torch.isin`, `cumsum`.

# %%
def my_media_index(input_ids: torch.Tensor, media_ids: list[int]) -> torch.Tensor:
    # BEGIN SOLUTION
    is_marker = torch.isin(input_ids, torch.tensor(media_ids))
    return is_marker.long().cumsum(dim=1)
    # END SOLUTION


# %%
lm, tokenizer = zoo.toy_lm()
marker_ids = tokenizer.convert_tokens_to_ids(["<image>", "<video>", "<audio>"])
example = tokenizer(["a <image> red . <image> blue <video> x", "<image> <image> one two three four five six"],
                    add_special_tokens=False, return_tensors="pt").input_ids
index_fn = my_media_index if check_media_index(my_media_index, marker_ids) else media_index  # yours, once right

# %% [markdown]
# ### Exercise 2 — the media attention mask
# From the index, the cross-attention mask follows: token *i* may attend to the visual tokens of
# media `index[i]` and to no other. The visual tokens come as M media × N tokens each, flattened to
# M·N keys (media 1's N tokens first), and a `(B, M, N)` bool `visual_mask` says which are real:
# items of one batch may give different numbers of tokens, and padding must never be attended to.
# Write `my_media_mask(index, visual_mask)` → `(B, L, M·N)` bool. (A token with index 0 gets an
# all-False row: it sees no image.) Hint: number each key by its media, 1…M, with
# `repeat_interleave`.

# %%
def my_media_mask(index: torch.Tensor, visual_mask: torch.Tensor) -> torch.Tensor:
    # BEGIN SOLUTION
    b, m, n = visual_mask.shape
    media_of_key = torch.arange(1, m + 1).repeat_interleave(n)  # (M·N,): which media each key belongs to
    return (index[:, :, None] == media_of_key) & visual_mask.reshape(b, 1, m * n)
    # END SOLUTION


# %%
mask_ok = check_media_mask(my_media_mask)
media_mask = my_media_mask if mask_ok else media_attention_mask  # yours from here on, once it is right

# %% [markdown]
# Here is the mask for the first example, with 2 visual tokens per media:

# %%
words = tokenizer.convert_ids_to_tokens(example[0])
mask = media_mask(index_fn(example, marker_ids), torch.ones(2, 3, 2, dtype=torch.bool))[0]
plt.figure(figsize=(4, 3))
plt.imshow(mask.int(), cmap="Greens")
plt.yticks(range(len(words)), words)
plt.xticks(range(6), ["img1", "img1", "img2", "img2", "vid3", "vid3"])
plt.title("which visual tokens each text token sees", fontsize=9);

# %% [markdown]
# ## 4 · The gated cross-attention block
#
# A GATED XATTN-DENSE block adds two things to the LM's residual stream, each through its own gate:
#
#     x = x + tanh(α_xattn) · CrossAttention(x, visual, mask)
#     x = x + tanh(α_dense) · FeedForward(x)
#
# With α = 0, tanh(α) = 0 and the block is the identity: the frozen LM runs exactly as before, so
# training starts from a model that already speaks well. The gates open as the new weights learn
# something useful. (The package's `tanh_gated_residual(x, update, alpha)` is that one line.)
#
#     text x ─┬──────────────────────────────(+)──┬─────────────────────(+)──► frozen LM layer
#             └─► LayerNorm ─► cross-attn ─► × tanh(α_xattn)   └─► FFN ─► × tanh(α_dense)
#                               ▲ keys/values: visual tokens of *its* media (the mask above)
#
# A whole block from scratch, using `tanh_gated_residual` and your media mask:

# %%
class TinyGatedBlock(nn.Module):
    def __init__(self, dim, heads=4):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.xattn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.ff = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        self.alpha_xattn = nn.Parameter(torch.zeros(1))
        self.alpha_dense = nn.Parameter(torch.zeros(1))

    def forward(self, x, visual, index):  # x (B, L, D), visual (B, M, N, D), index (B, L)
        b, m, n, d = visual.shape
        allowed = media_mask(index, torch.ones(b, m, n, dtype=torch.bool))  # (B, L, M·N)
        blocked = ~allowed | ~allowed.any(-1, keepdim=True).expand_as(allowed)  # no media: block all …
        blocked[..., 0] &= allowed.any(-1)  # … but keep one key so softmax stays finite
        att = self.xattn(self.norm(x), visual.reshape(b, m * n, d), visual.reshape(b, m * n, d),
                         attn_mask=blocked.repeat_interleave(self.xattn.num_heads, 0), need_weights=False)[0]
        att = att * allowed.any(-1, keepdim=True)  # text before any media gets nothing
        x = tanh_gated_residual(x, att, self.alpha_xattn)
        return tanh_gated_residual(x, self.ff(x), self.alpha_dense)


block = TinyGatedBlock(32)
x, visual = torch.randn(2, 7, 32), torch.randn(2, 2, 4, 32)
index = torch.tensor([[0, 1, 1, 1, 2, 2, 2], [1, 1, 1, 1, 1, 1, 1]])
print("α = 0 → output equals input:", torch.equal(block(x, visual, index), x))
with torch.no_grad():
    block.alpha_xattn.fill_(1.0)
print("α = 1 → first token (no media) unchanged:", torch.equal(block(x, visual, index)[0, 0], x[0, 0]),
      "| later tokens changed:", not torch.allclose(block(x, visual, index)[0, 1:], x[0, 1:]))

# %% [markdown]
# The package's `GatedCrossAttentionBlock` (`minivlm.cross_attention`) is this block with its own
# masked attention (`MaskedCrossAttention`, on torch's `scaled_dot_product_attention`) and the same two
# gates; it takes the visual tokens flattened to (B, M·N, D) and the mask itself. From here on we use
# it. The same check:

# %%
package_block = GatedCrossAttentionBlock(32)
package_mask = media_attention_mask(index, torch.ones(2, 2, 4, dtype=torch.bool))
print("package block, α = 0 → output equals input:",
      torch.equal(package_block(x, visual.flatten(1, 2), package_mask), x))

# %% [markdown]
# ## 5 · Putting it together around the frozen toy LM
#
# Flamingo is a preset, `FLAMINGO` (in `minivlm.flamingo`): one config of the cross-attention family,
# and `build("flamingo")` makes it on the zoo's toy CLIP and toy LM (a transformers Llama). The model
# owns copies of those bases, so the `lm` we loaded above stays a plain LM. It **wraps** each of its
# LM's decoder layers (`CrossAttentionLayer`: gated block first, then the untouched decoder layer) — no
# fork of transformers. `cross_attn_every=1` puts a block before every layer, as in Flamingo-3B
# (Flamingo-80B: every 7th). A built model starts fully frozen; a training stage names the parts that
# learn: Flamingo's, `PRETRAIN`, trains the resampler with its projection ('vision_tokenizer') and the
# blocks ('cross_attention').

# %%
model = build("flamingo")
print(FLAMINGO)
print(PRETRAIN)
print({name: f"{sum(p.numel() for p in params) / 1e6:.3f} M" for name, params in model.parts().items()})
layer = decoder_layers(model.lm)[0]
print(type(layer).__name__, "→ wraps", type(layer.decoder_layer).__name__)
print("gates at initialisation, tanh(α):", sorted(set(model.gate_values().values())))

# %% [markdown]
# The data: single-object stills for the episodes, two-object stills for captions and questions, and
# 6-frame clips of one moving object ("a red circle moves left ."). The vision encoder is frozen, so we
# compute its features once (`model.precompute`: each item is then carried by its features instead of
# its pixels, and every document built from it is precomputed too) and fit the per-channel
# standardiser on them — an explicit step, as everything that changes a model is.

# %%
start = time.perf_counter()
NUM_FRAMES = 6
mover = WorldConfig(max_objects=1, p_static=0, p_appear=0, p_disappear=0, p_stop=0, p_change=0)
banks = {
    "stills": stills,
    "stills_test": interleaved.render_stills("test", pick(300, 40), one_object),
    "pairs": interleaved.render_stills("train", pick(600, 40), WorldConfig(max_objects=2), start=50_000),
    "clips": interleaved.render_clips("train", pick(400, 40), NUM_FRAMES, mover),
}
encoded = {name: (model.precompute(media), scenes) for name, (media, scenes) in banks.items()}
standardiser_items = encoded["stills"][0] + encoded["clips"][0]
model.fit_standardizer(standardiser_items)
print({name: f"{len(media)} × {tuple(media[0].features.shape)}" for name, (media, _) in encoded.items()},
      f"in {time.perf_counter() - start:.0f} s")

# %% [markdown]
# Now the claim: at initialisation, with images in the prompt, the model's logits equal the frozen LM's
# logits **bit for bit** (`torch.equal`, not just close). `collate` turns documents into a batch:
# token ids with one marker token per media item, labels on every text token, and each row's media.

# %%
batch = collate(model, [interleaved.complete(interleaved.naming_episode(*encoded["stills"], rng, 3))
                        for _ in range(4)])
with torch.no_grad():
    flamingo_logits = model(**batch).logits
    lm_logits = lm(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
print("identical to the frozen LM:", torch.equal(flamingo_logits, lm_logits))

# %% [markdown]
# ## 6 · Training on interleaved documents
#
# The training set mixes four document kinds: attribute episodes and naming episodes (1–8 shots
# each), captions/QA over two-object stills, and captions over clips. The loss is next-token
# prediction on every text token (Flamingo's objective; media markers excluded). `run_stage` trains
# the parts the stage names — the gates at 10 × the learning rate (`lr_scale`): a gate starts at 0
# and Adam moves it by about the learning rate per step, so in a toy run's few hundred steps it could
# hardly open otherwise. Every few steps we log every gate (`model.gate_values()`).

# %%
# The knob of the budget: full mode is meant to stay within 5 minutes on 2 CPU cores (9 trainings: 3 seeds × 3 variants).
STAGE = dataclasses.replace(PRETRAIN, steps=pick(PRETRAIN.steps, 6), batch_size=pick(PRETRAIN.batch_size, 8))
by_colour = interleaved.colour_index(*encoded["stills"])


def training_documents(seed=0):
    """steps × batch_size documents: attribute episodes, naming episodes, captions/QA of pairs and
    captions of clips in the proportions 35 : 20 : 15 : 30, all on precomputed media."""
    r = np.random.default_rng(seed)
    n = STAGE.steps * STAGE.batch_size
    kinds = [
        (0.35, lambda: interleaved.complete(interleaved.attribute_episode(*encoded["stills"], r, int(r.integers(1, 9))))),
        (0.2, lambda: interleaved.complete(interleaved.naming_episode(*encoded["stills"], r, int(r.integers(1, 9)),
                                                                      index_by_colour=by_colour))),
        (0.15, lambda: interleaved.caption_document(*encoded["pairs"], r, int(r.integers(1, 4)))),
        (0.3, lambda: interleaved.caption_document(*encoded["clips"], r, int(r.integers(1, 3)))),
    ]
    return [make() for share, make in kinds for _ in range(round(share * n))]


def gates(model):
    return model.gate_values()


documents = training_documents()
history = run_stage(model, STAGE, documents, eval_fn=gates, eval_every=pick(10, 2))
print(f"trained {STAGE.steps} steps on {len(documents)} documents in {history.seconds:.0f} s; "
      f"final loss {history.final_loss():.3f}")

# %%
fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.2))
plot.training_curves({"frozen LM": history}, ax=a, smooth=5)
for name in history.metrics:
    steps, values = zip(*history.metrics[name])
    b.plot(steps, values, label=name, ls="-" if name.startswith("attn") else "--")
b.set_xlabel("step")
b.set_ylabel("tanh(α)")
b.set_title("gate values over training", fontsize=9)
b.legend(fontsize=7, ncol=2);

# %% [markdown]
# Every gate started at exactly 0 (section 5; block k sits before decoder layer k). How far each one
# moves is learned: it tells how much that layer relies on the images.
#
# **Where does the text look?** The cross-attention weights of the last block, averaged over its
# heads, for one held-out 2-shot episode: each row is a text token, each column one of the
# resampler's latents of one image (`MaskedCrossAttention.attention_weights` writes out the attention
# that `forward` computes). The media mask shows as the block structure — each token reads only its
# own image's latents, and the text before the first image reads none.

# %%
probe_episode = interleaved.attribute_episode(*encoded["stills_test"], np.random.default_rng(3), 2, "colour")
captured = []
hook = model.cross_attention[-1].attn.register_forward_hook(
    lambda module, args, out: captured.append(module.attention_weights(*args)))
probe_batch = collate(model, [probe_episode])
with torch.no_grad():
    model(**probe_batch)
hook.remove()
weights = captured[0][0].mean(0)  # (L, images × latents), averaged over heads
tokens = model.tokenizer.convert_ids_to_tokens(probe_batch["input_ids"][0].tolist())
latents = weights.shape[1] // len(probe_episode.media)
plt.figure(figsize=(6, 3.6))
plt.imshow(weights.numpy(), cmap="magma", aspect="auto")
plt.yticks(range(len(tokens)), tokens, fontsize=7)
plt.xticks(range(weights.shape[1]), [f"{m + 1}·{k + 1}" for m in range(len(probe_episode.media)) for k in range(latents)],
           fontsize=6, rotation=90)
plt.xlabel("image · latent")
plt.colorbar(label="attention weight")
plt.title(f"last block's attention; answer: {probe_episode.answer}", fontsize=9);

# %% [markdown]
# ## 7 · The headline: few-shot in-context learning
#
# Held-out attribute episodes on stills from the **test** split, the same number for each
# attribute. For each number of shots we let the model continue after the query image (greedy, a
# few tokens) and count the answer right when it is the *whole* right answer ("top left", not just
# "top"). With 0 shots nothing in the prompt says which attribute is asked.
#
# Two reference lines. **Chance** (dashed) is a model that always gives each attribute's most
# common answer. A model that *sees perfectly* but does not know which attribute is asked would
# name the right one 1 time in 3 — that is not chance, it is what the examples must fix.

# %%
SHOTS = (0, 1, 2, 4, 8)
eval_rng = np.random.default_rng(123)
test_stills = encoded["stills_test"]
N_EVAL = pick(300, 12)
held_out = {attribute: {k: [interleaved.attribute_episode(*test_stills, eval_rng, k, attribute)
                            for _ in range(N_EVAL // 3)] for k in SHOTS}
            for attribute in interleaved.ATTRIBUTES}


def answer_accuracy(model, episodes, max_new_tokens: int = 3):
    """How often the greedy continuation after each prompt, up to its first ' .', is the whole answer."""
    batch = collate(model, episodes, side="left")
    with torch.no_grad():
        new = model.generate(batch["input_ids"], batch["attention_mask"], batch["media"], max_new_tokens=max_new_tokens)
    said = [model.decode(row).split(" .")[0].strip() for row in new]
    return float(np.mean([s == e.answer for s, e in zip(said, episodes)]))


def few_shot_accuracy(model, attributes=interleaved.ATTRIBUTES):
    """{shots: accuracy} over the held-out episodes of the given attributes."""
    return {k: answer_accuracy(model, [e for a in attributes for e in held_out[a][k]]) for k in SHOTS}


at_init = build("flamingo")  # gates at 0: exactly the frozen LM, whatever it sees
curve = {"Flamingo (frozen LM)": few_shot_accuracy(model), "at initialisation (= the frozen LM)": few_shot_accuracy(at_init)}
for name, c in curve.items():
    print(f"{name:38s}", "  ".join(f"{k}-shot {v:.2f}" for k, v in c.items()))

# %%
from minivlm.eval import chance_by_kind  # noqa: E402

queries = [e for a in interleaved.ATTRIBUTES for e in held_out[a][0]]
attribute_chance = chance_by_kind([e.answer for e in queries], [e.kind for e in queries])
print("chance (each attribute's most common answer):", {k: round(v, 2) for k, v in attribute_chance.items()})
plot.shot_curves(curve, chance=attribute_chance["all"]).set_title(
    "few-shot: the examples say which attribute to name\n(dashed: chance, the most common answer)", fontsize=9);

# %% [markdown]
# Read the curve. With 0 shots the model does not know what is asked and says whatever its training
# made most likely for a lone image. Does one example suffice to show the task, and do more examples
# add anything? The toy task has one thing to learn from them. Which attributes does the model get
# right once it knows the task? Their accuracy by attribute (the seed-0 model trained above):

# %%
by_attribute = {a: few_shot_accuracy(model, [a]) for a in interleaved.ATTRIBUTES}
for a, c in by_attribute.items():
    print(f"{a:9s}", "  ".join(f"{k}-shot {v:.2f}" for k, v in c.items()), f"(chance {attribute_chance[a]:.2f})")
ax = plot.shot_curves(by_attribute)
for i, a in enumerate(by_attribute):
    ax.axhline(attribute_chance[a], color=f"C{i}", ls=":", lw=1)
ax.set_title("few-shot accuracy by attribute, seed 0 (dotted: each attribute's chance)", fontsize=9);

# %% [markdown]
# Compare the rows (the full-mode run prints them above). If the examples fixed the *task*, the
# accuracy at 1 shot and more is limited by the model's *seeing* after a short training — and shapes
# and positions are harder to read from the toy CLIP's features than colours. A model that named the
# colour whatever was asked at 0 shots scores well on colour episodes and near zero on the others.
#
# ### The harder task: names defined in the prompt
#
# Naming episodes ask more: the examples define the answers themselves. Matching the query image to
# the example of the same colour and copying that example's name has to happen in the **frozen LM's
# self-attention**, across the text — Flamingo's blocks only *look*, each text token at one image.
# Flamingo inherited that skill from Chinchilla, which had learned it from text. Besides its
# question-answering text, the toy LM was pretrained on 20,000 naming lists in words
# (`interleaved.naming_text`: "red thud . blue two . red thud ."). So we test both: Flamingo on the
# held-out naming episodes, and the toy LM on the same episodes told in words, every image replaced
# by its colour word.

# %%
test_by_colour = interleaved.colour_index(*test_stills)
naming = {k: [interleaved.naming_episode(*test_stills, eval_rng, k, index_by_colour=test_by_colour)
              for _ in range(N_EVAL)] for k in SHOTS}


def in_words(episode):
    """The episode with every <image> replaced by the colour of its object: text only."""
    colours = iter(episode.meta["colours"])
    text = " ".join(next(colours) if word == "<image>" else word for word in episode.text.split())
    return Sample([], text=text, answer=episode.answer)


naming_curve = {k: answer_accuracy(model, episodes) for k, episodes in naming.items()}
text_curve = {k: answer_accuracy(at_init, [in_words(e) for e in episodes])  # no media: the plain LM
              for k, episodes in naming.items()}
print(in_words(naming[4][0]).text, "→", naming[4][0].answer)
print("Flamingo, names shown with images:", "  ".join(f"{k}-shot {v:.2f}" for k, v in naming_curve.items()))
print("toy LM, the same told in words:   ", "  ".join(f"{k}-shot {v:.2f}" for k, v in text_curve.items()))
plot.shot_curves({"toy LM, episodes in words": text_curve, "Flamingo, episodes with images": naming_curve},
                 chance=1 / 3).set_title("naming episodes: told in words or shown in images", fontsize=9);

# %% [markdown]
# Read the words curve first (the full-mode run prints it). With no example the toy LM cannot know
# the name; with one example it can be right only when the query's colour is the one shown; once
# every colour is named, a toy LM that learned names in context copies the right name almost every
# time. That is an **induction head** at work (Olsson et al., 2022): find where the current word
# came before, copy what followed. (In the toy LM it formed only once its weights were initialised
# larger than usual; see `lm.build_lm`.)
#
# With images, does the miniature Flamingo do the same? Compare its curve with chance (1/3) —
# although a fifth of its training documents were naming episodes. To reuse the LM's skill, the
# blocks must make each `<image>` marker look, to the induction head, like its colour word. Why would
# training not find that? Ask the frozen LM which way its loss wants the query marker to move: take
# the naming episodes in words, put the `<image>` marker back in the query's place, and compare the
# gradient on the marker's input with the direction of the query's colour word (each colour word's
# embedding minus their mean).

# %%
embeddings = lm.get_input_embeddings().weight.detach()
colour_names = list(COLOURS)
colour_ids = torch.tensor(tokenizer.convert_tokens_to_ids(colour_names))
centred = embeddings[colour_ids] - embeddings[colour_ids].mean(0)
episodes = naming[4]
b = collate(at_init, [in_words(e) for e in episodes], side="left")
query_colour = torch.tensor([colour_names.index(e.meta["colours"][-1]) for e in episodes])
want = torch.tensor(tokenizer.convert_tokens_to_ids([e.answer for e in episodes]))
for query in ("the colour word", "the <image> marker"):
    inputs = embeddings[b["input_ids"]].clone()
    if query != "the colour word":
        inputs[:, -1] = embeddings[tokenizer.convert_tokens_to_ids("<image>")]
    inputs.requires_grad_(True)
    logits = lm(inputs_embeds=inputs, attention_mask=b["attention_mask"],
                position_ids=position_ids(b["attention_mask"])).logits[:, -1]
    loss = nn.functional.cross_entropy(logits, want)
    downhill = -torch.autograd.grad(loss, inputs)[0][:, -1]
    cosine = nn.functional.cosine_similarity(downhill, centred[query_colour], dim=-1)
    print(f"query = {query:18s} accuracy {(logits.argmax(-1) == want).float().mean():.2f} | "
          f"cos(downhill, colour word) mean {cosine.mean():+.3f}, positive in {(cosine > 0).float().mean():.0%}")

# %% [markdown]
# With the colour word in the query the LM answers; with the marker it does not. If the downhill
# direction at the marker has essentially no component towards the colour word (a cosine near 0,
# positive in about half of the episodes, as the full-mode run prints), nothing in the loss's local
# slope leads the marker towards the word, and a few hundred steps of gradient descent do not find
# it: the induction head is a sharp, text-trained circuit, and our frozen LM is tiny. If the Flamingo
# curve above stays at chance, that is the honest result at toy scale: the few-shot *task* transfers
# from the examples (the attribute curve), but binding *new names* to images, which Flamingo-80B
# does, does not emerge here. Flamingo trained for hundreds of thousands of steps on 43 M pages, on
# top of a 70 B LM whose in-context skills are far less brittle.
#
# Let us watch the model answer an attribute episode, generating with the KV cache (`model.generate`,
# the LM's own transformers `generate`). The episode's media are features now; its pixels are in the
# bank it was encoded from.

# %%
attribute = "shape"
episode = held_out[attribute][4][0]
b = collate(model, [episode], side="left")
out = model.generate(b["input_ids"], b["attention_mask"], b["media"], max_new_tokens=3)
print(episode.text, "→", model.decode(out[0]), f"| truth ({attribute}):", episode.answer)
pixels = {id(item): raw.pixels[0].numpy() for item, raw in zip(test_stills[0], banks["stills_test"][0])}
plot.show_frames(np.stack([pixels[id(item)] for item in episode.media]), ncols=5);

# %% [markdown]
# ## 8 · Over seeds: the few-shot curve, freezing, and the tanh gating
#
# One run is one draw: the new parts' initialisation and the order of the training documents are
# random. Each comparison below is therefore made over seeds — for every seed, three models trained
# on the same documents for the same steps: **Flamingo** (LM frozen, tanh gates), **LM unfrozen**
# (the stage with 'lm' added to its parts) and **no gating** (`FLAMINGO.replace(gated=False)`: the
# blocks' outputs are added at full strength from step 0). The model trained above is seed 0's
# Flamingo. A variant is called better only when the difference of the means is more than twice its
# standard error (`minivlm.results.verdict`).

# %%
SEEDS = pick((0, 1, 2), (0, 1))
UNFROZEN = dataclasses.replace(STAGE, name="flamingo · LM unfrozen", train=(*STAGE.train, "lm"))
UNGATED = dataclasses.replace(STAGE, name="flamingo · no tanh gating")


def train_variant(config, stage, seed):
    """A fresh model of `config` (new parts initialised from `seed`) trained by `stage` on seed's documents."""
    m = build(config.replace(seed=seed))
    m.fit_standardizer(standardiser_items)
    return m, run_stage(m, stage, training_documents(seed), seed=seed, progress=False)


start = time.perf_counter()
runs = {"Flamingo": {SEEDS[0]: (model, history)}, "LM unfrozen": {}, "no gating": {}}
for seed in tqdm(SEEDS, desc="seeds"):
    if seed != SEEDS[0]:
        runs["Flamingo"][seed] = train_variant(FLAMINGO, STAGE, seed)
    runs["LM unfrozen"][seed] = train_variant(FLAMINGO, UNFROZEN, seed)
    runs["no gating"][seed] = train_variant(FLAMINGO.replace(gated=False), UNGATED, seed)
print(f"{sum(len(r) for r in runs.values()) - 1} more trainings in {time.perf_counter() - start:.0f} s")
curves = {seed: few_shot_accuracy(m) for seed, (m, _) in runs["Flamingo"].items()}
for k in SHOTS:
    print(f"Flamingo, {k}-shot attribute episodes: {interval([c[k] for c in curves.values()])}")
print(verdict([c[1] for c in curves.values()], [c[0] for c in curves.values()], ("1 shot", "0 shots")))
record.add("few_shot_by_seed", {str(k): [c[k] for c in curves.values()] for k in SHOTS})

# %% [markdown]
# ### Why freeze the LM? Text-only ability
#
# Flamingo keeps the LM frozen so it keeps what it knows. We compare the text-only skill the toy LM
# was pretrained for — answering questions about a scene *description* (notebook 01), on held-out
# scenes, greedy answers, exact match (`eval.evaluate`) — and the image task (4-shot attribute
# episodes). No image is in the text prompts, so a Flamingo with its LM frozen skips its blocks and
# answers exactly as the toy LM does — by construction, not by luck.
#
# Be careful with the paper here: Flamingo's ablation (Table 3) found that fine-tuning the LM lowered
# its **image-task** scores (62.7 instead of 70.7 overall) — forgetting what the LM knew cost it on the
# very tasks it was trained for, at the scale of its web data. The verdicts below say which way each
# task moved here.

# %%
text_chats = zoo.lm_corpus(pick(50, 2), split="test", start=0)  # about 10 questions per scene
text_qa = [Sample([], chat[:2], kind="text-only QA") for chat in text_chats]


def text_accuracy(model):
    return evaluate(model, text_qa)["all"]


def four_shot(model):
    return answer_accuracy(model, [e for a in interleaved.ATTRIBUTES for e in held_out[a][4]])


forgetting = {name: {"text-only QA": [text_accuracy(m) for m, _ in runs[name].values()],
                     "4-shot attribute": [four_shot(m) for m, _ in runs[name].values()]}
              for name in ("Flamingo", "LM unfrozen")}
for task in ("text-only QA", "4-shot attribute"):
    a, b = forgetting["Flamingo"][task], forgetting["LM unfrozen"][task]
    print(f"{task:17s}: LM frozen {interval(a)}, LM unfrozen {interval(b)}")
    print("   ", verdict(a, b, ("LM frozen", "LM unfrozen")))
fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
for ax, task in zip(axes, ("text-only QA", "4-shot attribute")):
    plot.seed_spread({name: f[task] for name, f in forgetting.items()}, ax=ax, title=task)
fig.tight_layout()
record.add("forgetting", forgetting)

# %% [markdown]
# With the LM frozen, its weights are untouched and text without images gives the toy LM's answers;
# unfrozen, the same training rewrites the LM for the new documents. Where the image task does *not*
# drop when the LM is unfrozen, our result differs from the paper's, and the reason is the scale: our
# training documents are the test's own format, so a free LM can only fit them better.
#
# ### The tanh gating
#
# The paper ablates its design choices one at a time (Table 3, Flamingo-3B): removing the tanh gating
# lowered the overall score from 70.7 to 66.5, and the paper notes that training was less stable
# without it. We compare the loss on held-out interleaved documents (captions of test stills) after
# the same training, and at initialisation. (A batch with no media at all never enters the blocks, as
# in OpenFlamingo; in a batch with images, the blocks' feed-forward also runs on the text before the
# first image.)

# %%
held_out_docs = [interleaved.caption_document(*test_stills, eval_rng, 3) for _ in range(pick(128, 8))]
held_out_batch = collate(model, held_out_docs)


def held_out_loss(model):
    with torch.no_grad():
        return model(**held_out_batch).loss.item()


at_init_loss = {"tanh gating (Flamingo)": held_out_loss(at_init),
                "no gating": held_out_loss(build(FLAMINGO.replace(gated=False)))}
gating = {"tanh gating (Flamingo)": [held_out_loss(m) for m, _ in runs["Flamingo"].values()],
          "no gating": [held_out_loss(m) for m, _ in runs["no gating"].values()]}
print("held-out loss at initialisation (seed 0):", {k: round(v, 2) for k, v in at_init_loss.items()})
for name, values in gating.items():
    print(f"held-out loss after training, {name}: {interval(values)}")
print(verdict(gating["tanh gating (Flamingo)"], gating["no gating"], ("tanh gating", "no gating"),
              higher_is_better=False))
fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.2))
plot.seed_spread(gating, ax=a, ylabel="held-out loss (lower is better)", title="ablation: tanh gating")
plot.training_curves({"tanh gating": history, "no gating": runs["no gating"][SEEDS[0]][1]}, ax=b, smooth=5)
b.set_title("training loss (seed 0)", fontsize=9)
record.add("gating_loss", {"at_initialisation": at_init_loss, "after_training": gating})

# %% [markdown]
# Read the loss at initialisation with care: it is high for *both* models, because the toy LM was
# pretrained on chats and naming lists, never on raw documents like "look at these . <image> a red
# triangle ." — the frozen LM finds this text odd before any block is involved. With tanh(0) = 0,
# step 0 *is* that frozen LM; without gates, the untrained blocks are added at full strength to every
# token that follows an image. After training, the verdict above says whether the gates' gentler
# start left the model better off at this size.

# %%
one, zero = [c[1] for c in curves.values()], [c[0] for c in curves.values()]
record.headline("one example shows the task: attribute episodes, 1 shot vs 0 shots (held-out stills)",
                f"{interval(one)} vs {interval(zero)}", direction(one, zero))
for task, claim in (("text-only QA", "freezing the LM keeps its text skills (text-only QA, frozen vs unfrozen)"),
                    ("4-shot attribute", "fine-tuning the LM lowers the image task (4-shot attribute, frozen vs "
                                         "unfrozen; Flamingo Table 3)")):
    a, b = forgetting["Flamingo"][task], forgetting["LM unfrozen"][task]
    record.headline(claim, f"{interval(a)} vs {interval(b)}", direction(a, b))
record.headline("tanh gating ends at a lower held-out loss than plain residuals (Flamingo Table 3: 70.7 vs 66.5)",
                f"{interval(gating['tanh gating (Flamingo)'])} vs {interval(gating['no gating'])}",
                direction(gating["tanh gating (Flamingo)"], gating["no gating"], higher_is_better=False))
record.scorecard()

# %% [markdown]
# ### Try it — more shots than it was trained on
# Training episodes had 1 to 8 examples. *Predict first*: with 16 examples in the prompt, does the
# 4-shot accuracy printed above go up, stay, or fall — and why? Then run the cell (it only evaluates
# the trained model; change `MANY` and try again).

# %%
MANY = 16
many = [interleaved.attribute_episode(*test_stills, np.random.default_rng(7), MANY, a)
        for a in interleaved.ATTRIBUTES for _ in range(N_EVAL // 3)]
print(f"{MANY}-shot accuracy: {answer_accuracy(model, many):.2f}  (4-shot: {curve['Flamingo (frozen LM)'][4]:.2f}; seed 0)")

# %% [markdown]
# ### What changed at toy scale
#
# - **Reproduces**: the architecture's promises that hold by construction — the gated model *is* the
#   frozen LM at step 0 (bit for bit), the resampler gives a fixed token count for any number of
#   frames, and a frozen LM keeps its text skills.
# - **Measured over seeds**: whether the few-shot *format* (one example says which attribute is
#   asked) is learned is section 8's first verdict, printed under the mean ± standard error at each
#   number of shots (a large standard error means the seeds learned it to very different degrees).
#   Where it is learned, it is from training documents built in the test's own format.
# - **Does not reproduce, and why**: Flamingo's in-context learning *emerged* from 43 M web pages with
#   a 70 B-parameter LM; ours is trained for the task. Fine-tuning the LM lowered Flamingo's image
#   scores; here the verdict in section 8 says what it did to ours, where a free LM can only fit the
#   test's own format better. The naming task — binding new names to images across the prompt —
#   is measured on seed 0's model only (section 7 prints its curve beside the toy LM's in words);
#   read it as one run, not as a verdict. The gating
#   verdict is measured on a few hundred steps; the paper's stability argument is about long runs.
# - Section 8 prints each claim with its interval; `results/02.json` keeps them.

# %% [markdown]
# ## 9 · Save and load
#
# `save_pretrained` writes the config, the tokenizer and every weight; `VLM.from_pretrained` rebuilds the
# wrapped LM from the config alone and gives identical logits.

# %%
with tempfile.TemporaryDirectory() as folder:
    model.save_pretrained(folder)
    loaded = VLM.from_pretrained(folder)
check = collate(model, [held_out["colour"][2][0]])
with torch.no_grad():
    print(type(loaded).__name__, "reloaded, identical logits:", torch.equal(model(**check).logits, loaded(**check).logits))

# %% [markdown]
# ## Summary
#
# - The Perceiver Resampler turns any number of frames into a fixed number of visual tokens; its temporal
#   embeddings are what lets it tell a clip from the same clip played backwards.
# - Gated cross-attention blocks, wrapped around a frozen transformers LM, start as the identity
#   (tanh(0) = 0: the logits equal the frozen LM's bit for bit) and open their gates as they learn.
# - Few-shot in-context learning: the miniature Flamingo is trained to take *which* attribute to name
#   from the examples in its prompt — compare its held-out accuracy from 0 to 1 shot and more with
#   chance (section 7), and read section 8's verdict for whether 1 shot beats 0 over seeds. Be clear
#   about what that shows: 35 % of its training documents are attribute episodes in exactly the
#   test's format, so the few-shot *format* is trained here, on held-out images; in Flamingo it
#   emerged from web pages that were never built as episodes.
# - Names defined in the prompt are harder: the toy LM can bind them when the examples are told in
#   words, but passing its images to that skill is another matter; at the marker the LM's gradient
#   need not point towards the colour word (section 7). At toy scale on a CPU, the printed curves
#   say whether this part of Flamingo's headline reproduces.
# - Unfreezing the LM changes its text-only behaviour; freezing it keeps the LM's weights intact.
#   Without the tanh gates, the model does not start as the LM. Both over seeds, with the paper's
#   direction checked (section 8).
#
# The cell below prints this run's numbers and what it cost.

# %%
print("few-shot accuracy, attribute episodes (held-out), seed 0:")
for name, c in curve.items():
    print(f"  {name:38s}", "  ".join(f"{k}: {v:.2f}" for k, v in c.items()))
print("naming episodes, Flamingo with images:", {k: round(v, 2) for k, v in naming_curve.items()})
print("naming episodes, toy LM in words:", {k: round(v, 2) for k, v in text_curve.items()})
record.add("settings", {"seeds": list(SEEDS), "steps": STAGE.steps, "batch_size": STAGE.batch_size})
record.save();
