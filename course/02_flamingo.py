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
import copy
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

from minivlm import fast_mode, interleaved, pick, plot, seed_everything, zoo
from minivlm.chat import encode_chat, encode_document, pad_batch
from minivlm.checks import compare, report
from minivlm.data import COLOURS, WorldConfig
from minivlm.eval import accuracy
from minivlm.flamingo import (GatedCrossAttentionBlock, PerceiverResampler, build_flamingo, media_attention_mask,
                              media_index, tanh_gated_residual)
from minivlm.lm import position_ids
from minivlm.train import TrainConfig, count_parameters, train

NOTEBOOK_START = time.perf_counter()
seed_everything(0)
torch.set_num_threads(max(1, torch.get_num_threads()))
print("fast mode:", fast_mode())

# %% [markdown]
# ## 1 · Interleaved documents and the few-shot task
#
# Flamingo learned from documents in which images and text alternate. Our toy documents do the same
# with stills and clips of the toy world: captions, questions with answers, and two kinds of
# few-shot **episodes**.
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
stills = interleaved.still_bank("train", pick(1500, 60), one_object)
rng = np.random.default_rng(0)
episode, answer = interleaved.attribute_episode(stills, rng, shots=4)
print(episode.text, "→", answer)
plot.show_frames(stills.frames[episode.media, 0].numpy(), title="a 4-shot attribute episode: 4 examples, then the query");

# %% [markdown]
# A **naming episode** is harder. Each episode invents its *own* names for three colours and shows
# them only in the prompt — "<image> *thud* ." after every red object, "<image> *two* ." after every
# blue one — then shows a new image to name. The names are borrowed words the toy LM already reads
# and writes (`interleaved.NAMES`), with meanings that change from episode to episode. Here the
# prompt defines not only the task but the answers themselves; guessing one of the three names
# gives 1/3.

# %%
episode, answer = interleaved.naming_episode(stills, rng, shots=4)
print(episode.text, "→", answer)

# %%
print(interleaved.caption_document(stills, rng, num_media=3).text)

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
# The package's `PerceiverResampler` is the same idea with pre-norm attention (as in Flamingo and
# OpenFlamingo) and a switch for the temporal embeddings. Without them, the resampler sees a clip as a
# *set* of tokens: playing the clip backwards gives exactly the same output, and "moves left" could not
# be told from "moves right".

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
compare("media index", my_media_index, media_index,
        [(example, marker_ids), (example[:, :3], marker_ids), (torch.tensor([[5, 6, 7]]), marker_ids)]);

# %% [markdown]
# From the index, the cross-attention mask follows: token *i* may attend to the N visual tokens of media
# `index[i]` (the package's `media_attention_mask`). Here it is for the first example, with 2 visual
# tokens per media.

# %%
words = tokenizer.convert_ids_to_tokens(example[0])
mask = media_attention_mask(media_index(example, marker_ids), num_media=3, tokens_per_media=2)[0]
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
# something useful.
#
# ### Exercise 2 — the tanh-gated residual
# Write `my_gated_residual(x, update, alpha)` returning `x + tanh(alpha) · update`.

