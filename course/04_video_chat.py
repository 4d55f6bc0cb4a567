# %% [markdown]
# # 04 · Video chat: VideoChat, Video-ChatGPT and Valley
#
# LLaVA (notebook 03) taught a language model to talk about **images** by training on
# conversations that a text-only LLM wrote from image captions. In spring 2023 three papers did the
# same for **video**, and each added one idea we rebuild here:
#
# | paper | what it added | its figure of merit |
# |---|---|---|
# | **VideoChat** (Li et al., May 2023) | video *instruction data* written by ChatGPT from descriptions: 7K detailed descriptions + 4K multi-turn conversations | qualitative chats |
# | **Video-ChatGPT** (Maaz et al., Jun 2023) | 100K video instructions; **spatio-temporal pooling** of CLIP features — T frame tokens + N patch tokens instead of T×N; a **benchmark judged by GPT-3.5** on five criteria (0–5) | correctness 2.40, detail 2.52, context 2.62, temporal 1.98, consistency 2.37; MSVD-QA 64.9 % accuracy, score 3.3 |
# | **Valley** (Luo et al., Jun 2023) | 73K instructions in three kinds — detailed description, multi-turn dialogue, complex reasoning — and a **temporal modelling module**, tried in three versions: v1 averages over time, v3 runs a transformer over frames before averaging | zero-shot QA judged by GPT-3.5 (accuracy / score) on the benchmarks Video-ChatGPT introduced (Video-ChatGPT itself: MSVD-QA 64.9 / 3.3, ActivityNet-QA 35.2 / 2.7) |
#
# In this notebook:
#
# 1. **instruction data** written from the toy world's ground truth, in Valley's three kinds —
#    by templates, or by any LLM you plug in — and *checked* against the scene;
# 2. frames sampled with **decord** from `.mp4` clips;
# 3. three **token layouts** for a video — all frame tokens, Video-ChatGPT's pooling (which is
#    Valley's v1), Valley's v3 temporal module (you write it) — each started from one
#    image-pretrained LLaVA;
# 4. which parts learn: Video-ChatGPT's frozen LM, measured against Valley's unfrozen one;
# 5. a **judge** for open answers (Video-ChatGPT's five criteria + Video-LLaVA's accuracy/score),
#    rule-based with the ground truth, or any LLM;
# 6. every comparison over three seeds, with its interval; why the all-frames layout struggles
#    with direction questions, and a fix, measured; a multi-turn chat about a clip.

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
from collections import Counter

import matplotlib.pyplot as plt
import numpy as np
import torch

from minivlm import build, data, fast_mode, llava, pick, plot, seed_everything
from minivlm.checks import report
from minivlm.facts import Fact, read_facts
from minivlm.instruct import (INSTRUCTION_KINDS, LLMWriter, TemplateWriter, Turn, colour_at_end,
                              colour_at_end_problem, instruction_samples, verify, write_instructions)
from minivlm.judge import (RuleJudge, direction_items, evaluate, judge_prompt, make_benchmark,
                           model_answers)
from minivlm.lm import build_tokenizer
from minivlm.media import Media
from minivlm.results import Record, interval, mean_se, verdict
from minivlm.samples import all_media, encode_sample, precompute
from minivlm.stages import run_stage
from minivlm.video_chat import VALLEY_INSTRUCT, VIDEO_CHATGPT_INSTRUCT, check_valley_temporal, from_image_model
from minivlm.zoo import lm_examples, lm_recipe

record = Record("04")
seed_everything(0)
print("fast mode:", fast_mode())

# %% [markdown]
# ## 1 · Instruction data from descriptions
#
# VideoChat, Video-ChatGPT and Valley had no human-written video conversations. They gave
# ChatGPT what *text* they had about a video — captions, detected objects, timestamps — and asked
# it to write a conversation as if it could see the video. The video model then learns to hold
# those conversations while *watching*.
#
# Our toy world's text is its ground truth. Here is a clip and its description:

# %%
scene = data.sample_scene("train", 7)
plot.show_frames(data.render(scene, data.uniform_times(scene, 8)), data.uniform_times(scene, 8))
print(data.describe(scene))

# %% [markdown]
# `TemplateWriter` writes Valley's three kinds of conversation from the scene, with varied
# templates: a **detailed description**, a **multi-turn dialogue** (follow-up questions refer back
# with "it"), and **complex reasoning** — *why* something happens, *what if* something were
# different (answered in a changed copy of the world), *in which order* things happen.

# %%
writer = TemplateWriter(variety=0.3)
rng = np.random.default_rng(1)
for kind in INSTRUCTION_KINDS:
    instruction = writer.write(scene, kind, rng)
    print(f"--- {kind}")
    for message in instruction.messages():
        print(f"{message['role']:>9}: {message['content']}")

# %% [markdown]
# Every answer carries the **facts** it asserts, so it can be checked against the scene.
# `verify` checks each fact — and every fact it can *read* in the answer's text — against the
# ground truth (what-if answers against the changed world). Over many scenes, nothing fails:

