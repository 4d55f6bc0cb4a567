# %% [markdown]
# # 06 · Video-LLaVA: one space for images and video, one projector
#
# Video-ChatGPT and Video-LLaMA (notebooks 04–05) read a video with an *image* encoder, frame by
# frame, and project it with a projector of their own. **Video-LLaVA** (Lin et al., November
# 2023) asked what it takes for one model to learn from images *and* videos at once, and answered
# "alignment before projection":
#
# | | what Video-LLaVA does | what the paper reports |
# |---|---|---|
# | **towers** | LanguageBind's image tower for images and its video tower for videos; both start from the same CLIP, and the video tower (temporal attention added) was trained contrastively against a *frozen* language encoder on video–text pairs — so both land in one language space. Both frozen. | — |
# | **frames** | 8, sampled uniformly | — |
# | **projector** | **one**, shared by images and videos: 2 linear layers with a GELU | — |
# | **training** | stage 1 the projector, stage 2 projector + LLM, each on *mixed* batches of image and video samples (558 K + 702 K captions, 665 K + 100 K instructions: images are the larger part) | — |
# | **joint vs video-only** (Table 6) | the same model trained on the video data alone | video QA accuracy, video-only → joint: MSVD 64.8 → 70.7, MSRVTT 58.3 → 59.2, TGIF 67.8 → 70.0, ActivityNet 40.7 → 45.3 |
# | **united vs separate** (Figure 4) | image and video encoders trained apart (not aligned to one space) | the united towers "significantly" better on all 4 video QA sets (a bar chart; the numbers are not in the text) |
#
# In this notebook, on the toy world:
#
# 1. two **video towers** from the course zoo — one *aligned* to the image tower's space by
#    contrastive training against its frozen text tower (LanguageBind's idea in miniature), one
#    trained *apart* — and the contrastive loss that aligns them (exercise 1);
# 2. what alignment looks like: zero-shot motion before and after, and how much the towers share
#    the image tower's space;
# 3. a data recipe where images are plentiful and videos scarce, and a **mixed image + video
#    batch through one projector** (exercise 2);
# 4. **headline (a)**: joint image + video training vs video-only, on held-out video questions;
# 5. **headline (b)**: the united (aligned) video tower vs the separate one;
# 6. a chat about a clip.
#
# Every number below is printed by the run; a variant is called better only when the interval
# over seeds says so.

# %%
# Setup: installs the course package when it is not importable yet (e.g. on Colab).
try:
    import minivlm
except ImportError:
    %pip install -q "minivlm @ git+https://github.com/minivlm/minivlm"
    import minivlm

# %%
import dataclasses
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from minivlm import build, data, fast_mode, pick, plot, seed_everything, zoo
from minivlm.eval import chance_by_kind, chat_about, evaluate
from minivlm.results import Record, direction, interval, mean_se, verdict
from minivlm.samples import all_media, precompute
from minivlm.stages import run_stage
from minivlm.video_llava import (JOINT, NUM_FRAMES, VIDEO_LLAVA, check_alignment_loss, check_mixed_batch,
                                 diagonal_gap, mixed_batches, space_similarity)
from minivlm.video_tower import (alignment_loss_fn, caption_clips, clip_frame_tokens, direction_zero_shot, new_tower,
                                 tower_recipe)

seed_everything(0)
record = Record("06")
print("fast mode:", fast_mode())

# %% [markdown]
# ## 1 · Two video towers
#
# A `VideoTower` (`minivlm.video_tower`) reads each of a clip's frames with the toy CLIP's frozen
# image tower (the class token and 4 × 4 patch tokens of its penultimate layer), then a
# **temporal block** attends over all frames' tokens at once, with a learned frame position
# embedding, and *adds* what it finds to the frame tokens. Its output projections start at zero:
# untrained, the tower is the image tower, frame by frame.
#
# The zoo ships two, trained once from recipes on 8-frame toy-world clips and their captions
# ("a red circle moves left , a blue square stays still ." — motion, which no single frame shows):
#
# - **aligned** — LanguageBind's way: its clip embedding is the temporal tokens averaged over
#   frames, through the image tower's own last block, pooling and projection; it is trained
#   against the toy CLIP's **frozen** text tower. Only the temporal block learns, so its tokens
#   stay where the image tower's are.
# - **separate** — an encoder trained apart: the same temporal block, then a linear map and a
#   pooling head of its own, trained against a **text tower of its own** (fresh, trained with
#   it). It reads the same frames, but its tokens live in a space of its own.
#
# The manifest records each base's training time and its figures of merit, measured by
# `benchmarks/zoo.py` on held-out clips: video → text retrieval among the test clips' captions,
# and zero-shot motion (which of "moves left / right / up / down / stays still" a one-object clip
# matches).

