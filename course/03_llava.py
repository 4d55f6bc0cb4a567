# %% [markdown]
# # 03 · LLaVA: visual instruction tuning
#
# **LLaVA** (*Visual Instruction Tuning*, Liu et al., 2023) is the design almost every video LLM
# in this course reuses. It is strikingly simple:
#
# ```
# image ─► frozen CLIP ViT ─► patch tokens (penultimate layer, no CLS) ─► projector ─► visual tokens
#                                                                                      │
#          "<image> what colour is the circle ?"  ──► LM input: [visual tokens] what colour … ─► "red"
# ```
#
# The visual tokens are simply written into the language model's input where the `<image>`
# placeholder stands. What made LLaVA work is **how it was trained**, in two stages:
#
# | | data | trains | LLaVA | LLaVA-1.5 |
# |---|---|---|---|---|
# | stage 1 · feature alignment | image–caption pairs as one-turn chats | projector only | 595K CC3M pairs | 558K LAION/CC/SBU pairs |
# | stage 2 · visual instruction tuning | conversations, detailed descriptions, reasoning | projector + LM | 158K GPT-4-written instructions | 665K (+ academic VQA) |
#
# Stage 1 teaches the projector to write visual tokens the *frozen* LM reads like words; stage 2
# teaches the model to follow instructions about images. The loss is computed on the
# assistant's replies only. LLaVA-1.5 (Liu et al., 2024) then found that a **2-layer MLP
# projector** instead of LLaVA's single linear layer improved every benchmark of its ablation;
# the first LLaVA paper reported that skipping stage 1 cost 5.11 points on ScienceQA
# (90.92 → 85.81 %).
#
# In this notebook we build LLaVA from the course's parts (the presets `llava` and `llava-1.5`),
# train it in two stages on toy-world stills, run both ablations on held-out data, and chat with it.

# %%
# Setup: installs the course package when it is not importable yet (e.g. on Colab).
try:
    import minivlm
except ImportError:
    %pip install -q "minivlm @ git+https://github.com/minivlm/minivlm"
    import minivlm

# %%
import time
from dataclasses import replace

import matplotlib.pyplot as plt
import numpy as np
import torch

from minivlm import build, data, fast_mode, llava, pick, plot, seed_everything
from minivlm.chat import IGNORE_INDEX, encode_chat
from minivlm.checks import compare, report
from minivlm.connectors import MLP
from minivlm.eval import chance_by_kind, evaluate, leaderboard
from minivlm.media import Media
from minivlm.samples import all_media, precompute
from minivlm.stages import run_stage

seed_everything(0)
notebook_start = time.perf_counter()
print("fast mode:", fast_mode())

# %% [markdown]
# ## 1 · The parts
#
# The vision encoder is the toy CLIP of notebook 01, frozen; like LLaVA we take the patch tokens
# of its **penultimate** layer (`feature_layer=-2`) without the CLS token — the last layer is
# shaped most by CLIP's contrastive objective, the one before keeps more detail (LLaVA measured
# 89.96 % vs 90.92 % on ScienceQA for last vs penultimate). The LM is the toy Llama, pretrained
# on toy-world text.
#
# Both models of this notebook are presets — one config each, differing in one field:

# %%
print(llava.LLAVA)
print(llava.LLAVA_15)
model = build("llava-1.5")  # on the zoo's toy CLIP and toy LM; every part starts frozen
encoder, tokenizer = model.vision_encoder, model.tokenizer
print(f"encoder: {encoder.num_patches} patch tokens of width {encoder.width} per image")
print(f"LM: width {model.lm.config.hidden_size}, {model.lm.config.num_hidden_layers} layers, "
      f"{sum(p.numel() for p in model.lm.parameters()) / 1e6:.2f} M parameters")