# %%
check_scenes = data.sample_scenes("train", pick(400, 40))
instructions, owners = write_instructions(check_scenes, writer)
problems = [p for ins, k in zip(instructions, owners) for p in verify(ins, check_scenes[k])]
skills = {}
for ins in instructions:
    for turn in ins.turns:
        skills[turn.skill] = skills.get(turn.skill, 0) + 1
print(len(instructions), "conversations,", sum(len(i.turns) for i in instructions), "answers,", len(problems), "problems")
print("questions per skill:", skills)
print("reasoning example facts:", [f.text() for ins in instructions if ins.kind == "reasoning" for f in ins.turns[0].facts][:3])

# %% [markdown]
# ### The same data, written by an LLM
#
# With a real LLM you would do what the papers did: `LLMWriter(llm)` takes any
# `Callable[[str], str]` and sends it a prompt built from the description (the prompt is printed
# below). LLMs make mistakes, so it keeps only answers whose facts the scene confirms. Here a fake
# "LLM" returns a canned reply with one mistake; the mistake is filtered out.

# %%
llm_writer = LLMWriter(llm=lambda prompt: (
    "user: how many objects are there ?\nassistant: there are three objects .\n"
    "user: which way does the blue cross move ?\nassistant: it moves down .\n"
    "user: what does the green diamond do ?\nassistant: it moves left ."))
print(llm_writer.prompt(scene, "dialogue"))
written = llm_writer.write(scene, "dialogue")
print("kept:", [(t.question, t.answer) for t in written.turns])

# %% [markdown]
# ### Exercise 1 — a new dialogue template, answerable from the ground truth
#
# Write a template for the question *"what colour is the {name} at the end ?"* about the **first
# object (in `scene.objects` order) that is still visible at the end** of the clip (at time
# `scene.duration - 0.01`). Objects are named by their starting colour and shape (`o.name()`); the
# answer is its colour at the end (`scene.colour_at(i, t)`), e.g. `"blue ."`. Return a `Turn` whose
# `facts` say so — `Fact("colour_at", name, colour, t)` — or `None` when no object is visible at
# the end. Use only words the tokenizer knows. The check compares your turn with the package's
# (`instruct.colour_at_end`) on 60 scenes: the object, the time of the fact, the colour, and
# whether the answer's text says what its fact says.

# %%
def my_colour_at_end(scene: data.Scene) -> Turn | None:
    # BEGIN SOLUTION
    t = scene.duration - 0.01
    for i, o in enumerate(scene.objects):
        if scene.visible(i, t):
            colour = scene.colour_at(i, t)
            return Turn(f"what colour is the {o.name()} at the end ?", f"{colour} .",
                        (Fact("colour_at", o.name(), colour, t),), "colour")
    return None
    # END SOLUTION


# %%
vocabulary = build_tokenizer()
template_ok = report("colour at the end — answerable from the ground truth",
                     lambda: colour_at_end_problem(my_colour_at_end, vocabulary))

# %% [markdown]
# After a ✅ your template writes checked dialogue turns like any other: here it asks about a
# few validation clips (a ⏳ or ❌ falls back to the package's `instruct.colour_at_end`).

# %%
colour_template = my_colour_at_end if template_ok else colour_at_end
for scene_ in data.sample_scenes("val", 4):
    turn = colour_template(scene_)
    print(f"scene {scene_.seed}:", (turn.question, turn.answer) if turn else "nothing is visible at the end")

# %% [markdown]
# ## 2 · Clips on disk, frames through decord
#
# Real video models read `.mp4` files. We write the training and test clips as files and sample
# 8 frames uniformly from each with **decord** (`data.ClipFolder`), as Video-ChatGPT and Valley
# do (they sample 100 and 8 frames).

# %%
NUM_FRAMES = 8
N_TRAIN, N_TEST = pick(600, 24), pick(60, 8)
start = time.perf_counter()
folder = tempfile.mkdtemp(prefix="minivlm04_")
data.write_clip_folder(f"{folder}/train", "train", N_TRAIN, with_audio=False)
data.write_clip_folder(f"{folder}/test", "test", N_TEST, with_audio=False)
train_clips = data.ClipFolder(f"{folder}/train", num_frames=NUM_FRAMES)
test_clips = data.ClipFolder(f"{folder}/test", num_frames=NUM_FRAMES)
train_items = [train_clips[i] for i in range(len(train_clips))]
test_items = [test_clips[i] for i in range(len(test_clips))]
# one video Media per clip: its frames (T, H, W, 3) uint8 and the times they were sampled at
train_videos = [Media.video(it["frames"], it["times"]) for it in train_items]
test_videos = [Media.video(it["frames"], it["times"]) for it in test_items]
train_scenes = [it["scene"] for it in train_items]
test_scenes = [it["scene"] for it in test_items]
print(f"{N_TRAIN} + {N_TEST} clips written and decoded in {time.perf_counter() - start:.1f} s;",
      train_videos[0], "sampled at", np.round(train_videos[0].times, 2), "s")

# %% [markdown]
# The training conversations: one of each kind per training clip, each a `Sample` — the
# conversation, its kind, its scene, and its clip's video `Media`. The conversations about one
# clip share that one `Media` object, so its frames are encoded once.