# %%
towers = {kind: zoo.toy_video(kind, progress=False) for kind in ("aligned", "separate")}
manifest = zoo.read_manifest()
for kind, tower in towers.items():
    entry = manifest.get(f"toy_video_{kind}", {})
    trained = sum(v.numel() for k, v in tower.trained_state().items())
    print(f"{kind:>9}: {trained:,} weights of its own (shipped: {entry.get('bytes', 0) / 1e6:.2f} MB), "
          f"trained {entry.get('train_seconds')} s on {entry.get('device')}")
    print(f"           held-out figures: {entry.get('quality', {})}")
record.add("towers", {kind: {"quality": manifest.get(f"toy_video_{kind}", {}).get("quality", {}),
                             "train_seconds": manifest.get(f"toy_video_{kind}", {}).get("train_seconds"),
                             "train_cpu_seconds": manifest.get(f"toy_video_{kind}", {}).get("train_cpu_seconds")}
                      for kind in towers})

# %% [markdown]
# ### Exercise 1 — the contrastive alignment loss of two towers
#
# Given a batch of B clips and their B captions, the video tower gives embeddings `video` (B, E)
# and the text tower `text` (B, E). Normalise each row to length 1; the logits are
# `scale · video @ textᵀ` (B, B), and clip i's positive is caption i. The loss is the mean of
# two cross-entropies: each clip choosing its caption among the B (rows), and each caption
# choosing its clip (columns). Training the video tower against a *frozen* text tower is what
# puts it in that tower's space. The check compares with open_clip's `ClipLoss`.

# %%
def my_alignment_loss(video: torch.Tensor, text: torch.Tensor, scale: float) -> torch.Tensor:
    # BEGIN SOLUTION
    v, t = F.normalize(video, dim=-1), F.normalize(text, dim=-1)
    logits = scale * v @ t.T  # (B, B): clip i against caption j
    target = torch.arange(len(v))
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
    # END SOLUTION


check_alignment_loss(my_alignment_loss);

# %% [markdown]
# ## 2 · What alignment changed
#
# Before training, the aligned tower is the image tower frame by frame: its clip embedding is
# (nearly) the average of the frames' image embeddings — it knows colours and shapes, but not
# which way anything moved. The alignment loss on held-out clips (captions made distinct), before and
# after (computed by `video_tower.alignment_loss_fn`, the loss the zoo trained with — the one you
# wrote), and the zero-shot motion test:

# %%
recipe = tower_recipe("aligned")
before = new_tower("aligned", recipe)  # the untrained tower: the image tower frame by frame
clips, captions, _ = caption_clips("test", pick(400, 24), NUM_FRAMES, start=20_000)
keep = [captions.index(c) for c in dict.fromkeys(captions)][: pick(64, 12)]  # distinct captions
held_out_tokens = clip_frame_tokens(before, clips[keep])
alignment_loss = alignment_loss_fn()
losses, motion = {}, {}
with torch.no_grad():
    for name, tower in (("before alignment", before), ("aligned (zoo)", towers["aligned"])):
        losses[name] = alignment_loss(tower, (held_out_tokens, [captions[i] for i in keep]))[0].item()
        motion[name] = direction_zero_shot(tower, n=pick(300, 10))["direction_zero_shot"]
        print(f"{name:>17}: alignment loss on {len(keep)} held-out clips {losses[name]:.2f} "
              f"(chance {np.log(len(keep)):.2f}); zero-shot motion {motion[name]:.2f} (chance 0.20)")
record.add("alignment_loss_held_out", losses)
record.add("motion_zero_shot", motion)

# %% [markdown]
# ### The shared space, in a picture
#
# Take N held-out clips and one frame of each as an image. Row i, column j below is the cosine
# similarity between image i's tokens from the image tower and clip j's tokens from a video tower
# (averaged over frames; `space_similarity`). If the two towers share a space, image i is most
# like its own clip: a bright diagonal. The "diagonal gap" is the diagonal's mean minus the
# rest's.