# %% [markdown]
# ### Exercise 1 — the MLP projector of LLaVA-1.5
#
# LLaVA's projector is one `nn.Linear(d_vision, d_lm)` applied to every patch token. LLaVA-1.5's
# is `Linear(d_vision, d_lm) → GELU → Linear(d_lm, d_lm)` (its `mlp2x_gelu`). Fill in `MyMLP`:
# keep the layers in `self.net` as an `nn.Sequential` of exactly those three modules.

# %%
class MyMLP(torch.nn.Module):
    def __init__(self, in_dim: int, out_dim: int):
        super().__init__()
        # BEGIN SOLUTION
        self.net = torch.nn.Sequential(torch.nn.Linear(in_dim, out_dim), torch.nn.GELU(),
                                       torch.nn.Linear(out_dim, out_dim))
        # END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (..., in_dim) → (..., out_dim), token by token."""
        # BEGIN SOLUTION
        return self.net(x)
        # END SOLUTION


# %%
def check_mlp():
    reference = MLP(encoder.width, model.lm.config.hidden_size)
    mine = MyMLP(encoder.width, model.lm.config.hidden_size)
    if not isinstance(getattr(mine, "net", None), torch.nn.Sequential) or len(mine.net) != 3:
        return "put Linear, GELU, Linear in self.net = nn.Sequential(...)"
    mine.load_state_dict(reference.state_dict())  # same weights: the outputs must agree
    x = torch.randn(2, 16, encoder.width)
    if mine(x).shape != reference(x).shape:
        return f"output shape {tuple(mine(x).shape)}, expected {tuple(reference(x).shape)}"
    err = (mine(x) - reference(x)).abs().max().item()
    return None if err < 1e-5 else f"outputs differ by up to {err:.3g}: check the order of the layers and the GELU"


report("MLP projector", check_mlp);

# %% [markdown]
# `build("llava-1.5")` assembled the model from the parts with the package's `MLP` (the preset's
# `connector="mlp"`; `build("llava")` takes the `Linear` one). Each image becomes 16 visual tokens:
# the prompt's `<image>` placeholder is expanded to 16 slots, and the projector's outputs are
# written there.

# %%
for name, params in model.parts().items():
    print(f"{name:>16}: {sum(p.numel() for p in params):>9,} parameters")
image = Media.image(data.render_still(data.sample_scene("train", 0), 1.0))  # a 64×64 still
print(image, "→", model.num_tokens(image), "tokens")

# %% [markdown]
# ## 2 · The data
#
# - **Stage 1, captions**: each still with a one-turn chat "`<image>` describe the image ." →
#   its caption. LLaVA turned its caption pairs into chats the same way, with a random
#   brief-description instruction.
# - **Stage 2, instructions**: single questions of five kinds — colour, shape, count, position
#   (a 3×3 grid) and **binding** (colour or shape of one object among several: the model must
#   tie attributes to the right object) — and short three-turn **dialogues** whose follow-up
#   says "it" (the answer needs the earlier turns).
#
# Captions are cheap and plentiful, instructions expensive (LLaVA had GPT-4 write them): here
# too stage 1 gets more data than stage 2. The test questions come from the held-out `test` split.

# %%
captions = llava.make_caption_set("train", pick(2000, 48))
questions = llava.make_instruct_qa("train", pick(1500, 48), start=100_000)
dialogues = llava.make_dialogue_set("train", pick(500, 16), start=200_000)
instructions = questions + dialogues
test = llava.make_instruct_qa("test", pick(300, 25))
print(len(captions), "caption chats,", len(instructions), "instruction chats,", len(test), "test questions")
print(captions[0].media, captions[0].messages)
for turn in dialogues[0].messages:
    print(f"  {turn['role']:>9}: {turn['content']}")

# %%
plot.show_frames(np.stack([s.media[0].pixels[0].numpy() for s in test[:6]]), title="held-out stills")
for s in test[:6]:
    print(f"{s.kind:>9} | {s.question} → {s.answer}")