# %%
def my_gated_residual(x: torch.Tensor, update: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    # BEGIN SOLUTION
    return x + torch.tanh(alpha) * update
    # END SOLUTION


# %%
g = torch.Generator().manual_seed(0)
xs = [torch.randn(2, 5, 8, generator=g) for _ in range(2)]
compare("tanh-gated residual", my_gated_residual, tanh_gated_residual,
        [(xs[0], xs[1], torch.zeros(1)), (xs[0], xs[1], torch.tensor([0.7])), (xs[1], xs[0], torch.tensor([-3.0]))])


def check_identity():
    out = my_gated_residual(xs[0], xs[1], torch.zeros(1))
    return None if torch.equal(out, xs[0]) else "with alpha = 0 the output must equal x exactly (bit for bit)"


report("alpha = 0 is the identity", check_identity);

# %% [markdown]
# A whole block from scratch, using the package's `tanh_gated_residual` and the media mask:

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
        allowed = media_attention_mask(index, m, n)  # (B, L, M·N)
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
# The package's `GatedCrossAttentionBlock` is this block with its own masked attention (`attend`) and
# the same two gates; from here on we use it. The same check:

# %%
package_block = GatedCrossAttentionBlock(32)
print("package block, α = 0 → output equals input:", torch.equal(package_block(x, visual, index), x))

# %% [markdown]
# ## 5 · Putting it together around the frozen toy LM
#
# `build_flamingo` takes the zoo's frozen toy CLIP and frozen toy LM (a transformers Llama). It
# **wraps** each of the LM's decoder layers (`FlamingoLayer`: gated block first, then the untouched
# decoder layer) — no fork of transformers. `cross_attn_every=1` puts a block before every layer, as
# in Flamingo-3B (Flamingo-80B: every 7th). Only the resampler and the blocks train.

# %%
encoder = zoo.toy_vision_encoder()
plain_lm = copy.deepcopy(lm)  # the wrapping changes the LM in place: keep a plain copy to compare
model = build_flamingo(encoder, copy.deepcopy(lm), tokenizer, num_latents=8, depth=2, cross_attn_every=1)
print(f"trainable {count_parameters(model, trainable_only=True) / 1e6:.2f} M | frozen LM "
      f"{count_parameters(model.lm) / 1e6:.2f} M | frozen vision encoder {count_parameters(model.vision_encoder) / 1e6:.2f} M")
print(type(model.lm.model.layers[0]).__name__, "→ wraps", type(model.lm.model.layers[0].decoder_layer).__name__)

# %% [markdown]
# The data: single-object stills for the episodes, two-object stills for captions and questions, and
# 6-frame clips of one moving object ("a red circle moves left ."). The vision encoder is frozen, so we
# compute its features once (`cache_features`) and fit the per-channel standardiser on them.

# %%
start = time.perf_counter()
NUM_FRAMES = 6
mover = WorldConfig(max_objects=1, p_static=0, p_appear=0, p_disappear=0, p_stop=0, p_change=0)
banks = {
    "stills": stills,
    "stills_test": interleaved.still_bank("test", pick(300, 40), one_object),
    "pairs": interleaved.still_bank("train", pick(600, 40), WorldConfig(max_objects=2), start=50_000),
    "clips": interleaved.clip_bank("train", pick(400, 40), NUM_FRAMES, mover),
}
features = {name: model.cache_features(bank.frames) for name, bank in banks.items()}
standardiser_data = torch.cat([features["stills"].flatten(0, 3), features["clips"].flatten(0, 3)])
model.fit_standardizer(standardiser_data)
print({k: tuple(v.shape) for k, v in features.items()}, f"in {time.perf_counter() - start:.0f} s")

# %% [markdown]
# Now the claim: at initialisation, with images in the prompt, the model's logits equal the frozen LM's
# logits **bit for bit** (`torch.equal`, not just close).

# %%
batch = interleaved.collate(tokenizer, [interleaved.complete(*interleaved.naming_episode(stills, rng, 3))
                                        for _ in range(4)], features["stills"])
with torch.no_grad():
    flamingo_logits = model(**batch).logits
    lm_logits = plain_lm(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
print("identical to the frozen LM:", torch.equal(flamingo_logits, lm_logits))

# %% [markdown]
# ## 6 · Training on interleaved documents
#
# One batch is drawn from one of four document kinds: attribute episodes and naming episodes
# (1–8 shots each), captions/QA over two-object stills, and captions over clips. The loss is
# next-token prediction on every text token (Flamingo's objective; media markers excluded). The
# training loop logs every gate.

# %%
by_colour = interleaved.colour_index(stills)
BATCH = pick(24, 8)


def training_batches(seed=0):
    attributes = interleaved.document_batches(
        lambda r: interleaved.complete(*interleaved.attribute_episode(stills, r, int(r.integers(1, 9)))),
        tokenizer, features["stills"], BATCH, seed)
    names = interleaved.document_batches(
        lambda r: interleaved.complete(*interleaved.naming_episode(stills, r, int(r.integers(1, 9)),
                                                                   index_by_colour=by_colour)),
        tokenizer, features["stills"], BATCH, seed + 1)
    pictures = interleaved.document_batches(lambda r: interleaved.caption_document(banks["pairs"], r, int(r.integers(1, 4))),
                                            tokenizer, features["pairs"], BATCH, seed + 2)
    videos = interleaved.document_batches(lambda r: interleaved.caption_document(banks["clips"], r, int(r.integers(1, 3))),
                                          tokenizer, features["clips"], BATCH, seed + 3)
    return interleaved.mix([attributes, names, pictures, videos], [0.35, 0.2, 0.15, 0.3], seed)


def loss_and_gates(model, batch):
    return model(**batch).loss, model.gate_values()


# The knob of the budget: full mode is meant to stay within ~3 minutes on 2 CPU cores (3 trainings).
CONFIG = TrainConfig(steps=pick(150, 6), lr=2e-3, desc="Flamingo (frozen LM)")
history = train(model, training_batches(), CONFIG, loss_fn=loss_and_gates)
print(f"trained {CONFIG.steps} steps in {history.seconds:.0f} s; final loss {history.final_loss():.3f}")

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
# Every gate starts at exactly 0 (see the right plot; block k sits before decoder layer k). How far
# each one moves is learned: it tells how much that layer relies on the images.
#
# ## 7 · The headline: few-shot in-context learning
#
# Held-out attribute episodes on stills from the **test** split, the same number for each
# attribute. For each number of shots we let the model continue after the query image, and count the
# answer right when its first token (greedy) is the first word of the right answer ("top" for "top
# left"). With 0 shots nothing in the prompt says which attribute is asked.

# %%
SHOTS = (0, 1, 2, 4, 8)
eval_rng = np.random.default_rng(123)
test_stills = banks["stills_test"]
N_EVAL = pick(300, 12)
held_out = {attribute: {k: [interleaved.attribute_episode(test_stills, eval_rng, k, attribute)
                            for _ in range(N_EVAL // 3)] for k in SHOTS}
            for attribute in interleaved.ATTRIBUTES}


def first_token_accuracy(model, batch, answers):
    """How often the greedy first token after each (left-padded) prompt is the first word of its
    answer. `batch` from `interleaved.collate` (with images) or `pad_batch` (text only)."""
    logits = model.next_token_logits(batch["input_ids"], batch["attention_mask"],
                                     vision_features=batch.get("vision_features"))
    want = torch.tensor(tokenizer.convert_tokens_to_ids([a.split()[0] for a in answers]))
    return (logits.argmax(-1) == want).float().mean().item()


def few_shot_accuracy(model, attributes=interleaved.ATTRIBUTES):
    """{shots: accuracy} over the held-out episodes of the given attributes."""
    result = {}
    for k in SHOTS:
        items = [item for a in attributes for item in held_out[a][k]]
        batch = interleaved.collate(tokenizer, [doc for doc, _ in items], features["stills_test"], side="left")
        result[k] = first_token_accuracy(model, batch, [answer for _, answer in items])
    return result


at_init = build_flamingo(encoder, copy.deepcopy(lm), tokenizer)  # gates at 0: exactly the frozen LM
at_init.fit_standardizer(standardiser_data)
curve = {"Flamingo (frozen LM)": few_shot_accuracy(model), "at initialisation (= the frozen LM)": few_shot_accuracy(at_init)}
for name, c in curve.items():
    print(f"{name:38s}", "  ".join(f"{k}-shot {v:.2f}" for k, v in c.items()))

# %%
plot.shot_curves(curve, chance=1 / 3).set_title("few-shot: the examples say which attribute to name\n"
                                                "(dashed: the right attribute by chance, 1 in 3)", fontsize=9);

# %% [markdown]
# Read the curve. With 0 shots the model does not know what is asked and says whatever its training
# made most likely for a lone image. One example is enough to show the task; more examples add
# little here, because the toy task has one thing to learn from them. Which attributes does the
# model get right once it knows the task? Their accuracy by attribute:

# %%
by_attribute = {a: few_shot_accuracy(model, [a]) for a in interleaved.ATTRIBUTES}
for a, c in by_attribute.items():
    print(f"{a:9s}", "  ".join(f"{k}-shot {v:.2f}" for k, v in c.items()))

# %% [markdown]
# On the development machine (2 CPU cores), at 0 shots the model named the colour whatever was
# asked: colour episodes 0.74 right, shape 0.09, position 0.03. From one example on, every colour
# episode was right (1.00), shape episodes 0.64–0.75 and position episodes 0.23–0.33. The examples
# fixed the *task*; what stays wrong is the model's *seeing* after 150 training steps — shapes and
# positions are harder to read from the toy CLIP's features than colours.
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
test_by_colour = interleaved.colour_index(test_stills)
naming = {k: [interleaved.naming_episode(test_stills, eval_rng, k, index_by_colour=test_by_colour)
              for _ in range(N_EVAL)] for k in SHOTS}


def as_text(doc, bank):
    """The episode with every <image> replaced by the colour of its object."""
    words, media = [], iter(doc.media)
    for word in doc.text.split():
        words.append(bank.colour(next(media)) if word == "<image>" else word)
    return " ".join(words)


naming_curve, text_curve = {}, {}
for k, items in naming.items():
    docs, answers = [doc for doc, _ in items], [a for _, a in items]
    with_images = interleaved.collate(tokenizer, docs, features["stills_test"], side="left")
    in_words = pad_batch([encode_document(tokenizer, as_text(doc, test_stills)) for doc in docs],
                         tokenizer.pad_token_id, side="left")
    naming_curve[k] = first_token_accuracy(model, with_images, answers)
    text_curve[k] = first_token_accuracy(at_init, in_words, answers)  # no media: the plain LM
print(as_text(*naming[4][0][:1], test_stills), "→", naming[4][0][1])
print("Flamingo, names shown with images:", "  ".join(f"{k}-shot {v:.2f}" for k, v in naming_curve.items()))
print("toy LM, the same told in words:   ", "  ".join(f"{k}-shot {v:.2f}" for k, v in text_curve.items()))
plot.shot_curves({"toy LM, episodes in words": text_curve, "Flamingo, episodes with images": naming_curve},
                 chance=1 / 3).set_title("naming episodes: told in words or shown in images", fontsize=9);

# %% [markdown]
# In words, the toy LM *does* learn names in context: with no example it cannot know the name, with
# one example it is right only when the query's colour is the one shown, and once every colour is
# named it copies the right name almost every time. That is an **induction head** at work (Olsson et
# al., 2022): find where the current word came before, copy what followed. (It formed only once the
# toy LM's weights were initialised larger than usual; see `lm.build_lm`.)
#
# With images, the miniature Flamingo stays at chance (on the development machine 0.31–0.35 from
# 1 to 8 shots, against 1/3) — although a fifth of its training batches were naming episodes. To
# reuse the LM's skill, the blocks must make each `<image>` marker look, to the induction head, like
# its colour word. Why does training not find that? Ask the frozen LM which way its loss wants the
# query marker to move: take the naming episodes in words, put the `<image>` marker back in the
# query's place, and compare the gradient on the marker's input with the direction of the query's
# colour word (each colour word's embedding minus their mean).

# %%
embeddings = lm.get_input_embeddings().weight.detach()
colour_names = list(COLOURS)
colour_ids = torch.tensor(tokenizer.convert_tokens_to_ids(colour_names))
centred = embeddings[colour_ids] - embeddings[colour_ids].mean(0)
items = naming[4]
b = pad_batch([encode_document(tokenizer, as_text(doc, test_stills)) for doc, _ in items], tokenizer.pad_token_id, side="left")
query_colour = torch.tensor([colour_names.index(test_stills.colour(doc.media[-1])) for doc, _ in items])
want = torch.tensor(tokenizer.convert_tokens_to_ids([a for _, a in items]))
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
# With the colour word in the query the LM answers; with the marker it does not, and the downhill
# direction at the marker has essentially no component towards the colour word (a cosine near 0,
# positive in fewer than half of the episodes). Nothing in the loss's local slope leads the marker
# towards the word, so a few hundred steps of gradient descent do not find it: the induction head
# is a sharp, text-trained circuit, and our frozen LM is tiny. This is the honest result at toy
# scale: the
# few-shot *task* transfers from the examples (the attribute curve), but binding *new names* to
# images, which Flamingo-80B does, did not emerge here. Flamingo trained for hundreds of thousands
# of steps on 43 M pages, on top of a 70 B LM whose in-context skills are far less brittle.
#
# Let us watch the model answer an attribute episode, generating with the KV cache:

# %%
attribute = "shape"
doc, answer = held_out[attribute][4][0]
b = interleaved.collate(tokenizer, [doc], features["stills_test"], side="left")
out = model.generate(b["input_ids"], b["attention_mask"], vision_features=b["vision_features"], max_new_tokens=3)
print(doc.text, "→", model.decode(out[0]), f"| truth ({attribute}):", answer)
plot.show_frames(test_stills.frames[doc.media, 0].numpy(), ncols=5);

# %% [markdown]
# ## 8 · Why freeze the LM? Text-only ability
#
# Flamingo keeps the LM frozen so it keeps what it knows. We train the same model once more with the LM
# **unfrozen** (same data, same steps) and compare the text-only skill the toy LM was pretrained for:
# answering questions about a scene *description* (notebook 01), on held-out scenes, greedy answers,
# exact match. No image is in these prompts, so a Flamingo with its LM frozen skips its blocks and
# answers exactly as the toy LM does — by construction, not by luck.

# %%
unfrozen = build_flamingo(encoder, copy.deepcopy(lm), tokenizer, num_latents=8, depth=2)
unfrozen.fit_standardizer(standardiser_data)
unfrozen.set_trainable("vision_tokenizer", "cross_attention", "lm")
history_unfrozen = train(unfrozen, training_batches(), TrainConfig(steps=CONFIG.steps, lr=CONFIG.lr,
                                                                     desc="Flamingo (LM unfrozen)"), loss_fn=loss_and_gates)

# %%

text_chats = zoo.lm_corpus(pick(50, 2), split="test", start=0)  # about 10 prompts per scene
text_batch = pad_batch([encode_chat(tokenizer, c[:1], add_generation_prompt=True) for c in text_chats],
                       tokenizer.pad_token_id, side="left")


def text_accuracy(model):
    out = model.generate(text_batch["input_ids"], text_batch["attention_mask"], max_new_tokens=8)
    return accuracy([model.decode(row) for row in out], [c[1]["content"] for c in text_chats])


curve["Flamingo (LM unfrozen)"] = few_shot_accuracy(unfrozen)
forgetting = {
    "Flamingo, LM frozen (= the toy LM)": {"text-only QA": text_accuracy(model),
                                           "4-shot attribute": curve["Flamingo (frozen LM)"][4]},
    "Flamingo, LM unfrozen": {"text-only QA": text_accuracy(unfrozen),
                              "4-shot attribute": curve["Flamingo (LM unfrozen)"][4]},
}
print(forgetting)
plot.bars(forgetting)
plt.title("text-only ability after multimodal training", fontsize=9);

# %% [markdown]
# With the LM frozen, its weights are untouched and text without images gives the toy LM's answers.
# With the LM unfrozen, the same training rewrites the LM for the new documents — compare the bars.
# On the development machine the unfrozen model was a little better at the few-shot task (4-shot
# 0.69 against 0.63) and had lost nearly all its text QA (0.07 against 0.71): the trade Flamingo's
# ablation measured (62.7 instead of 70.7 overall when the LM was fine-tuned).
#
# ## 9 · Ablation: the tanh gating
#
# The paper ablates its design choices one at a time (Table 3, Flamingo-3B): removing the tanh gating
# lowered the overall score from 70.7 to 66.5, and the paper notes that training was less stable
# without it. We build the same model with plain residuals (`gated=False`: the blocks' outputs are
# added at full strength from step 0), train it the same way, and compare the loss on held-out
# interleaved documents (captions and questions about test stills) at initialisation and after
# training. (A batch with no media at all never enters the blocks, as in OpenFlamingo; in a batch with
# images, the blocks' feed-forward also runs on the text before the first image.)

# %%
held_out_docs = [interleaved.caption_document(banks["stills_test"], eval_rng, 3) for _ in range(pick(128, 8))]
held_out_batch = interleaved.collate(tokenizer, held_out_docs, features["stills_test"])


def held_out_loss(model):
    model.eval()
    with torch.no_grad():
        return model(**held_out_batch).loss.item()


ungated = build_flamingo(encoder, copy.deepcopy(lm), tokenizer, num_latents=8, depth=2, gated=False)
ungated.fit_standardizer(standardiser_data)
ablation = {"tanh gating (Flamingo)": {"at initialisation": held_out_loss(at_init)},
            "no gating": {"at initialisation": held_out_loss(ungated)}}
history_ungated = train(ungated, training_batches(), TrainConfig(steps=CONFIG.steps, lr=CONFIG.lr,
                                                                  desc="Flamingo (no tanh gating)"), loss_fn=loss_and_gates)
ablation["tanh gating (Flamingo)"]["after training"] = held_out_loss(model)
ablation["no gating"]["after training"] = held_out_loss(ungated)
print("held-out loss on interleaved documents:", ablation)
fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.2))
plot.bars(ablation, ax=a)
a.set_ylabel("held-out loss (lower is better)")
a.set_title("ablation: tanh gating", fontsize=9)
plot.training_curves({"tanh gating": history, "no gating": history_ungated}, ax=b, smooth=5)
b.set_title("training loss", fontsize=9);

# %% [markdown]
# With tanh(0) = 0, step 0 *is* the frozen LM reading the text without the images; without gates, the
# untrained blocks are added at full strength to every token that follows an image. On the development
# machine (2 CPU cores) the ungated model happened to *start* lower (8.2 vs 11.4: the LM alone finds
# captions after an image marker odd) but *ended* worse after the same 150 steps (4.3 vs 3.8):
# the gated model keeps the LM intact and lets the blocks in only as far as they help, the ungated one
# must first repair what its random blocks did to every layer.
#
# ## 10 · Save and load
#
# `save_pretrained` writes the config, the tokenizer and every weight; `VLM.from_pretrained` rebuilds the
# wrapped LM and gives identical logits.

# %%
import tempfile  # noqa: E402

from minivlm.vlm import VLM  # noqa: E402

with tempfile.TemporaryDirectory() as folder:
    model.save_pretrained(folder)
    loaded = VLM.from_pretrained(folder)
check = interleaved.collate(tokenizer, [held_out["colour"][2][0][0]], features["stills_test"])
with torch.no_grad():
    print(type(loaded).__name__, "reloaded, identical logits:", torch.equal(model(**check).logits, loaded(**check).logits))

# %% [markdown]
# ## Summary
#
# - The Perceiver Resampler turns any number of frames into a fixed number of visual tokens; its temporal
#   embeddings are what lets it tell a clip from the same clip played backwards.
# - Gated cross-attention blocks, wrapped around a frozen transformers LM, start as the identity
#   (tanh(0) = 0: the logits equal the frozen LM's bit for bit) and open their gates as they learn.
# - Few-shot in-context learning: trained only on interleaved documents, the miniature Flamingo
#   picks up from the examples in its prompt *which* attribute to name, and its held-out accuracy
#   rises well above chance from 0 to 1 shot and more (section 7).
# - Names defined in the prompt are harder: the toy LM binds them when the examples are told in
#   words, but the miniature Flamingo does not learn to pass its images to that skill; at the
#   marker the LM's gradient does not point towards the colour word (section 7). At toy scale on a
#   CPU, this part of Flamingo's headline does *not* reproduce.
# - Unfreezing the LM changes its text-only behaviour; freezing it keeps the LM's weights intact
#   (section 8). Without the tanh gates, the model does not start as the LM (section 9).
#
# The cell below prints this run's numbers and its wall time.

# %%
print("few-shot accuracy, attribute episodes (held-out):")
for name, c in curve.items():
    print(f"  {name:38s}", "  ".join(f"{k}: {v:.2f}" for k, v in c.items()))
print("text-only / forgetting:", {k: {m: round(v, 2) for m, v in r.items()} for k, r in forgetting.items()})
print("naming episodes, Flamingo with images:", {k: round(v, 2) for k, v in naming_curve.items()})
print("naming episodes, toy LM in words:", {k: round(v, 2) for k, v in text_curve.items()})
print("gating ablation (held-out loss):", {k: {m: round(v, 3) for m, v in r.items()} for k, r in ablation.items()})
print(f"wall time of this notebook: {time.perf_counter() - NOTEBOOK_START:.0f} s")