# %%
n_show = pick(24, 8)
image_encoder = zoo.toy_vision_encoder()
with torch.no_grad():
    middle = torch.as_tensor(clips[:n_show, NUM_FRAMES // 2])
    image_feats = image_encoder(image_encoder.preprocess(middle))
    video_feats = {kind: tower(tower.preprocess(clips[:n_show])) for kind, tower in towers.items()}
fig, axes = plt.subplots(1, 2, figsize=(8.5, 3.8))
gaps = {}
for ax, (kind, feats) in zip(axes, video_feats.items()):
    sim = space_similarity(image_feats, feats)
    gaps[kind] = diagonal_gap(sim)
    shown = ax.imshow(sim, vmin=-1, vmax=1, cmap="RdBu_r")
    ax.set_title(f"{kind} video tower (diagonal gap {gaps[kind]:.2f})", fontsize=10)
    ax.set_xlabel("clip j (video tower)")
    ax.set_ylabel("image i (image tower)")
fig.colorbar(shown, ax=axes, shrink=0.8)
record.add("diagonal_gap", gaps)

# %% [markdown]
# ## 3 · Plenty of images, few videos
#
# Video-LLaVA trained on more image samples than video samples. Our recipe: `N_IMAGES` stills,
# each with a question about colour, shape or count, and only `N_VIDEOS` 8-frame clips with
# questions about colour, shape, count or **direction** (which way an object moves — what only
# a video shows). The held-out test is video questions only. The frozen towers encode everything
# once; every model below trains on those cached features.

# %%
N_IMAGES, N_VIDEOS, N_TEST = pick(2000, 32), pick(150, 16), pick(300, 24)
SEEDS = pick([0, 1, 2], [0, 1])
STEPS, IMAGE_BATCH, VIDEO_BATCH = pick(150, 3), pick(8, 4), pick(8, 4)
VIDEO_KINDS = ("colour", "shape", "count", "direction")
STATIC = ("colour", "shape", "count")
# To fit the 5-minute budget, each frame's 4 × 4 tokens are pooled to 2 × 2 after the projector
# (as PLLaVA does, notebook 08): 32 tokens per clip, 4 per image. The preset keeps all of them.
CONFIG = VIDEO_LLAVA.replace(reducer="adaptive_pool", reducer_args={"time": None, "height": 2, "width": 2},
                             reduce_after_connector=True)
start = time.perf_counter()
images = data.make_still_qa("train", N_IMAGES, kinds=STATIC)
videos = data.make_clip_qa("train", N_VIDEOS, NUM_FRAMES, kinds=VIDEO_KINDS)
test = data.make_clip_qa("test", N_TEST, NUM_FRAMES, kinds=VIDEO_KINDS)
encoders = {kind: build(CONFIG.replace(video_tower=kind)) for kind in towers}
cached_images = precompute(encoders["aligned"], images)  # the image tower: the same for both
cached = {kind: (precompute(m, videos), precompute(m, test)) for kind, m in encoders.items()}
print(f"{N_IMAGES} images, {N_VIDEOS} training clips and {N_TEST} test clips encoded in "
      f"{time.perf_counter() - start:.0f} s")
chance = chance_by_kind([s.answer for s in test], [s.kind for s in test])
print("chance (most common answer per kind):", {k: round(v, 2) for k, v in chance.items()})
for s in test[:4]:
    print(f"  {s.kind:>9}: {s.question}  →  {s.answer}")

# %% [markdown]
# ### Exercise 2 — a mixed image + video batch through one projector
#
# A batch holds images and videos in any order. Each image goes through the image tower, each
# video through the video tower, and **every** item's tokens through the same projector; the
# result is one tensor of tokens per item, *in the items' order* (the prompt's placeholders are
# filled in that order). `items` is a list of `("image", x)` with x (P, D) or `("video", x)` with
# x (T, P, D); `image_tower` maps (N, P, D) → (N, P, D), `video_tower` (N, T, P, D) → (N, T, P, D)
# and `projector` (…, D) → (…, D_lm). An image gives P tokens, a video T·P (frame by frame).

# %%
def my_encode_mixed(items, image_tower, video_tower, projector) -> list[torch.Tensor]:
    # BEGIN SOLUTION
    out = []
    for kind, x in items:
        if kind == "image":
            tokens = image_tower(x[None])[0]  # (P, D)
        else:
            tokens = video_tower(x[None])[0].flatten(0, 1)  # (T·P, D)
        out.append(projector(tokens))
    return out
    # END SOLUTION


check_mixed_batch(my_encode_mixed);

# %% [markdown]
# The model does the same in `VLM.encode_media` (items of one modality and shape share a batch,
# then go back to their places). `mixed_batches` builds Video-LLaVA's training batches: each one
# holds `IMAGE_BATCH` image samples and `VIDEO_BATCH` video samples.

# %%
model = encoders["aligned"]
model.fit_standardizer(all_media(cached_images[:256] + cached["aligned"][0][:256]))
batch = next(mixed_batches(model, cached_images, cached["aligned"][0], 2, 2))
print("one mixed batch:", [m[0].modality for m in batch["media"]], "| input ids", tuple(batch["input_ids"].shape))
print("tokens per item:", [t.shape[0] for t in model.encode_media([m[0] for m in batch["media"]])])

# %% [markdown]
# ## 4 · Headline (a): joint image + video training vs video-only
#
# Video-LLaVA* in Table 6 trained on the video data alone. Here both variants train the paper's
# stage 2 (`JOINT`: projector + LM, the towers frozen) for the same number of steps, on the same
# video samples per step; the joint model's batches also hold `IMAGE_BATCH` images — the image
# data comes *on top*, as in the paper. Both read videos with the aligned tower.

# %%
STAGE = dataclasses.replace(JOINT, steps=STEPS, batch_size=IMAGE_BATCH + VIDEO_BATCH)


def train_model(kind: str, seed: int, image_batch: int):
    """A video-llava model with the `kind` video tower, trained by STAGE on mixed batches."""
    m = build(CONFIG.replace(video_tower=kind), seed=seed)
    train_videos = cached[kind][0]
    m.fit_standardizer(all_media(cached_images[:256] + train_videos[:256]))
    run_stage(m, STAGE, [], seed=seed, progress=False,
              batches=mixed_batches(m, cached_images, train_videos, image_batch, VIDEO_BATCH, seed=seed))
    return m


runs, kept = {}, {}
start = time.perf_counter()
for name, kind, image_batch in (("joint", "aligned", IMAGE_BATCH), ("video-only", "aligned", 0),
                                ("separate towers", "separate", IMAGE_BATCH)):
    runs[name] = []
    for seed in SEEDS:
        m = train_model(kind, seed, image_batch)
        runs[name].append(evaluate(m, cached[kind][1]))
        kept[(name, seed)] = m
print(f"{len(runs) * len(SEEDS)} runs in {time.perf_counter() - start:.0f} s ({STEPS} steps each)")


def group_mean(result, kinds) -> float:
    return float(np.mean([result[k] for k in kinds if k in result]))


GROUPS = {"all": VIDEO_KINDS, "static": STATIC, "direction": ("direction",)}
table = {name: {g: [group_mean(r, kinds) for r in results] for g, kinds in GROUPS.items()}
         for name, results in runs.items()}
print(f"held-out video QA accuracy, mean ± s.e. over seeds {SEEDS} (chance: all {group_mean(chance, VIDEO_KINDS):.2f})")
for name, row in table.items():
    print(f"  {name:>16}: " + "   ".join(f"{g} {interval(v)}" for g, v in row.items()))
record.add("video_qa", table)
record.add("seeds", SEEDS)

# %%
verdict_a = {g: verdict(table["joint"][g], table["video-only"][g], names=("joint", "video-only"))
             for g in GROUPS}
for g, text in verdict_a.items():
    print(f"{g:>9}: {text}")
fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
plot.seed_spread({name: table[name]["all"] for name in ("video-only", "joint")}, ax=axes[0],
                 chance=group_mean(chance, VIDEO_KINDS), title="(a) held-out video QA, all kinds")
plot.bars({name: {g: mean_se(table[name][g])[0] for g in GROUPS} for name in ("video-only", "joint")},
          chance={g: group_mean(chance, kinds) for g, kinds in GROUPS.items()}, ax=axes[1])
axes[1].set_title("by kind (mean over seeds)", fontsize=10)

# %% [markdown]
# ## 5 · Headline (b): united towers vs separate ones
#
# Now both models train jointly on images and videos, with the same data and steps; only the
# video tower differs. The united model's video tokens live where its image tokens do, so what
# the projector and LM learn from the many images carries over to videos. The separate tower's
# tokens are elsewhere: the projector must learn a second mapping from the few videos alone.

# %%
verdict_b = {g: verdict(table["joint"][g], table["separate towers"][g], names=("united", "separate"))
             for g in GROUPS}
for g, text in verdict_b.items():
    print(f"{g:>9}: {text}")
fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
plot.seed_spread({"separate": table["separate towers"]["all"], "united": table["joint"]["all"]}, ax=axes[0],
                 chance=group_mean(chance, VIDEO_KINDS), title="(b) held-out video QA, all kinds")
plot.bars({name: {g: mean_se(table[key][g])[0] for g in GROUPS}
           for name, key in (("separate", "separate towers"), ("united", "joint"))},
          chance={g: group_mean(chance, kinds) for g, kinds in GROUPS.items()}, ax=axes[1])
axes[1].set_title("by kind (mean over seeds)", fontsize=10)

# %% [markdown]
# ## 6 · A chat about a clip
#
# The first seed's joint model (united towers) on a test clip it never saw:

# %%
model = kept[("joint", SEEDS[0])]
scene = data.sample_scene("test", 10_006)
chat_about(model, scene, NUM_FRAMES, show=True);

# %% [markdown]
# ## The scorecard
#
# Each of Video-LLaVA's claims against what this run measured. "Goes the paper's way" is computed
# from the intervals: a difference counts only when it exceeds twice its standard error.

# %%
claims = []
for g, what in (("all", "all kinds"), ("static", "colour/shape/count"), ("direction", "direction")):
    a, b = table["joint"][g], table["video-only"][g]
    claims.append((f"joint image + video training beats video-only on held-out video QA ({what})",
                   f"{interval(a)} vs {interval(b)}", direction(a, b)))
for g, what in (("all", "all kinds"), ("static", "colour/shape/count"), ("direction", "direction")):
    a, b = table["joint"][g], table["separate towers"][g]
    claims.append((f"united (aligned) video tower beats separate, unaligned towers on held-out video QA ({what})",
                   f"{interval(a)} vs {interval(b)}", direction(a, b)))
claims.append(("contrastive training against the frozen text tower teaches the video tower motion (zero-shot, "
               "before vs after; no paper figure)", f"{motion['before alignment']:.2f} → {motion['aligned (zoo)']:.2f}",
               None))
for claim, measured, reproduces in claims:
    record.headline(claim, measured, reproduces, paper_claim="no paper figure" not in claim)
record.scorecard()

# %% [markdown]
# ## What changed at toy scale
#
# - **Joint vs video-only** (section 4): the paper's gain (+0.9 to +5.9 points of accuracy on
#   four sets) came from 600 K+ image samples added to ~800 K video samples, for a 7B LM. Ours
#   adds `N_IMAGES` still questions to `N_VIDEOS` clips (printed in section 3). Static questions
#   (colour, shape, count) are the ones images can teach, and there the full-mode run
#   (`results/06.json`) found the joint model better. **Direction** needs motion, which no still
#   shows: at this scale no variant learns it (every direction score sits near or below the
#   most-common-answer line), and the joint model, which spends part of each step on images,
#   scored *lower* there than video-only. The paper saw gains on every set; here the gain is on
#   static questions only, and the "all kinds" verdict mixes the two.
# - **United vs separate** (section 5): the paper's separate encoders differ from LanguageBind's
#   in quality *and* space; ours read the same frozen frames through the same temporal block and
#   differ in what they were trained against — so a difference here is the space, not the
#   encoder's strength. The picture in section 2 shows the difference of space (the separate
#   tower's diagonal is gone). Read the united-vs-separate verdicts above with that in mind:
#   where the united tower is better on static questions, what the projector learned from images
#   carried over to its videos; on direction, which neither model learns here, no difference is
#   to be expected. Their own figures (section 1, from the manifest) say how well each matches
#   clips to its own captions; the separate one's zero-shot motion shows whether its own text
#   tower learned to tell directions apart.
# - **The towers**: one temporal block on a 4-layer, 64-pixel CLIP, trained for minutes on a few
#   thousand captioned clips (the recipe is in the manifest), is LanguageBind at a millionth of its
#   scale. The similarity picture and the zero-shot numbers show what alignment did here, not what
#   it does at scale.
# - **Tokens**: the 5-minute budget pooled each frame's tokens 4 × 4 → 2 × 2 after the projector
#   (the paper keeps all of them); the preset `video-llava` keeps all 16.
# - Where a verdict reads "not distinguishable here", the intervals overlap at this size (3 seeds,
#   the test clips, the steps) — that is not evidence that the variants are equal.

# %%
record.add("settings", {"images": N_IMAGES, "train_clips": N_VIDEOS, "test_clips": N_TEST, "steps": STEPS,
                        "image_batch": IMAGE_BATCH, "video_batch": VIDEO_BATCH, "frames": NUM_FRAMES})
record.save();