# %% [markdown]
# ### Exercise 2 — labels only on the assistant's turns
#
# The model learns to *answer*, not to predict the user's questions or the image: every label
# outside an assistant reply is `-100` (`IGNORE_INDEX`, which PyTorch's cross-entropy skips).
# LLaVA's `preprocess` does the same by masking each user turn. Given a conversation's pieces
# as `(token_ids, role)` pairs — already tokenized, the template's role markers included —
# return the labels: a reply's tokens (and its `<eos>`) are copied, everything else is `-100`.

# %%
def my_mask_labels(pieces: list[tuple[list[int], str]]) -> list[int]:
    # BEGIN SOLUTION
    labels = []
    for ids, role in pieces:
        labels += list(ids) if role == "assistant" else [IGNORE_INDEX] * len(ids)
    return labels
    # END SOLUTION


# %%
def pieces_of(conversation):
    """The conversation cut into (ids, role) pieces the way minivlm.chat.encode_chat builds it."""
    def ids(text):
        return tokenizer(text, add_special_tokens=False).input_ids
    pieces = [(ids("<bos>"), "template")]
    for m in conversation:
        pieces.append((ids(f"<{m['role']}>"), "template"))
        pieces.append((ids(m["content"]) + (ids("<eos>") if m["role"] == "assistant" else []), m["role"]))
    return pieces


def package_labels(pieces):
    conversation = [{"role": role, "content": tokenizer.decode(ids[:-1] if role == "assistant" else ids)}
                    for ids, role in pieces if role != "template"]
    return encode_chat(tokenizer, conversation, tokens_per_media=1).labels


compare("label masking", my_mask_labels, package_labels,
        [(pieces_of(s.messages),) for s in dialogues[:3] + captions[:2]]);

# %%
example = encode_chat(tokenizer, dialogues[0].messages, tokens_per_media=1)
shown = [f"[{t}]" if label != IGNORE_INDEX else t
         for t, label in zip(tokenizer.convert_ids_to_tokens(example.input_ids), example.labels)]
print("learned tokens in [brackets]:\n", " ".join(shown))

# %% [markdown]
# ## 3 · Encode every image once with the frozen encoder
#
# The encoder never trains in either stage, so we run it once over every image and train on its
# outputs: `precompute(model, samples)` returns the samples with each image carried by its
# encoder features (a `Media` record holds pixels *or* features), and a training step then skips
# the encoder. Every model of this notebook shares the same frozen toy CLIP layer, so the
# features serve all of them. The standardiser of the vision tokenizer is fitted on the caption
# images by an explicit call before training, `model.fit_standardizer(...)` (per-channel mean and
# std — without it the tiny encoder's shared background component drowns what differs between
# images).

# %%
start = time.perf_counter()
encoded = {name: precompute(model, samples) for name, samples in
           [("captions", captions), ("instructions", instructions), ("test", test)]}
print({name: len(samples) for name, samples in encoded.items()}, "samples,", encoded["test"][0].media,
      f"in {time.perf_counter() - start:.1f} s")
probe = torch.randperm(len(test), generator=torch.Generator().manual_seed(0))[: pick(100, 12)].tolist()
test_probe = [encoded["test"][i] for i in probe]


def held_out(m):
    """Accuracy on a fixed sample of the test questions (logged during training)."""
    return {"accuracy": evaluate(m, test_probe)["all"]}

# %% [markdown]
# ## 4 · Train LLaVA in two stages
#
# The two stages are data (`llava.ALIGN`, `llava.INSTRUCT`): which parts train, on which data
# set, at which learning rate. Stage 1: only the projector (`vision_tokenizer`) trains, on
# captions. Stage 2: projector and LM train on questions and dialogues. `run_stage` runs one on
# the course's shared training loop, leaving exactly the stage's parts trainable. Every run of
# this notebook gets the same budget of steps; the two-stage runs split it in half.

# %%
print(llava.ALIGN)
print(llava.INSTRUCT)
ALIGN_STEPS, INSTRUCT_STEPS = pick(150, 3), pick(150, 3)  # this notebook's budget, in place of the stages' own steps
EVAL_EVERY = pick(100, 6)  # held-out checks during stage 2
BATCH = pick(32, 8)


