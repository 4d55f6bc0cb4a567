# %% [markdown]
# # 01 · Building blocks: a ViT, CLIP pretraining, and a tiny language model
#
# Every video LLM in this course is assembled from the same parts:
#
# - a **vision encoder** — a Vision Transformer (ViT, *"An image is worth 16×16 words"*, 2020)
#   that cuts each frame into patches and turns them into tokens;
# - **contrastive pretraining** that makes those tokens mean something — CLIP (2021) trained a
#   ViT and a text encoder on 400 M image–text pairs so that matching pairs have similar
#   embeddings; its ViT-L/14 classified ImageNet **zero-shot** at 76.2 % top-1, without seeing
#   one ImageNet label;
# - a **language model** with a tokenizer, pretrained on text.
#
# We build each in miniature, train them on the toy world, and measure why a *pretrained* encoder
# matters. The trained versions go into the course **zoo**, so every later notebook starts from
# them in seconds.

# %%
# Setup: installs the course package when it is not importable yet (e.g. on Colab).
try:
    import minivlm
except ImportError:
    %pip install -q "minivlm @ git+https://github.com/minivlm/minivlm"
    import minivlm

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import open_clip
import torch

from minivlm import data, fast_mode, pick, plot, seed_everything, zoo
from minivlm.results import Record, interval, verdict
from minivlm.vision import (VisionEncoder, check_clip_loss, check_patchify, create_clip, encode_images, encode_texts,
                            patchify, zero_shot_classify)

seed_everything(0)
record = Record("01")  # this notebook's measured figures → results/01.json in full mode
torch.set_num_threads(max(1, torch.get_num_threads()))
print("fast mode:", fast_mode())

# %% [markdown]
# ## 1 · Patches
#
# A ViT does not look at pixels one by one. It cuts a 64×64 frame into a 4×4 grid of 16×16
# **patches**, flattens each into a vector and embeds it: the frame becomes a sequence of 16
# tokens — exactly like the words of a sentence.
#
# ### Exercise 1 — patchify
# Write `my_patchify(pixels, p)`: images `(B, C, H, W)` → patches `(B, N, p·p·C)`, patches in
# row-major order (left to right, then top to bottom), each flattened as `(p, p, C)`.