# %%
train_samples = instruction_samples(train_videos, train_scenes, TemplateWriter(variety=0.3), seed=0)
print(len(train_samples), "training conversations;",
      {k: sum(s.kind == k for s in train_samples) for k in INSTRUCTION_KINDS}, "about", len(all_media(train_samples)), "clips")
print(train_samples[0])

# %% [markdown]
# ## 3 · Three token layouts for a video
#
# The frozen toy CLIP turns each frame into P = 16 patch tokens, so 8 frames give 128. How should
# they reach the language model?
#
# - **All frame tokens**, concatenated (`build("llava")` on a clip): T×P tokens. Nothing is lost,
#   but the count grows with every frame (100 frames of CLIP ViT-L/14 would be 25,600 tokens).
# - **Video-ChatGPT's spatio-temporal pooling** (`build("video-chatgpt")`): average each frame
#   over space → T *temporal* tokens; average each patch over time → P *spatial* tokens; T + P.
# - **Valley's temporal module** (`build("valley")`): Valley tried three. Its **v1** averaged each
#   patch over time (P tokens) beside one token per frame (T tokens) — the same tokens as
#   Video-ChatGPT's pooling, in the other order. Its time-averaged tokens cannot tell a clip from its
#   reverse ("temporal confusion", the paper says), so its **v3** first runs a 1-layer transformer
#   encoder over each patch's frames (with a learned time embedding, so order is visible), then
#   averages over time: P + T tokens again. **Pooling vs Valley below is Valley's own v1-vs-v3
#   ablation.**
#
# The drawing shows what each token of a clip summarises (colour: the frame it comes from; grey:
# all frames averaged; hatched: all frames, through the transformer), with the counts the
# reducers compute:

# %%
NUM_PATCHES = build("llava").vision_encoder.num_patches
LAYOUT_PRESETS = {"all frames": "llava", "Video-ChatGPT pooling (= Valley v1)": "video-chatgpt",
                  "Valley v3 temporal module": "valley"}
counts = {name: build(preset).vision_tokenizer.reducer.num_tokens(NUM_FRAMES, NUM_PATCHES)
          for name, preset in LAYOUT_PRESETS.items()}
frame_colour = plt.cm.viridis(np.linspace(0, 1, NUM_FRAMES))
fig, ax = plt.subplots(figsize=(11, 2.4))
rows = {"all frames": [("frame", t) for t in range(NUM_FRAMES) for _ in range(NUM_PATCHES)],
        "Video-ChatGPT pooling (= Valley v1)": [("frame", t) for t in range(NUM_FRAMES)] + [("mean", p) for p in range(NUM_PATCHES)],
        "Valley v3 temporal module": [("encoded", p) for p in range(NUM_PATCHES)] + [("frame", t) for t in range(NUM_FRAMES)]}
for y, (name, tokens) in enumerate(rows.items()):
    for x, (kind, k) in enumerate(tokens):
        colour = frame_colour[k] if kind == "frame" else "lightgrey"
        ax.add_patch(plt.Rectangle((x, -y), 0.9, 0.7, color=colour, hatch="////" if kind == "encoded" else None,
                                   ec="k" if kind == "encoded" else None, lw=0.3))
    ax.text(-1, -y + 0.35, f"{name}: {counts[name]} tokens", ha="right", va="center", fontsize=9)
    assert len(tokens) == counts[name]  # the drawing and the reducer agree
ax.set_xlim(-48, NUM_FRAMES * NUM_PATCHES + 1)
ax.set_ylim(-len(rows) + 0.5, 1)
ax.axis("off")
ax.set_title(f"{NUM_FRAMES} frames × {NUM_PATCHES} patches: the LM's visual tokens, in sequence order", fontsize=10)
plt.show()

# %% [markdown]
# ### Exercise 2 — Valley's temporal module
#
# Write Valley v3's reducer as a function of its parts: `x` is the clip's frame tokens
# (B, T, P, D), `time_embedding` a (max_frames, D) parameter, `encoder` a
# `torch.nn.TransformerEncoderLayer` (batch first). Return (B, P + T, D):
#
# 1. for each patch position, its sequence over the T frames — a (B·P, T, D) batch — plus the
#    time embedding of frames 0 … T − 1;
# 2. through the encoder, then averaged over time → P tokens;
# 3. then the T frame tokens: each frame's mean patch token.
#
# The check compares your function with the package's module (`reducers.ValleyTemporal`) on random
# clips. After a ✅, the Valley models trained below run *your* function as their reducer.

# %%
def my_valley_temporal(x: torch.Tensor, time_embedding: torch.Tensor, encoder: torch.nn.Module) -> torch.Tensor:
    # BEGIN SOLUTION
    b, t, p, d = x.shape
    sequences = x.permute(0, 2, 1, 3).reshape(b * p, t, d) + time_embedding[:t]  # (B·P, T, D)
    pooled = encoder(sequences).view(b, p, t, d).mean(2)  # (B, P, D): each place, over the clip
    return torch.cat([pooled, x.mean(2)], dim=1)  # (B, P + T, D)
    # END SOLUTION


# %%
valley_ok = check_valley_temporal(my_valley_temporal)