def two_stage(preset: str, align_steps: int = ALIGN_STEPS, instruct_steps: int = INSTRUCT_STEPS, seed: int = 0):
    """A fresh model of the preset; stage 1 (if align_steps) then stage 2."""
    m = build(preset, seed=seed)
    m.fit_standardizer(all_media(encoded["captions"]))
    out = {"model": m}
    if align_steps:
        align = replace(llava.ALIGN, steps=align_steps, batch_size=BATCH)
        out["stage1"] = run_stage(m, align, encoded[align.data], seed=seed)
        out["after_stage1"] = evaluate(m, encoded["test"])
    instruct = replace(llava.INSTRUCT, steps=instruct_steps, batch_size=BATCH)
    out["stage2"] = run_stage(m, instruct, encoded[instruct.data], seed=seed, eval_fn=held_out,
                              eval_every=EVAL_EVERY)
    out["final"] = evaluate(m, encoded["test"])
    return out


start = time.perf_counter()
runs = {"LLaVA-1.5 (MLP, 2 stages)": two_stage("llava-1.5")}
main = runs["LLaVA-1.5 (MLP, 2 stages)"]
print(f"trained in {time.perf_counter() - start:.0f} s")
print("after stage 1 only (zero-shot questions):", {k: round(v, 2) for k, v in main["after_stage1"].items()})
print("after stage 2:                          ", {k: round(v, 2) for k, v in main["final"].items()})

# %% [markdown]
# After stage 1 alone the model has never seen a question about an image: whatever it answers
# right there comes from the LM's text pretraining (it learned to answer from a caption in its
# context) reading the aligned visual tokens. Stage 2 then teaches the tasks themselves.
#
# ## 5 · Ablation (a): MLP vs linear projector
#
# Same data, same steps, same seed; only the projector differs (the preset `llava`).

# %%
start = time.perf_counter()
runs["LLaVA (linear, 2 stages)"] = two_stage("llava")
print(f"trained in {time.perf_counter() - start:.0f} s")

# %% [markdown]
# ## 6 · Ablation (b): with vs without stage 1, at equal total steps
#
# The MLP model again, but the whole budget goes to stage 2: no alignment on captions first.

# %%
start = time.perf_counter()
runs["MLP, stage 2 only"] = two_stage("llava-1.5", align_steps=0, instruct_steps=ALIGN_STEPS + INSTRUCT_STEPS)
print(f"trained in {time.perf_counter() - start:.0f} s")

# %% [markdown]
# ## 7 · Side by side, on held-out stills

# %%
results = {name: run["final"] for name, run in runs.items()}
chance = chance_by_kind([s.answer for s in test], [s.kind for s in test])
print(leaderboard({**results, "chance (most common answer)": chance}))

fig, axes = plt.subplots(1, 2, figsize=(13, 3.8))
plot.bars(results, chance=chance, ax=axes[0])
axes[0].set_title("held-out accuracy by question kind (dashes: chance)")
for name, run in runs.items():
    steps, acc = zip(*run["stage2"].metrics["accuracy"])
    offset = ALIGN_STEPS if "stage1" in run else 0  # plot against total steps, stage 1 included
    axes[1].plot(np.array(steps) + offset, acc, marker="o", ms=3, label=name)
axes[1].axvline(ALIGN_STEPS, color="grey", ls=":", lw=1)
axes[1].set_xlabel("total training steps (dotted: end of stage 1)")
axes[1].set_ylabel("held-out accuracy")
axes[1].legend(fontsize=8)
plt.tight_layout()

# %% [markdown]
# The stage-1 loss curves show how well each projector aligns images to captions while the LM
# stays frozen:

# %%
plot.training_curves({name: run["stage1"] for name, run in runs.items() if "stage1" in run}, smooth=3)
plt.title("stage 1: caption loss with a frozen LM");