# %%
def my_patchify(pixels: torch.Tensor, p: int) -> torch.Tensor:
    # BEGIN SOLUTION
    b, c, h, w = pixels.shape
    x = pixels.reshape(b, c, h // p, p, w // p, p)  # split rows and columns into blocks
    x = x.permute(0, 2, 4, 3, 5, 1)  # (B, grid rows, grid cols, p, p, C)
    return x.reshape(b, (h // p) * (w // p), p * p * c)
    # END SOLUTION


# %%
patchify_fn = my_patchify if check_patchify(my_patchify) else patchify  # yours from here on, once it is right

# %%
scene = data.sample_scene("train", 3)
frame = data.render_still(scene, 1.0)
patches = patchify_fn(torch.from_numpy(frame).permute(2, 0, 1)[None].float(), 16)[0]
fig, axes = plt.subplots(4, 4, figsize=(3.2, 3.2))
for ax, patch in zip(axes.flat, patches):
    ax.imshow(patch.reshape(16, 16, 3).numpy().astype(np.uint8))
    ax.axis("off")
fig.suptitle("one frame = 16 patch tokens", fontsize=9);

# %% [markdown]
# ## 2 · The toy CLIP: a ViT and a text encoder from open_clip
#
# `create_clip("toy-clip-vit")` builds a CLIP with **open_clip** from a small config shipped with
# minivlm (4 transformer layers, width 128) — the same call that builds `ViT-B-32` with
# `pretrained="openai"` when you are online. One change from the original ViT: its patch
# embedding is a small stack of stride-2 convolutions (*"Early convolutions help transformers
# see better"*, 2021). A ViT trained from scratch learns very slowly without it — too slowly
# for a laptop.

# %%
clip = create_clip("toy-clip-vit")
encoder = VisionEncoder(clip, feature_layer=-2)
print(f"image tower {sum(p.numel() for p in clip.visual.parameters()) / 1e6:.2f} M parameters, "
      f"text tower {sum(p.numel() for p in clip.transformer.parameters()) / 1e6:.2f} M (+ embeddings)")
pixels = encoder.preprocess(frame[None])
print("pixels", tuple(pixels.shape), "→ patch tokens", tuple(encoder(pixels).shape))

# %% [markdown]
# ## 3 · The contrastive loss
#
# For a batch of B images and their B captions, CLIP embeds both, L2-normalises, and computes all
# B×B similarities (times a learned temperature `scale`). Row *i* should pick caption *i* among
# the B captions; column *i* should pick image *i* among the B images. The loss is the average of
# the two cross-entropies — the **symmetric InfoNCE** loss.
#
# ### Exercise 2 — the symmetric contrastive loss
# `image` and `text` are `(B, E)` and already normalised; `scale` is a scalar tensor.

# %%
def my_clip_loss(image: torch.Tensor, text: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    # BEGIN SOLUTION
    logits = scale * image @ text.T  # (B, B): row i = image i against every caption
    targets = torch.arange(len(image))
    return (torch.nn.functional.cross_entropy(logits, targets)
            + torch.nn.functional.cross_entropy(logits.T, targets)) / 2
    # END SOLUTION


# %%
check_clip_loss(my_clip_loss);

# %% [markdown]
# ## 4 · Before pretraining: a random encoder
#
# The test: **zero-shot classification** of held-out single-object frames into 6 colours × 5
# shapes = 30 classes. Each class becomes a caption ("a red circle ."); the image goes to the class
# whose caption embedding is most similar. Chance is 1/30.

# %%
single = data.WorldConfig(max_objects=1)
test_frames, test_captions = data.still_caption_pool(pick(600, 90), single, split="test")
classes = sorted(set(data.still_caption(s, 0.0) for s in data.sample_scenes("train", 400, single)
                     if s.visible(0, 0.0) and s.objects[0].change_time is None))
labels = torch.tensor([classes.index(c) for c in test_captions])
test_pixels = encoder.preprocess(test_frames)
print(len(classes), "classes, e.g.", classes[:3])

def zero_shot_accuracy(model):
    predicted = zero_shot_classify(model, test_pixels, classes)
    return {
        "shape x colour": (predicted == labels).float().mean().item(),
        "colour": np.mean([classes[p].split()[1] == classes[t].split()[1] for p, t in zip(predicted, labels)]),
        "shape": np.mean([classes[p].split()[2] == classes[t].split()[2] for p, t in zip(predicted, labels)]),
    }

before = zero_shot_accuracy(clip)
print({k: round(float(v), 3) for k, v in before.items()})
# one random initialisation could be lucky: three more seeds
random_inits = [zero_shot_accuracy(create_clip("toy-clip-vit", seed=s))["shape x colour"] for s in (1, 2, 3)]
print("random init, shape x colour, seeds 1–3:", interval(random_inits), "(chance 1/30 = 0.033)")
record.add("zero_shot_random_init", random_inits)

# %% [markdown]
# ## 5 · Pretraining the toy CLIP
#
# The recipe: rendered stills with their captions — single objects ("a red circle .") and groups
# ("a red circle and a blue square .") — in batches where no caption repeats (a repeated caption
# would be a "negative" that is really a positive), AdamW with warmup and cosine decay. First we
# watch it learn for a short while from scratch:

# %%
from minivlm.train import TrainConfig, train  # noqa: E402
from minivlm.vision import clip_loss_fn, unique_caption_batches  # noqa: E402

recipe = zoo.clip_recipe()
pool_a, text_a = data.still_caption_pool(pick(1500, 100), single)
pool_b, text_b = data.still_caption_pool(pick(3000, 100), data.WorldConfig(max_objects=3), start=1_000_000)
demo = create_clip("toy-clip-vit", seed=1)
demo_pixels = VisionEncoder(demo).preprocess(np.concatenate([pool_a, pool_b]))
demo_history = train(
    demo, unique_caption_batches(demo_pixels, text_a + text_b, recipe["batch_size"]),
    TrainConfig(steps=pick(150, 4), lr=recipe["lr"], weight_decay=0.1, desc="CLIP, short demo"),
    loss_fn=clip_loss_fn(), eval_fn=lambda m: {f"zero-shot {k}": v for k, v in zero_shot_accuracy(m).items()},
    eval_every=pick(50, 2),
)
fig, axes = plt.subplots(1, 2, figsize=(9, 3))
plot.training_curves({"demo": demo_history}, ax=axes[0])
for kind in ("colour", "shape", "shape x colour"):
    plot.training_curves({kind: demo_history}, metric=f"zero-shot {kind}", ax=axes[1])
axes[1].set_ylabel("zero-shot accuracy");

# %% [markdown]
# Compare the colour and shape lines on the right: which one the short run learns first, and how far
# each gets. The zoo's toy CLIP is the same recipe run for `recipe["steps"]` steps, then
# `recipe["then"]["steps"]` more with a second loss beside the contrastive one: a small captioning
# decoder (LocCa's, which SigLIP 2 adds) reads the patch tokens and writes a caption that says where
# each object is ("a red circle at the top left and …"). The contrastive loss only asks the pooled
# embedding to match its caption; the decoder makes the patch tokens keep, patch by patch, what is
# where — what a VLM reads (`minivlm/caption_decoder.py`; the decoder is thrown away after training).
# Two shorter captioning stages (`recipe["then2"]`, `recipe["then3"]`) then show it crowded stills,
# three objects all in view, where telling which object is where is hardest.
# It was trained once and ships with the package (`minivlm/zoo_weights/`, with its training time and
# quality in `manifest.json`): `zoo.toy_clip()` loads it in a second.

# %%
start = time.perf_counter()
toy_clip = zoo.toy_clip()
print(f"toy CLIP ready in {time.perf_counter() - start:.0f} s; recipe: {recipe}")
after = zero_shot_accuracy(toy_clip)
print({k: round(float(v), 3) for k, v in after.items()})
record.add("zero_shot_toy_clip", after)

# %%
plot.bars({"random init": before, "toy CLIP": after}, chance={"shape x colour": 1 / 30, "colour": 1 / 6, "shape": 1 / 5})
plt.title("zero-shot accuracy on held-out frames");

# %% [markdown]
# What CLIP learned, in one picture: the cosine similarity of held-out frames (rows) with their own
# captions (columns, same order). A trained CLIP puts the largest value of each row on the diagonal;
# a random one does not. Where the toy CLIP hesitates, it is between captions that share a colour or
# a shape.

# %%
def similarity_matrix(model, frames, captions):
    with torch.no_grad():
        image = encode_images(model, VisionEncoder(model).preprocess(frames))
        text = encode_texts(model, captions)
    return (image @ text.T).numpy()

first = {}
for i, c in enumerate(test_captions):  # one frame per caption, 10 different captions
    first.setdefault(c, i)
shown = list(first.values())[:10]
fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
for ax, (name, model) in zip(axes, (("random init", clip), ("toy CLIP", toy_clip))):
    sim = similarity_matrix(model, test_frames[shown], [test_captions[i] for i in shown])
    ax.imshow(sim, cmap="viridis")
    ax.set_title(f"{name}: row argmax on the diagonal {np.mean(sim.argmax(1) == np.arange(len(shown))):.0%}", fontsize=9)
    ax.set_xticks(range(len(shown)), [test_captions[i][2:-2] for i in shown], rotation=60, fontsize=7)
    ax.set_yticks(range(len(shown)), [f"frame {k}" for k in range(len(shown))], fontsize=7)
fig.tight_layout()

# %% [markdown]
# ## 6 · Why a pretrained, frozen encoder matters
#
# A VLM's language model reads the vision encoder's **patch tokens**. What can it read from them?
# A **linear probe** trains only a linear classifier on frozen features: if a label is linearly
# readable, a connector can hand it to the LM. We probe mean-pooled penultimate-layer patch tokens
# for (a) the 30 classes of single objects, and (b) a *binding* question on scenes with several
# objects: which colour does the circle have?

# %%
from minivlm.eval import linear_probe  # noqa: E402

def pooled_tokens(vision_encoder, frames):
    with torch.no_grad():
        return vision_encoder(vision_encoder.preprocess(frames)).mean(1)

train_frames, train_captions = data.still_caption_pool(pick(3000, 120), single, split="val")
train_labels = torch.tensor([classes.index(c) if c in classes else 0 for c in train_captions])

binding_train = data.make_still_qa("val", pick(3000, 120), kinds=("colour",), config=data.WorldConfig(min_objects=2))
binding_test = data.make_still_qa("test", pick(800, 60), kinds=("colour",), config=data.WorldConfig(min_objects=2))
colour_ids = {c: i for i, c in enumerate(data.COLOURS)}
shape_ids = {s: i for i, s in enumerate(data.SHAPES)}

def binding_features(vision_encoder, qa):
    # the question names a shape: append a one-hot of it, the answer is a colour
    shape = torch.nn.functional.one_hot(torch.tensor([shape_ids[s.question.split()[4]] for s in qa]), 5).float()
    stills = torch.cat([s.media[0].pixels for s in qa])  # each sample's image, (N, H, W, 3) uint8
    return torch.cat([pooled_tokens(vision_encoder, stills), shape * 10], dim=1)

def probe_scores(model, seed: int) -> dict[str, float]:
    """Held-out accuracy of linear probes (initialised from `seed`) on a model's pooled tokens."""
    enc = VisionEncoder(model, feature_layer=-2)
    colours = [torch.tensor([colour_ids[s.answer] for s in qa]) for qa in (binding_train, binding_test)]
    return {"30 classes": linear_probe(pooled_tokens(enc, train_frames), train_labels, pooled_tokens(enc, test_frames),
                                       labels, steps=pick(300, 30), seed=seed),
            "binding": linear_probe(binding_features(enc, binding_train), colours[0], binding_features(enc, binding_test),
                                    colours[1], steps=pick(300, 30), seed=seed)}


# three seeds: three random initialisations (and probe initialisations) against the one toy CLIP
runs = {"random init": [probe_scores(create_clip("toy-clip-vit", seed=s), s) for s in (1, 2, 3)],
        "toy CLIP": [probe_scores(toy_clip, s) for s in (1, 2, 3)]}
probe = {name: {k: float(np.mean([r[k] for r in rs])) for k in rs[0]} for name, rs in runs.items()}
for k in ("30 classes", "binding"):
    a, b = [r[k] for r in runs["toy CLIP"]], [r[k] for r in runs["random init"]]
    print(f"{k:10s}: toy CLIP {interval(a)}, random init {interval(b)} → {verdict(a, b, ('toy CLIP', 'random init'))}")
record.add("linear_probes", {name: {k: [r[k] for r in rs] for k in rs[0]} for name, rs in runs.items()})
plot.bars(probe, chance={"30 classes": 1 / 30, "binding": 1 / 6})
plt.title("linear probes on frozen patch tokens (held-out)");

# %% [markdown]
# ### Try it — which layer?
# The probes read the **penultimate** layer (`feature_layer=-2`), as LLaVA does. *Predict first*:
# is the last layer better or worse for naming the object, and is the first layer (`-4`, just
# after the patch embedding) anywhere close? Then run the cell, and try other layers.

# %%
for layer in (-1, -2, -4):
    enc = VisionEncoder(toy_clip, feature_layer=layer)
    acc = linear_probe(pooled_tokens(enc, train_frames), train_labels, pooled_tokens(enc, test_frames), labels,
                       steps=pick(300, 30))
    print(f"feature_layer={layer:2d}: 30-class probe {acc:.3f}")

# %% [markdown]
# Pretraining makes what an image *contains* linearly readable; binding (which colour goes with
# which shape) is harder for a linear probe on pooled tokens — an LM reading all tokens does
# better, as notebook 03 shows. LLaVA's lesson is already visible: start from a pretrained
# encoder and keep it frozen, so the rest of the model can rely on its features.
#
# ## 7 · A tokenizer and a tiny language model
#
# The toy world's text uses a few hundred words, so a **word-level** tokenizer (trained locally
# with the `tokenizers` library) keeps prompts short. It also holds the special tokens the course
# needs: roles, media placeholders (`<image>`, `<video>`, `<audio>`) and 100 **time tokens**
# `<t0>`…`<t99>` for notebook LITA.

# %%
from minivlm.lm import build_tokenizer  # noqa: E402

tokenizer = build_tokenizer()
question = "<video> which way does the red circle move first ?"
ids = tokenizer(question, add_special_tokens=False).input_ids
print(len(tokenizer), "tokens in the vocabulary")
print(ids, "→", tokenizer.convert_ids_to_tokens(ids))
clip_bpe = open_clip.get_tokenizer("toy-clip-vit")
print("CLIP's byte-pair tokenizer needs", int((clip_bpe([question[8:]])[0] > 0).sum()) - 2, "tokens for the same question")

# %% [markdown]
# The toy LM is a small Llama (from **transformers**; its size is printed below), pretrained on
# toy-world text: a scene's description (or a frame told in words) followed by a question or a
# caption request and its answer, plus tens of thousands of "naming lists" ("red thud . blue
# two . red thud .") that teach it to copy from its context (notebook 02 needs that). It learns
# the world's language and to **answer from its context** — the skill a pretrained LLM brings to
# a VLM. Like the toy CLIP it is trained once from its recipe and shipped with the package;
# `zoo.toy_lm()` loads it with `AutoModelForCausalLM.from_pretrained`, the call that loads a real
# LM.

# %%
start = time.perf_counter()
lm, tokenizer = zoo.toy_lm()
print(f"toy LM ready in {time.perf_counter() - start:.0f} s: {lm.config.num_hidden_layers} layers, width "
      f"{lm.config.hidden_size}, {sum(p.numel() for p in lm.parameters()) / 1e6:.2f} M parameters")
print("recipe:", zoo.lm_recipe())

# %%
from minivlm.chat import encode_chat, pad_batch  # noqa: E402
from minivlm.eval import accuracy_by_kind  # noqa: E402

held_out = zoo.lm_corpus(pick(150, 15), split="test", start=0)
prompts = [chat[:1] for chat in held_out]
answers = [chat[1]["content"] for chat in held_out]
batch = pad_batch([encode_chat(tokenizer, p, add_generation_prompt=True) for p in prompts],
                  tokenizer.pad_token_id, side="left")
with torch.no_grad():
    out = lm.generate(**{k: batch[k] for k in ("input_ids", "attention_mask")}, max_new_tokens=8, do_sample=False,
                      eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
predictions = [tokenizer.decode(row[batch["input_ids"].shape[1]:], skip_special_tokens=True).strip() for row in out]
kinds = []
for p in prompts:
    q = p[0]["content"]
    kinds.append(next((k for k, key in [("when", "visible ?"), ("order", "happens first"), ("direction", "which way"),
                                        ("audio", "first sound"), ("count", "how many"), ("colour", "what colour"),
                                        ("shape", "what shape"), ("position", "where is")] if key in q), "caption"))
print(prompts[0][0]["content"])
print("→", predictions[0], "| truth:", answers[0])
lm_accuracy = record.add("toy_lm_accuracy_by_kind", accuracy_by_kind(predictions, answers, kinds))
print({k: round(v, 2) for k, v in lm_accuracy.items()})

# %% [markdown]
# Read the table by kind, against chance (notebook 00): the run prints the share of these held-out
# prompts the toy LM answers exactly, per kind. Counting and the first sound need little reading;
# the colour of *the* diamond or the order of two events mean pulling one fact out of a long
# description, which a 1 M-parameter LM does far less reliably — compare those rows.
# Keep that in mind in the next notebooks: when a VLM fails at binding or order, part of the
# failure is the LM's. They replace
# the description with **pixels**: Flamingo (02) lets the frozen LM look at visual tokens through
# cross-attention, LLaVA (03) writes them straight into its input.
#
# ## Summary
#
# - A ViT turns a frame into patch tokens; CLIP's symmetric contrastive loss gives them meaning.
# - The toy CLIP classifies held-out frames zero-shot far above chance (see the plot), and its
#   frozen tokens make object identity linearly readable — a random encoder's do not.
# - The toy LM speaks the toy world's language and answers from its context, some question kinds
#   far better than others — measured above, per kind. Both bases live in the zoo for the rest of the course.

# %% [markdown]
# ### What changed at toy scale
#
# CLIP was trained on 400 M image–text pairs of the real world; ours on rendered stills of 30
# shape × colour classes, so its zero-shot accuracy (printed above) is near perfect on a test that
# is easy for it — and says nothing about objects it never saw. The same holds for the LM: ≈ 1 M
# parameters that know only the toy world's sentences. What carries over is the mechanism (patch
# tokens, a contrastive loss, a causal LM answering from context) and the lesson of the probes:
# pretrained features make content linearly readable, random ones do not.

# %%
record.save();