def use_learners_module(model):
    """After a ✅: the model's Valley reducer runs my_valley_temporal with its own parameters."""
    reducer = model.vision_tokenizer.reducer
    if valley_ok:
        reducer.forward = lambda x: my_valley_temporal(x, reducer.time_embedding, reducer.encoder)
    return model


print("Valley models below use", "your function" if valley_ok else "the package's module")

# %% [markdown]
# ## 4 · An image-pretrained LLaVA, extended to video
#
# All variants start from the same image model, as Video-ChatGPT started from LLaVA's weights:
# LLaVA (`build("llava")`: the zoo's frozen toy CLIP and toy LM joined by a linear projector —
# Video-ChatGPT and Valley use a linear one too), first trained on **stills and their captions**
# (LLaVA's stage 1, `llava.ALIGN`: only the projector learns). The feature standardiser is fitted
# on the stills' features beforehand, by an explicit call. The reducer sits *before* the
# projector, so the image projector serves every layout.

# %%
image_model = build("llava")
start = time.perf_counter()
stills = precompute(image_model, llava.make_caption_set("val", pick(1500, 32), data.WorldConfig(max_objects=3)))
image_model.fit_standardizer(all_media(stills))
stage1 = run_stage(image_model, dataclasses.replace(llava.ALIGN, steps=pick(40, 2), batch_size=64), stills,
                   progress=False)
print(f"stage 1 (projector on stills): {time.perf_counter() - start:.1f} s, final loss {stage1.final_loss():.3f}")

# %% [markdown]
# The video features are computed once by the frozen encoder, which every variant and seed
# shares (each clip once, however many conversations it has). Each variant starts from the
# image model's standardiser and projector (`video_chat.from_image_model`) with its own reducer.

# %%
start = time.perf_counter()
train_samples = precompute(image_model, train_samples)
test_media = image_model.precompute(test_videos)
print(f"{len(all_media(train_samples))} + {len(test_media)} clips encoded once in {time.perf_counter() - start:.1f} s,",
      "each", test_media[0])

# %% [markdown]
# ### Which parts learn
#
# Video-ChatGPT trained **only its projector** on its video instructions; its LM — LLaVA's,
# already instruction-tuned on image conversations — stayed frozen (`video_chat.VIDEO_CHATGPT_INSTRUCT`).
# Valley's second stage trained the projector, with its temporal module, *and* the LM
# (`video_chat.VALLEY_INSTRUCT`).
#
# Our toy LM was pretrained only on one-turn text chats (a description or a frame told in words,
# a question, a short answer): it never held a conversation about a `<video>`, never answered with
# a detailed description, never followed up on "it" — Video-ChatGPT's frozen LM had learned all
# that in LLaVA's instruction tuning. So we measure both: Video-ChatGPT's layout trained as the
# paper did (LM frozen) and with Valley's stage (LM unfrozen); the layouts are compared with the
# LM unfrozen, so that the comparison is about the layout alone.
#
# A fifth variant answers a question about the all-frames layout, asked in section 7.

# %%
FIX = "all frames, 2×2 per frame"
VARIANTS = {  # name: (preset, changes to its config, stage)
    "all frames": ("llava", {}, VALLEY_INSTRUCT),
    "Video-ChatGPT pooling": ("video-chatgpt", {}, VALLEY_INSTRUCT),
    "Valley v3": ("valley", {}, VALLEY_INSTRUCT),
    "Video-ChatGPT, LM frozen": ("video-chatgpt", {}, VIDEO_CHATGPT_INSTRUCT),
    FIX: ("llava", {"reducer": "adaptive_pool", "reducer_args": {"height": 2, "width": 2}}, VALLEY_INSTRUCT),
}
print("which parts learn:", {name: stage.train for name, (_, _, stage) in VARIANTS.items()})

# %% [markdown]
# ## 5 · Judging open answers
#
# How good is "the red circle moves left , then it stops at 2.0 seconds"? Video-ChatGPT asked
# GPT-3.5 to score each answer 0–5 against a reference on five criteria; Video-LLaVA and others
# score short open answers with a yes/no + 0–5 judgement. `LLMJudge(llm)` sends exactly such
# prompts to any LLM you have:

# %%
print(judge_prompt("temporal", "what happens first , the red circle stops or the blue square appears ?",
                   "the blue square appears .", "the red circle stops ."))

# %% [markdown]
# Without an LLM at hand, `RuleJudge` reads the facts an answer states and checks them against
# the toy world's ground truth: **correctness** = share of stated facts that are true;
# **detail** = share of the reference's facts covered; **context** = the right objects and no
# invented ones; **temporal** = the asked events named, in the true order; **consistency** = two
# paraphrased questions answered alike and right. It costs microseconds per answer, so every
# seed of every variant is judged. A sanity check on hand-written answers — right, partly wrong,
# wrong — must come out in that order:

# %%
judge = RuleJudge()
example = test_scenes[0]
reference = data.describe(example)
o = next((o for o in example.objects if o.direction), example.objects[0])
other = next(c for c in data.COLOURS if c not in (o.colour, o.new_colour))
motion = f"the {o.name()} " + (f"moves {o.direction}" if o.direction else "stays still")
partly = reference.replace(motion, f"the {o.name()} moves {'up' if o.direction != 'up' else 'down'} . the {other} {o.shape} "
                           f"stays still")  # one motion wrong, one object invented