# %%
def gap(a: str, b: str, kind: str = "all") -> float:
    return results[a][kind] - results[b][kind]


print(f"(a) MLP − linear projector:        {gap('LLaVA-1.5 (MLP, 2 stages)', 'LLaVA (linear, 2 stages)'):+.3f} "
      "held-out accuracy")
print(f"(b) with − without stage 1:         {gap('LLaVA-1.5 (MLP, 2 stages)', 'MLP, stage 2 only'):+.3f} "
      "held-out accuracy (equal total steps)")
print("stage-1 caption loss at the end:   ", {name: round(run["stage1"].final_loss(), 3)
                                             for name, run in runs.items() if "stage1" in run})
accuracy = results["LLaVA-1.5 (MLP, 2 stages)"]["all"]
standard_error = (accuracy * (1 - accuracy) / len(test)) ** 0.5  # binomial, one seed
print(f"test set: {len(test)} questions → standard error of one accuracy ≈ {standard_error:.3f}; "
      "a gap smaller than about twice that is not distinguishable from noise")

# %% [markdown]
# **Reading the results.** Compare the printed gaps with the paper's direction: the MLP should
# align and answer better than the linear layer, and stage 1 should make stage 2 start from a
# better place. In the toy world two things weaken both effects, and the numbers above show how
# much:
#
# - *The LM trains in stage 2.* A 4-layer LM whose input layer can itself compute nonlinear
#   functions of the visual tokens makes up for a linear projector; the MLP matters most where
#   the LM is frozen — stage 1, whose loss curves are plotted above.
# - *Stage 1 needs an LM that can write captions.* LLaVA's LLM could already describe things;
#   only the projector had to learn to *show* it the image. Our toy LM was pretrained to write a
#   caption from a frame told in words (`zoo.lm_corpus`), so stage 1 only has to make the visual
#   tokens say what that listing said. If the stage-1 caption loss stays high (curves above), the
#   steps spent on stage 1 are simply steps stage 2 does not get. The zero-shot accuracy after
#   stage 1 (section 4) says how much of the LM's text skill the aligned tokens unlock.
#
# ## 8 · Chat with the trained model
#
# `model.chat(image, question, history=..., on_token=...)` takes a new image (any uint8
# `(H, W, 3)` still, or a clip `(T, H, W, 3)`) and streams the answer token by token. A
# follow-up passes the earlier turns as `history`.

# %%
model = main["model"]
new_dialogues = llava.make_dialogue_set("test", pick(3, 1), start=50_000)  # held-out images, never seen
for sample in new_dialogues:
    image, conversation = sample.media[0].pixels[0].numpy(), sample.messages
    plot.show_frames(image[None])
    plt.show()
    history = []
    for asked, truth in zip(conversation[0::2], conversation[1::2]):
        question = asked["content"].replace("<image> ", "")
        print(f"user: {question}\nassistant: ", end="")
        reply = model.chat(image, question, history=history, max_new_tokens=8,
                           on_token=lambda piece: print(piece, end=" ", flush=True))
        print(f"   (truth: {truth['content']})")
        history += [asked, {"role": "assistant", "content": reply}]

# %% [markdown]
# ## Summary
#
# - LLaVA = frozen CLIP encoder (penultimate-layer patch tokens) → projector → visual tokens in
#   the LM's input; trained in two stages (`llava.RECIPE`): captions with only the projector,
#   then instructions with projector + LM; loss on the assistant's replies only (exercise 2).
# - LLaVA-1.5's change is one extra layer and a GELU (exercise 1).
# - The ablation table and curves above are what the toy world shows for (a) MLP vs linear and
#   (b) stage 1 or not at equal steps — read the gaps together with the standard error printed
#   below them.

# %%
print(f"wall time of this notebook: {time.perf_counter() - notebook_start:.0f} s (fast mode: {fast_mode()})")
print(leaderboard(results))