wrong = f"there are six objects . the {other} {o.shape} stays still ."
print("facts read from the partly wrong answer:", [f.text() for f in read_facts(partly)][:5], "...")
for label, answer in [("right", reference), ("partly wrong", partly), ("wrong", wrong)]:
    scores = {c: judge.judge(c, "describe the video in detail .", answer, reference, example).score
              for c in ("correctness", "detail", "context")}
    print(f"{label:>13}:", {k: round(v, 2) for k, v in scores.items()})

# %% [markdown]
# The benchmark: for every test clip a generic question ("describe the video in detail ."), a
# temporal question (which way something moves first, which of two events happens first, what
# happens next), a pair of paraphrased questions, and one short open question. Direction
# questions get a set of their own: every object that moves from the start is asked about
# (`judge.direction_items`), so that direction accuracy rests on more than a handful of questions.

# %%
bench = make_benchmark(test_scenes)
direction_bench = direction_items(test_scenes)
print(len(bench), "questions, e.g.")
for item in bench[:4]:
    print(f"  [{item.set}/{item.kind}] {item.question} → {item.reference[:70]}")
print(len(direction_bench), "direction questions (chance: 1 in 4)")

# %% [markdown]
# ## 6 · Training every variant over seeds
#
# One run = one variant × one seed (the seed sets the new parts' initialisation and the batch
# order; the data and the image model are the same). Each model answers every question about
# its clip (`model.answer`, greedy), and the judge scores the answers.

# %%
SEEDS = (0, 1, 2)
STEPS, BATCH = pick(60, 2), pick(12, 4)  # the budget: full mode is meant to stay within ~5 minutes on 2 CPU cores
LONG, SHORT = pick(100, 8), pick(12, 4)  # answer lengths: a description, a short answer


def run(name: str, seed: int, lr: float | None = None) -> dict:
    """Train one variant from the image model; returns its model, history and judged results."""
    preset, changes, stage = VARIANTS[name]
    model = from_image_model(preset, image_model, seed=seed, **changes)
    if preset == "valley":
        use_learners_module(model)
    stage = dataclasses.replace(stage, name=name, steps=STEPS, batch_size=BATCH, lr=lr or stage.lr)
    history = run_stage(model, stage, train_samples, seed=seed, progress=False)
    rep = evaluate(model_answers(model, test_media, long_tokens=LONG, short_tokens=SHORT), bench, test_scenes, judge)
    direction = evaluate(model_answers(model, test_media, short_tokens=4), direction_bench, test_scenes, judge)
    named = [any(w in data.DIRECTIONS for w in r["answer"].split()) for r in direction.records]
    return {"model": model, "history": history, "report": rep, **rep.summary, "direction records": direction.records,
            "direction": direction.by_kind["temporal/direction"], "names a direction": float(np.mean(named)),
            "loss": history.final_loss(),
            "seconds": history.seconds, "tokens": model.num_tokens(test_media[0])}


print("as run here:", *(dataclasses.replace(st, steps=STEPS, batch_size=BATCH) for st in (VIDEO_CHATGPT_INSTRUCT, VALLEY_INSTRUCT)),
      sep="\n  ")
runs = {name: [] for name in VARIANTS}
for name in VARIANTS:
    for seed in SEEDS:
        runs[name].append(run(name, seed))
        r = runs[name][-1]
        print(f"{name:>26} seed {seed}: {r['tokens']:3d} tokens, loss {r['loss']:.3f}, temporal {r['temporal']:.2f}, "
              f"direction {r['direction']:.2f}, QA accuracy {r['accuracy']:.2f} ({r['seconds']:.0f} s training)")


def values(name: str, metric: str) -> list[float]:
    return [r[metric] for r in runs[name]]


# %%
plot.training_curves({name: rs[0]["history"] for name, rs in runs.items()}, smooth=3)
plt.title("video instruction tuning (seed 0)");

# %% [markdown]
# ## 7 · What the runs say
#
# Every figure below is a mean ± standard error over the seeds; a variant is called better only
# when the difference is more than twice its standard error (`results.verdict`).
#
# ### Token layouts (LM unfrozen)

# %%
LAYOUTS = ["all frames", "Video-ChatGPT pooling", "Valley v3"]
CRITERIA = ("correctness", "detail", "context", "temporal", "consistency", "accuracy", "score")
print(f"{'':>26} " + " ".join(f"{c[:11]:>12}" for c in (*CRITERIA, "direction")))
for name in VARIANTS:
    cells = [mean_se(values(name, c)) for c in (*CRITERIA, "direction")]
    print(f"{name:>26} " + " ".join(f"{m:6.2f} ± {se:4.2f}" for m, se in cells))
fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
for ax, metric, ylabel in zip(axes, ("temporal", "direction", "accuracy"),
                              ("temporal score (0–5)", "direction accuracy", "short-QA accuracy")):
    plot.seed_spread({f"{n}\n({runs[n][0]['tokens']} tokens)": values(n, metric) for n in LAYOUTS}, ax=ax,
                     ylabel=ylabel, chance=0.25 if metric == "direction" else None)
plt.tight_layout()
plt.show()
layout_verdicts = {}
for metric in ("temporal", "direction", "accuracy", "correctness"):
    layout_verdicts[metric] = (
        verdict(values("Video-ChatGPT pooling", metric), values("all frames", metric), ("pooling", "all frames")),
        verdict(values("Valley v3", metric), values("Video-ChatGPT pooling", metric), ("Valley v3", "Valley v1 (pooling)")))
    print(f"{metric}:", *layout_verdicts[metric], sep="\n    ")
    record.add(f"{metric} by variant", {n: values(n, metric) for n in VARIANTS})
record.add("direction by variant", {n: values(n, "direction") for n in VARIANTS})
record.add("training seconds by variant", {n: values(n, "seconds") for n in VARIANTS})

# %% [markdown]
# ### Which question kinds part the layouts most?
#
# For every kind of question, the spread of the three layouts' mean accuracies (best − worst),
# and whether the best and the worst are distinguishable:

# %%
kinds = sorted(runs["all frames"][0]["report"].by_kind)
by_kind = {k: {n: [r["report"].by_kind.get(k, np.nan) for r in runs[n]] for n in LAYOUTS} for k in kinds}
by_kind["direction (own set)"] = {n: values(n, "direction") for n in LAYOUTS}
spreads = {}
for k, table in by_kind.items():
    means = {n: float(np.nanmean(v)) for n, v in table.items()}
    best, worst = max(means, key=means.get), min(means, key=means.get)
    spreads[k] = (means[best] - means[worst], verdict(table[best], table[worst], (best, worst)))
    print(f"{k:>22}: " + "  ".join(f"{n} {interval(v, 2)}" for n, v in table.items()))
widest = max(spreads, key=lambda k: spreads[k][0])
print(f"\nwidest spread: {widest} ({spreads[widest][0]:.2f}) — {spreads[widest][1]}")
record.add("accuracy by question kind", by_kind)

# %% [markdown]
# Each temporal kind has one question per clip at most, a few dozen per run: a gap of one or two
# questions is noise, and the verdict above says whether the widest spread is more than that.
#
# ### Video-ChatGPT as the paper trained it: LM frozen

# %%
frozen_pair = {"LM frozen (paper)": "Video-ChatGPT, LM frozen", "LM unfrozen (Valley's stage)": "Video-ChatGPT pooling"}
fig, axes = plt.subplots(1, 3, figsize=(10, 3.2))
for ax, metric in zip(axes, ("correctness", "temporal", "accuracy")):
    plot.seed_spread({k: values(v, metric) for k, v in frozen_pair.items()}, ax=ax, ylabel=metric)
plt.tight_layout()
plt.show()
frozen_verdicts = {m: verdict(values("Video-ChatGPT pooling", m), values("Video-ChatGPT, LM frozen", m),
                              ("LM unfrozen", "LM frozen")) for m in ("correctness", "temporal", "accuracy", "loss")}
frozen_verdicts["loss"] = verdict(values("Video-ChatGPT pooling", "loss"), values("Video-ChatGPT, LM frozen", "loss"),
                                  ("LM unfrozen", "LM frozen"), higher_is_better=False)
for m, v in frozen_verdicts.items():
    print(f"{m}: {v}")
print("final training loss:", "; ".join(f"{k} {interval(values(v, 'loss'))}" for k, v in frozen_pair.items()))
print("a frozen-LM answer:", runs["Video-ChatGPT, LM frozen"][0]["report"].records[0]["answer"][:120])
record.add("loss by variant", {n: values(n, "loss") for n in VARIANTS})

# %% [markdown]
# ### The all-frames layout and direction questions
#
# A model that guesses a direction is right about 1 time in 4; a model that does not answer with
# a direction at all scores below that. So before reading the all-frames model's direction
# accuracy, look at what it answers: the share of direction answers that name any direction at
# all (every seed), and the all-frames model's most common answers (seed 0, one run):

# %%
for name in VARIANTS:
    print(f"{name:>26}: names a direction in {interval(values(name, 'names a direction'), 2)} of its answers; "
          f"right in {interval(values(name, 'direction'), 2)}")
common = Counter(r["answer"] for r in runs["all frames"][0]["direction records"]).most_common(5)
print("all frames, most common answers to 'which way does … move first ?':", common)
for name in ("all frames", "Video-ChatGPT pooling"):
    wrong = [r for run_ in runs[name] for r in run_["direction records"] if not r["correct"]]
    formless = np.mean([not any(w in data.DIRECTIONS for w in r["answer"].split()) for r in wrong]) if wrong else 0.0
    print(f"{name}: {formless:.0%} of its wrong direction answers name no direction at all")
record.add("names a direction by variant", {n: values(n, "names a direction") for n in VARIANTS})

# %% [markdown]
# Where most of the all-frames model's wrong answers name no direction at all (the run prints the
# share), the question is the problem before the video is: the model does not answer *which way*,
# but in the form of another question (an answer of the form "it , at … seconds"
# answers a *when*). The question's words sit after 128 visual tokens. Candidates: the token
# budget against the LM's context, the positions, the feature standardiser, too few steps. The
# standardiser and the frames' order are the same for every layout; the budget is easy to check —
# how long were the sequences the toy LM was pretrained on, and how long are the conversations of
# each layout?

# %%
pretrain_lengths = np.array([len(e.input_ids) for e in lm_examples(
    {**{k: v for k, v in lm_recipe().items() if not k.startswith("then")}, "scenes": pick(300, 30),
     "naming_lists": pick(100, 10)}, vocabulary)])
sequence_lengths = {name: np.array([len(encode_sample(runs[name][0]["model"], s).input_ids)
                                    for s in train_samples[:pick(300, 12)]])
                    for name in ("all frames", "Video-ChatGPT pooling", FIX)}
print(f"toy LM pretraining sequences: median {np.median(pretrain_lengths):.0f}, 95th percentile "
      f"{np.percentile(pretrain_lengths, 95):.0f}, longest {pretrain_lengths.max()} tokens")
for name, lengths in sequence_lengths.items():
    beyond = float(np.mean(lengths > np.percentile(pretrain_lengths, 95)))
    print(f"{name:>26}: conversations of median {np.median(lengths):.0f} tokens; {beyond:.0%} longer than 95 % "
          f"of the pretraining sequences")
record.add("sequence lengths", {"lm pretraining p95": float(np.percentile(pretrain_lengths, 95)),
                                "lm pretraining max": int(pretrain_lengths.max()),
                                **{n: float(np.median(v)) for n, v in sequence_lengths.items()}})

# %% [markdown]
# With all frames, the conversations run past the lengths the toy LM learned to follow a question
# over, and in the few steps of instruction tuning it does not learn to. The fix tried here keeps
# **every frame, in order**, but pools each frame's 4 × 4 patches to 2 × 2
# (`reducer="adaptive_pool"`, PLLaVA's reducer): 32 tokens, conversations of the LM's length, and
# where an object is (which quarter of the frame) still visible frame by frame.

# %%
fix_names = {"all frames (128)": "all frames", f"2×2 per frame ({runs[FIX][0]['tokens']})": FIX,
             "Video-ChatGPT pooling (24)": "Video-ChatGPT pooling"}
fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
for ax, metric in zip(axes, ("names a direction", "direction")):
    plot.seed_spread({k: values(v, metric) for k, v in fix_names.items()}, ax=ax, ylabel=metric,
                     chance=0.25 if metric == "direction" else None)
plt.tight_layout()
plt.show()
fix_verdicts = {m: verdict(values(FIX, m), values("all frames", m), ("2×2 per frame", "all frames"))
                for m in ("names a direction", "direction")}
chance_verdicts = {k: verdict(values(v, "direction"), [0.25] * len(SEEDS), (k, "chance")) for k, v in fix_names.items()}
for m, v in fix_verdicts.items():
    print(f"{m}: {v}")
for v in chance_verdicts.values():
    print(v)

# %% [markdown]
# ### An experiment of your own: change, predict, measure
#
# Pick one knob, **write down what you expect** — which way and roughly how much — then run the
# cell. Some knobs: the learning rate of the frozen-LM Video-ChatGPT (does a faster projector
# close the gap to the unfrozen LM, or is the gap the LM's missing skills?); `STEPS` (is the
# all-frames layout only slower to learn?); `NUM_FRAMES` in section 2 (rerun from there). The
# default below triples the frozen-LM learning rate.

# %%
PREDICTION = "a faster projector lowers the frozen-LM loss a little but does not reach the unfrozen LM"
EXPERIMENT, LR = "Video-ChatGPT, LM frozen", 3 * VIDEO_CHATGPT_INSTRUCT.lr
changed = [run(EXPERIMENT, seed, lr=LR) for seed in SEEDS]
for metric in ("loss", "correctness", "accuracy"):
    higher = metric != "loss"
    print(f"{metric}: lr {LR:g} {interval([r[metric] for r in changed])} vs lr {VARIANTS[EXPERIMENT][2].lr:g} "
          f"{interval(values(EXPERIMENT, metric))} —",
          verdict([r[metric] for r in changed], values(EXPERIMENT, metric), (f"lr {LR:g}", "the stage's lr"),
                  higher_is_better=higher))
print("you predicted:", PREDICTION)

# %% [markdown]
# ## 8 · What the models say
#
# A description from each variant (seed 0), judged by the rule-based judge:

# %%
for name, rs in runs.items():
    rec = next(r for r in rs[0]["report"].records if r["set"] == "generic")
    print(f"--- {name}: correctness {rec['correctness']:.1f}, detail {rec['detail']:.1f}, context {rec['context']:.1f}")
    print("answer:   ", rec["answer"])
print("reference:", rec["reference"])

# %% [markdown]
# ### A multi-turn chat about a clip
#
# The conversation history goes back into the prompt at each turn, so "it" can refer to an
# earlier answer — the dialogue skill the instruction data taught. We chat with a Valley model
# (seed 0) about a held-out clip, decoding the frames from its `.mp4` with decord.

# %%
valley = runs["Valley v3"][0]["model"]
clip = test_clips[1]
plot.show_frames(clip["frames"], clip["times"])
print("truth:", clip["description"])
video = Media.video(clip["frames"], clip["times"])
history = []
first = clip["scene"].objects[0]
for question in ["how many objects are there ?", f"what colour is the {first.shape} ?", "which way does it move ?",
                 "does it stop ?", "describe the video in detail ."]:
    answer = valley.chat(video, question, history=history, max_new_tokens=LONG if "describe" in question else SHORT)
    print(f"user: {question}\nassistant: {answer}")
    history += [{"role": "user", "content": question if history else f"<video> {question}"},
                {"role": "assistant", "content": answer}]

# %% [markdown]
# ## 9 · What changed at toy scale
#
# Each claim of the papers beside what this run measured — computed from the intervals above,
# not typed:

# %%
def goes_paper_way(v: str, winner: str | None) -> bool | None:
    """True when the verdict names the paper's winner, False when it names the other, None when
    not distinguishable (or the paper has no such comparison)."""
    if winner is None or "not distinguishable" in v:
        return None
    return v.startswith(winner)


claims = [
    ("Valley v3 (temporal module) beats v1 (pooling) on temporal questions", layout_verdicts["temporal"][1], "Valley v3"),
    ("Valley v3 beats v1 on direction questions (only frame order tells)", layout_verdicts["direction"][1], "Valley v3"),
    ("Valley v3 beats v1 on the correctness of descriptions", layout_verdicts["correctness"][1], "Valley v3"),
    ("Video-ChatGPT pooling (24 tokens) vs all frames (128): temporal score", layout_verdicts["temporal"][0], None),
    ("Video-ChatGPT pooling vs all frames: short-QA accuracy", layout_verdicts["accuracy"][0], None),
    ("Video-ChatGPT's layout with the LM unfrozen vs frozen as in the paper: correctness",
     frozen_verdicts["correctness"], None),
    ("Video-ChatGPT's layout with the LM unfrozen vs frozen as in the paper: short-QA accuracy",
     frozen_verdicts["accuracy"], None),
    ("all frames pooled 2×2 per frame vs all frames: answers that name a direction", fix_verdicts["names a direction"], None),
    ("all frames pooled 2×2 per frame vs all frames: direction accuracy", fix_verdicts["direction"], None),
]
print("In our run:")
for claim, v, winner in claims:
    way = goes_paper_way(v, winner)
    status = ("" if winner is None else
              {True: "reproduces — ", False: "goes the other way here — ", None: "not distinguishable here — "}[way])
    print(f"• {claim}: {status}{v}")
    record.headline(claim, v, way)
for name, v in chance_verdicts.items():
    print(f"• direction accuracy, {name}: {v}")
print(f"• tokens per clip: all frames {runs['all frames'][0]['tokens']}, pooling {runs['Video-ChatGPT pooling'][0]['tokens']}, "
      f"Valley {runs['Valley v3'][0]['tokens']}; training seconds per run "
      + ", ".join(f"{n} {np.mean(values(n, 'seconds')):.0f}" for n in LAYOUTS))
print(f"• the widest spread between layouts is on {widest}: {spreads[widest][1]}")

# %% [markdown]
# What does and does not carry over, and why. The **cost** side reproduces whatever the scale:
# pooled layouts give the LM a fifth of the tokens and train faster (the seconds above). The
# **quality** side needs what the toy scale lacks: Video-ChatGPT and Valley tuned 7B LMs on 100K
# and 73K instructions; here a toy LM of about a million weights sees `STEPS` × `BATCH`
# conversations (printed below), and where every model answers a kind of question near chance,
# no layout can beat another — "not distinguishable" is then the honest verdict. Valley's
# temporal module is residual, so at the start it passes on nearly the plain average (v1); a
# short run gives it little time to learn what the average cannot tell, and its new weights can
# as well cost accuracy as add it — the Valley verdicts above say which happened in this run.
# Where the all-frames layout's direction answers miss the *form* (section 7 prints how often),
# the question after 128 visual tokens is not followed — a limit of our small LM's context, not
# of the layout: a 7B LM follows a question after thousands of visual tokens. The frozen-LM
# Video-ChatGPT shows what freezing means for an LM that never learned to converse: the LM
# Video-ChatGPT froze had been instruction-tuned on image conversations, ours was pretrained
# only on one-turn questions with short answers. Read the two frozen-vs-unfrozen
# verdicts above together: its training loss on the conversations stays far above the unfrozen
# one's, and the unfrozen LM's descriptions are judged against the frozen one's; on short answers
# — the one form our frozen LM already knows — the frozen LM may keep the upper hand, because
# tuning the whole LM for a few steps on long conversations also moves what it knew.

# %%
record.add("setup", {"seeds": list(SEEDS), "steps": STEPS, "batch_size": BATCH, "train_clips": N_TRAIN,
                     "test_clips": N_TEST, "conversations": len(train_samples), "frames": NUM_FRAMES,
                     "benchmark_questions": len(bench), "direction_questions": len(direction_bench),
                     "tokens": {n: rs[0]["tokens"] for n, rs in runs.items()},
                     "valley_module": "learner's function" if valley_ok else "package"})
record.save();
