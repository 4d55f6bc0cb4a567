# %% [markdown]
# # 10 · LLaVA-OneVision: AnyRes, balanced token budgets, and images that teach video
#
# The models of notebooks 02–09 each had a scenario: images (LLaVA), or videos (Video-ChatGPT,
# PLLaVA), or video with sound (video-SALMONN). **LLaVA-OneVision** (Li et al., August 2024)
# trained one model for single images, multi-image sets and videos, and showed that what it
# learns from images carries over to video:
#
# | | what LLaVA-OneVision does | what the paper reports |
# |---|---|---|
# | **encoder, projector, LM** | SigLIP so400m at 384 px (27 × 27 = 729 tokens per view), a 2-layer MLP, Qwen-2 (0.5 B / 7 B / 72 B) | — |
# | **AnyRes** (single image) | the grid of 384-px crops that best fits the image (every a × b up to 6 × 6), a base view of the whole image first; beyond 9 crops the crops' tokens are interpolated down | at most 729 × (1 + 9) = 7,290 tokens per image |
# | **multi-image** | each image at the base view only | 729 tokens per image, up to 12 images |
# | **video** | up to 32 frames, each frame's 27 × 27 tokens bilinearly pooled to 14 × 14 *after* the projector | 32 × 196 = 6,272 tokens: budgets "approximately equal" across scenarios |
# | **curriculum** (Table 1) | stage 1: the projector on 558 K captions at the base view; stage 1.5: 4 M high-quality knowledge; stage 2 **SI**: 3.2 M single-image instructions; stage 2 **OneVision**: 1.6 M single-image, multi-image and video | — |
# | **image → video** (Table 5) | the SI model has never seen a video | SI already answers video questions (ActivityNet-QA 55.1 at 7 B); the OneVision stage lifts nearly every video set: NextQA-mc 61.6 → 79.4, MVBench 51.2 → 56.7, EgoSchema 52.9 → 60.1 (Video-ChatGPT's score: 3.54 → 3.51) |
#
# In this notebook, on the toy world:
#
# 1. **SigLIP**'s sigmoid loss, the encoder's training objective (exercise 1);
# 2. **AnyRes** built from scratch: choosing the grid (exercise 2) and cutting the views
#    (exercise 3), then `minivlm.onevision`;
# 3. **balanced budgets**: how many tokens an image, an image set and a video become;
# 4. the curriculum in miniature: stage 1 (captions, base view), then **SI** on large stills whose
#    objects are small — **headline (a)**: AnyRes vs the base view alone;
# 5. **headline (b)**: the SI model on video and on multi-image sets, never having seen either;
#    then the **OneVision** stage (stills, image sets and videos) against the same stage without
#    its videos;
# 6. a chat about a large still and about a clip.
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
import math
import time

import matplotlib.pyplot as plt
import numpy as np
import open_clip
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from minivlm import build, data, fast_mode, pick, plot, seed_everything, zoo
from minivlm.eval import chance_by_kind, evaluate
from minivlm.llava import ALIGN, make_caption_set
from minivlm.media import Media
from minivlm.onevision import (GRIDS, NUM_FRAMES, ONEVISION, ONEVISION_STAGE, SINGLE_IMAGE, anyres_views,
                               check_anyres_views, check_best_resolution, check_sigmoid_loss,
                               any_picture_baseline, make_image_set_qa, make_large_still_qa,
                               resize_image, select_best_resolution)
from minivlm.results import Record, direction, interval, mean_se, verdict
from minivlm.samples import all_media, precompute
from minivlm.stages import run_stage
from minivlm.video_llava import mixed_batches
from minivlm.vision import TOY_SIGMOID, VisionEncoder, encode_images, encode_texts

seed_everything(0)
record = Record("10")
print("fast mode:", fast_mode())

# %% [markdown]
# ## 1 · SigLIP: a sigmoid instead of a softmax
#
# OneVision's encoder is SigLIP (Zhai et al., 2023): a CLIP trained with another loss. CLIP's loss
# (notebook 01) is a softmax: each image picks its caption among all B captions of the batch, so
# every image's loss needs every caption's logit. SigLIP asks B × B separate yes/no questions —
# "does image i go with caption j?" — each a logistic loss, with a learned temperature *and* a
# learned bias (started at 10 and −10, so that the many "no" pairs do not swamp the start). No
# term needs the whole batch: the paper reports it matching or beating the softmax, most of all at
# small batches, and splitting the batch across devices without gathering the whole similarity
# matrix.
#
# ### Exercise 1 — the sigmoid loss
#
# `image` and `text` are L2-normalised embeddings (B, E), pair i matching; `scale` and `bias` are
# scalars. The logits are `scale · image @ textᵀ + bias` (B, B); the label of pair (i, j) is +1
# when i = j, else −1. The loss is the sum over all B × B pairs of −log σ(label · logit), divided
# by B. The check compares with open_clip's `SigLipLoss`.

# %%
def my_sigmoid_loss(image: torch.Tensor, text: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    # BEGIN SOLUTION
    logits = scale * image @ text.T + bias
    labels = 2 * torch.eye(len(image)) - 1  # +1 on the diagonal, −1 elsewhere
    return -F.logsigmoid(labels * logits).sum() / len(image)
    # END SOLUTION


check_sigmoid_loss(my_sigmoid_loss);

# %% [markdown]
# Why no term needing the whole batch matters: give each of 4 "devices" a quarter of the captions.
# The sigmoid loss summed over the 4 quarters *is* the whole batch's loss; the softmax computed on
# each quarter alone is not — it has lost three quarters of each image's negatives. The embeddings
# are the course's toy CLIP's, for held-out stills with distinct captions.

# %%
clip = zoo.toy_clip()
pixels, texts = data.still_caption_pool(pick(64, 16), data.WorldConfig(max_objects=1), split="test")
keep = [texts.index(t) for t in dict.fromkeys(texts)]
image = encode_images(clip, VisionEncoder(clip).preprocess(pixels[keep]))
text = encode_texts(clip, [texts[i] for i in keep])
n, quarters = len(keep), torch.arange(len(keep)).chunk(4)
scale, bias, target = torch.tensor(10.0), torch.tensor(-10.0), torch.arange(len(keep))
sigmoid_whole = open_clip.loss.SigLipLoss()(image, text, scale, bias)
sigmoid_quarters = sum(-F.logsigmoid((2 * torch.eye(n)[:, q] - 1) * (scale * image @ text[q].T + bias)).sum()
                       for q in quarters) / n
softmax_whole = F.cross_entropy(scale * image @ text.T, target)
softmax_quarters = sum(F.cross_entropy(scale * image[q] @ text[q].T, torch.arange(len(q))) * len(q)
                       for q in quarters) / n
print(f"{n} stills. Sigmoid loss: whole batch {sigmoid_whole:.4f}, summed over 4 quarters {sigmoid_quarters:.4f}")
print(f"{n} stills. Softmax loss: whole batch {softmax_whole:.4f}, each quarter alone {softmax_quarters:.4f}")
record.add("loss_by_quarters", {"sigmoid": [sigmoid_whole, sigmoid_quarters], "softmax": [softmax_whole, softmax_quarters]})

# %% [markdown]
# **Try it:** train a tower with the sigmoid loss. `minivlm.vision.create_clip(TOY_SIGMOID)` is
# the toy CLIP's model with SigLIP's bias and starting temperature, and
# `minivlm.vision.clip_loss_fn(TOY_SIGMOID, kind="siglip")` the loss for `minivlm.train.train` —
# put them in place of notebook 01's in its section 5, and compare the zero-shot curves. The rest of this notebook reads the course's toy CLIP, as every
# other one does.

# %% [markdown]
# ## 2 · AnyRes: a large image as a base view and crops
#
# The toy CLIP reads 64 × 64 pixels (4 × 4 patches of 16 px), as SigLIP reads 384 × 384. Squash a
# 192 × 192 still into 64 × 64 and a small object keeps a third of its size: a few pixels, less
# than one patch. AnyRes cuts the image into crops the encoder can read at full detail, and keeps
# one squashed **base view** of the whole image for the overall layout.
#
# The stills below are the toy world at up to 192 px, with objects a third of their usual size
# (`make_large_still_qa`), so that in a crop they look as large as in a 64-px still.

# %%
stills_demo = make_large_still_qa("train", 3)
fig, axes = plt.subplots(1, 3, figsize=(9, 3))
for ax, s in zip(axes, stills_demo):
    ax.imshow(s.media[0].pixels[0])
    ax.set_title(f"{tuple(s.media[0].pixels.shape[1:3])}: {s.question} {s.answer}", fontsize=8)
    ax.axis("off")

# %% [markdown]
# ### Exercise 2 — the grid that best fits the image
#
# LLaVA-NeXT's rule, which OneVision keeps. The candidates are grids of `rows × columns` crops of
# `crop` pixels: a canvas of `rows·crop` by `columns·crop`. For each one, scale the image (H, W)
# to fit inside the canvas keeping its aspect ratio (`scale = min(canvas_w / W, canvas_h / H)`,
# the scaled sides rounded down with `int`). The pixels the grid **keeps** are the scaled image's
# area, but never more than the original's (upscaling adds no detail); the pixels it **wastes**
# are the rest of the canvas. Return the grid that keeps the most; among grids that keep the
# same, the one that wastes the least (the first of equals, in the order given).

# %%
def my_best_resolution(size: tuple[int, int], grids, crop: int) -> tuple[int, int]:
    # BEGIN SOLUTION
    h, w = size
    best, best_kept, best_waste = None, -1, None
    for rows, cols in grids:
        scale = min(cols * crop / w, rows * crop / h)
        kept = min(int(w * scale) * int(h * scale), w * h)
        waste = rows * crop * cols * crop - kept
        if kept > best_kept or (kept == best_kept and waste < best_waste):
            best, best_kept, best_waste = (rows, cols), kept, waste
    return best
    # END SOLUTION


check_best_resolution(my_best_resolution);

# %% [markdown]
# ### Exercise 3 — the views: a base view, then the crops
#
# Given the grid, make the views the encoder reads, uint8 (1 + rows·columns, crop, crop, 3):
#
# 1. the **base view**: the whole image resized to crop × crop (aspect ratio not kept);
# 2. the **canvas** (rows·crop by columns·crop): the image scaled by the smaller of the two
#    ratios canvas_w / W and canvas_h / H, so that one side fills the canvas exactly and the other
#    is `math.ceil(side · ratio)` (at most the canvas), then centred on black — the padding split
#    in two, the extra pixel after (`top = (canvas_h − new_h) // 2`);
# 3. the **crops** of the canvas, row by row.
#
# Resize with the package's `resize_image(x, (h, w))` (uint8 in, uint8 out; bilinear and
# antialiased, as the encoder's own resizing).

# %%
def my_anyres_views(pixels: torch.Tensor, grid: tuple[int, int], crop: int) -> torch.Tensor:
    # BEGIN SOLUTION
    rows, cols = grid
    h, w = pixels.shape[:2]
    if cols * crop / w < rows * crop / h:  # the width fills the canvas
        new_h, new_w = min(math.ceil(h * cols * crop / w), rows * crop), cols * crop
    else:
        new_h, new_w = rows * crop, min(math.ceil(w * rows * crop / h), cols * crop)
    canvas = torch.zeros(rows * crop, cols * crop, 3, dtype=torch.uint8)
    top, left = (rows * crop - new_h) // 2, (cols * crop - new_w) // 2
    canvas[top:top + new_h, left:left + new_w] = resize_image(pixels, (new_h, new_w))
    crops = [canvas[r * crop:(r + 1) * crop, c * crop:(c + 1) * crop] for r in range(rows) for c in range(cols)]
    return torch.stack([resize_image(pixels, (crop, crop)), *crops])
    # END SOLUTION


check_anyres_views(my_anyres_views);

# %% [markdown]
# What one still becomes (the package's `select_best_resolution` and `anyres_views`, the ones
# you wrote): its grid, the base view, and the crops. The LM reads 16 tokens per view, base view
# first.

# %%
still = max(stills_demo, key=lambda s: len(s.scene.objects)).media[0].pixels[0]  # the busiest
grid = select_best_resolution(tuple(still.shape[:2]), GRIDS, 64)
views = anyres_views(still, grid, 64)
fig, axes = plt.subplots(1, len(views), figsize=(1.3 * len(views), 1.6))
for k, (ax, view) in enumerate(zip(axes, views)):
    ax.imshow(view)
    ax.set_title("base" if k == 0 else f"crop {divmod(k - 1, grid[1])}", fontsize=7)
    ax.axis("off")
print(f"a {tuple(still.shape[:2])} still → grid {grid[0]} × {grid[1]} → {len(views)} views "
      f"→ {16 * len(views)} tokens")

# %% [markdown]
# An object on a crop's border is cut in two: each crop shows a part of it. The base view shows
# every object whole, but small — the overall picture that the crops lose.

# %% [markdown]
# ## 3 · Balanced budgets
#
# OneVision gives each scenario about the same number of visual tokens: one image up to
# 729 × 10, a set of images 729 each, a video 196 per frame for up to 32 frames. The toy model
# (`build("llava-onevision")`) does the same at its own scale: 16 tokens per view, grids up to
# 3 × 3, each image of a set at its base view (`model.prompt_media` marks them), each video
# frame's 4 × 4 tokens pooled to 2 × 2 after the projector (`minivlm.onevision.bilinear_pool`).
# An image that fits one crop is its base view alone: one crop would show the same.

# %%
model = build("llava-onevision")
scene = data.sample_scene("test", 3)
budget = {
    "image 64 × 64": Media.image(data.render_still(scene, 1.0)),
    "image 128 × 192": Media.image(data.render_still(scene, 1.0, size=(128, 192))),
    "image 192 × 192": Media.image(data.render_still(scene, 1.0, size=(192, 192))),
    f"video, {NUM_FRAMES} frames": Media.video(data.render(scene, data.uniform_times(scene, NUM_FRAMES))),
}
budget = {name: model.num_tokens(item) for name, item in budget.items()}
a_set = model.prompt_media([Media.image(data.render_still(scene, 1.0, size=(192, 192)))] * 3)
budget["a set of 3 images 192 × 192"] = sum(model.num_tokens(item) for item in a_set)
for name, n in budget.items():
    print(f"{name:>24}: {n:>4} tokens")
record.add("token_budget", budget)

# %% [markdown]
# ## 4 · The curriculum, part 1: captions, then single images (SI)
#
# The data: captioned 64-px stills for stage 1 (the projector learns to align, at the base view
# only, as in OneVision's stage 1 — and as LLaVA's stage 1 did in notebook 03), large stills
# with small objects and a question each for SI (colour, shape, count); for the OneVision stage,
# clips of `FRAMES` frames with colour, shape, count and **direction** questions, and sets of 2
# or 3 stills, each named in the prompt, with a question about one picture that another picture
# would answer differently ("picture one : <image> picture two : <image> what colour is the
# circle in picture two ?", `make_image_set_qa`). Held-out test sets of each. The frozen encoder
# encodes everything once.

# %%
N_CAPTIONS, N_STILLS, N_CLIPS, N_SETS, N_TEST = pick(2000, 24), pick(1200, 24), pick(300, 12), pick(600, 12), pick(300, 16)
FRAMES = pick(16, 4)  # OneVision reads up to 32; 16 keep this notebook in its time budget
SEEDS = pick([0, 1, 2], [0, 1])
ALIGN_STEPS, SI_STEPS, OV_STEPS = pick(90, 2), pick(250, 2), pick(100, 2)
SI_BATCH, OV_IMAGES, OV_CLIPS = pick(8, 4), pick(4, 2), pick(8, 2)
STILL_KINDS = ("colour", "shape", "count")  # add "position" to ask about the layout too
CLIP_KINDS = ("colour", "shape", "count", "direction")
STATIC = ("colour", "shape", "count")
CONFIGS = {"AnyRes": ONEVISION.replace(max_frames=FRAMES),
           "base view only": ONEVISION.replace(anyres_grids=(), max_frames=FRAMES)}

start = time.perf_counter()
captions = make_caption_set("train", N_CAPTIONS)
stills = make_large_still_qa("train", N_STILLS, STILL_KINDS)
test_stills = make_large_still_qa("test", N_TEST, STILL_KINDS)
clips = data.make_clip_qa("train", N_CLIPS, FRAMES, kinds=CLIP_KINDS)
test_clips = data.make_clip_qa("test", N_TEST, FRAMES, kinds=CLIP_KINDS)
encoders = {name: build(config) for name, config in CONFIGS.items()}
cached_captions = precompute(encoders["base view only"], captions)
cached_stills = {name: (precompute(m, stills), precompute(m, test_stills)) for name, m in encoders.items()}
cached_clips, cached_test_clips = precompute(encoders["AnyRes"], clips), precompute(encoders["AnyRes"], test_clips)
image_sets, test_image_sets = make_image_set_qa("train", N_SETS), make_image_set_qa("test", N_TEST)
cached_sets, cached_test_sets = precompute(encoders["AnyRes"], image_sets), precompute(encoders["AnyRes"], test_image_sets)
print(f"{N_CAPTIONS} captions, {N_STILLS} + {N_TEST} large stills, {N_CLIPS} + {N_TEST} clips of {FRAMES} frames, "
      f"{N_SETS} + {N_TEST} image sets encoded in {time.perf_counter() - start:.0f} s")
set_chance = chance_by_kind([s.answer for s in test_image_sets], [s.kind for s in test_image_sets])["all"]
set_baseline = any_picture_baseline(test_image_sets)  # the shape found, the named picture ignored
print(f"one image set: {test_image_sets[0].question} → {test_image_sets[0].answer} (chance {set_chance:.2f}; "
      f"finding the shape in any picture: {set_baseline:.2f})")
still_chance = chance_by_kind([s.answer for s in test_stills], [s.kind for s in test_stills])
clip_chance = chance_by_kind([s.answer for s in test_clips], [s.kind for s in test_clips])
print("chance (most common answer per kind), stills:", {k: round(v, 2) for k, v in still_chance.items()})
print("                                       clips:", {k: round(v, 2) for k, v in clip_chance.items()})
# the kinds the test sets hold (all of them, except perhaps in a fast-mode smoke run)
STILL_KINDS = tuple(k for k in STILL_KINDS if k in still_chance)
CLIP_KINDS, STATIC = (tuple(k for k in kinds if k in clip_chance) for kinds in (CLIP_KINDS, STATIC))

# %% [markdown]
# For each seed: stage 1 (`ALIGN`, the projector only, at the base view), then SI (`SINGLE_IMAGE`:
# projector + LM) twice from the same stage-1 weights — once reading each still through AnyRes,
# once through its base view alone. Then the AnyRes SI model goes on to the OneVision stage
# (section 5).

# %%
def stage1(seed: int):
    """Stage 1 at the base view: the projector learns from captions."""
    m = build(CONFIGS["base view only"], seed=seed)
    m.fit_standardizer(all_media(cached_captions[:256]))
    run_stage(m, dataclasses.replace(ALIGN, steps=ALIGN_STEPS, batch_size=16), cached_captions, seed=seed,
              progress=False)
    return m


def single_image(aligned, name: str, seed: int):
    """The SI stage from the stage-1 weights, reading stills as `name` says."""
    m = build(CONFIGS[name], seed=seed)
    m.load_state_dict(aligned.state_dict())
    run_stage(m, dataclasses.replace(SINGLE_IMAGE, steps=SI_STEPS, batch_size=SI_BATCH), cached_stills[name][0],
              seed=seed, progress=False)
    return m


si_models, still_scores, si_clip_scores, si_set_scores = {}, {name: [] for name in CONFIGS}, [], []
start = time.perf_counter()
for seed in tqdm(SEEDS, desc="stage 1 + SI"):
    aligned = stage1(seed)
    for name in CONFIGS:
        m = single_image(aligned, name, seed)
        still_scores[name].append(evaluate(m, cached_stills[name][1]))
        if name == "AnyRes":
            si_models[seed] = m
            si_clip_scores.append(evaluate(m, cached_test_clips))  # a video, never seen in training
            si_set_scores.append(evaluate(m, cached_test_sets)["all"])  # nor a set of images
print(f"{len(SEEDS)} × (stage 1 + 2 SI runs) in {time.perf_counter() - start:.0f} s")

# %% [markdown]
# ### Headline (a): AnyRes vs the base view alone, on held-out large stills

# %%
still_table = {name: {kind: [r[kind] for r in results] for kind in (*STILL_KINDS, "all")}
               for name, results in still_scores.items()}
print(f"held-out large stills, exact match, mean ± s.e. over seeds {SEEDS}")
for kind in (*STILL_KINDS, "all"):
    a, b = still_table["AnyRes"][kind], still_table["base view only"][kind]
    print(f"  {kind:>8} (chance {still_chance[kind]:.2f}): AnyRes {interval(a)} | base view {interval(b)}"
          f"\n           → {verdict(a, b, names=('AnyRes', 'base view only'))}")
record.add("still_accuracy", still_table)
record.add("seeds", SEEDS)
fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), gridspec_kw={"width_ratios": [2, 1]})
plot.bars({name: {k: mean_se(v)[0] for k, v in row.items()} for name, row in still_table.items()},
          chance=still_chance, ax=axes[0])
axes[0].set_title("held-out large stills (mean over seeds)", fontsize=10)
if "shape" in still_table["AnyRes"]:
    plot.seed_spread({name: row["shape"] for name, row in still_table.items()}, ax=axes[1],
                     chance=still_chance["shape"], title="shape, seed by seed")

# %% [markdown]
# The shape of a small object is what the base view loses: a few pixels of a circle and of a
# square look alike. Read the other kinds too: the verdicts say whether AnyRes's up to 10× more
# tokens cost anything on questions the base view already answers. The seeds differ most on
# shape: at this length of training each seed's model is at its own point of learning to read
# shapes in the crops (the dots on the right).
#
# **Try it:** add `"position"` (which cell of a 3 × 3 grid) to `STILL_KINDS` and run sections 4
# and 5 again. Position is a question about the whole image's layout; the crops carry it only in
# their order (LLaVA-NeXT adds a learned "newline" token after each row; the toy does not).

# %% [markdown]
# ## 5 · The curriculum, part 2: images teach video, and the OneVision stage
#
# The SI models have never seen a clip. Asked about one (each frame a view, pooled to 2 × 2
# tokens), how do they do?

# %%
si_clip_table = {kind: [r[kind] for r in si_clip_scores] for kind in (*CLIP_KINDS, "all")}
static_chance = float(np.mean([clip_chance[k] for k in STATIC]))
si_static = [float(np.mean([r[k] for k in STATIC])) for r in si_clip_scores]
for kind, values in si_clip_table.items():
    shown = "all questions" if kind == "all" else kind
    print(f"  {shown:>13}: SI on clips {interval(values)}   (chance {clip_chance[kind]:.2f})")
print(f"colour/shape/count: {interval(si_static)} against chance {static_chance:.2f}")
record.add("si_on_clips", si_clip_table)

# %% [markdown]
# The OneVision stage (`ONEVISION_STAGE`) goes on from each SI model with batches of
# `OV_IMAGES` image samples (stills and image sets, drawn from one pool) and `OV_CLIPS` clips
# (`video_llava.mixed_batches`, the mixed batches of notebook 06). The control goes on for the
# same steps with the **same stream of image batches and no clips**: what the OneVision model
# gains over it on clips comes from the videos, not from training longer.

# %%
def continue_stage(seed: int, clip_batch: int):
    m = build(CONFIGS["AnyRes"], seed=seed)
    m.load_state_dict(si_models[seed].state_dict())
    stage = dataclasses.replace(ONEVISION_STAGE, steps=OV_STEPS, batch_size=OV_IMAGES + clip_batch)
    images = cached_stills["AnyRes"][0] + cached_sets
    batches = mixed_batches(m, images, cached_clips, OV_IMAGES, clip_batch, seed=seed)
    run_stage(m, stage, [], seed=seed, progress=False, batches=batches)
    return m


ov_models, ov_scores = {}, {"OneVision": [], "no clips": []}
start = time.perf_counter()
for seed in tqdm(SEEDS, desc="OneVision stage"):
    for name, clip_batch in (("OneVision", OV_CLIPS), ("no clips", 0)):
        m = continue_stage(seed, clip_batch)
        ov_scores[name].append((evaluate(m, cached_test_clips), evaluate(m, cached_stills["AnyRes"][1]),
                                evaluate(m, cached_test_sets)["all"]))
        if name == "OneVision":
            ov_models[seed] = m
print(f"{len(SEEDS)} × 2 runs of {OV_STEPS} steps in {time.perf_counter() - start:.0f} s")

# %% [markdown]
# ### Headline (b): SI → OneVision on held-out clips and image sets, and what it costs on stills

# %%
GROUPS = {"mean over kinds": CLIP_KINDS, "colour/shape/count": STATIC, "direction": ("direction",)}
GROUPS = {g: kinds for g, kinds in GROUPS.items() if set(kinds) <= set(CLIP_KINDS)}


def group(result, kinds) -> float:
    return float(np.mean([result[k] for k in kinds]))


clip_table = {"SI": {g: [group(r, ks) for r in si_clip_scores] for g, ks in GROUPS.items()}}
for name, results in ov_scores.items():
    clip_table[name] = {g: [group(r, ks) for r, _, _ in results] for g, ks in GROUPS.items()}
for g in GROUPS:
    print(f"{g:>19}: " + " | ".join(f"{name} {interval(row[g])}" for name, row in clip_table.items()))
    print(f"{'':>21}{verdict(clip_table['OneVision'][g], clip_table['SI'][g], names=('OneVision', 'SI'))}; "
          f"{verdict(clip_table['OneVision'][g], clip_table['no clips'][g], names=('OneVision', 'no clips'))}")
set_table = {"SI": si_set_scores, **{n: [x for _, _, x in r] for n, r in ov_scores.items()}}
print("held-out image sets ('what colour is the … in picture …'):", " | ".join(f"{n} {interval(v)}" for n, v in set_table.items()),
      f"(chance {set_chance:.2f})")
print(verdict(set_table["OneVision"], set_table["SI"], names=("OneVision", "SI")))
print(f"against the shape found in any picture ({set_baseline:.2f}):",
      verdict(set_table["OneVision"], [set_baseline] * len(SEEDS), names=("OneVision", "any picture")))
stills_after = {"SI": still_table["AnyRes"]["all"], **{n: [s["all"] for _, s, _ in r] for n, r in ov_scores.items()}}
print("held-out large stills, all kinds:", " | ".join(f"{n} {interval(v)}" for n, v in stills_after.items()))
print(verdict(stills_after["OneVision"], stills_after["SI"], names=("OneVision", "SI")))
if "direction" in GROUPS:  # is direction learned at all, or only moved towards the most common answer?
    line = [group(clip_chance, ("direction",))] * len(SEEDS)
    print("direction after the OneVision stage vs the chance line:",
          verdict(clip_table["OneVision"]["direction"], line, names=("OneVision", "chance")))
record.add("clip_accuracy", clip_table)
record.add("image_set_accuracy", set_table)
record.add("still_accuracy_after", stills_after)

# %%
fig, axes = plt.subplots(1, 3, figsize=(14, 3.4), gridspec_kw={"width_ratios": [3, 2, 2]})
plot.bars({name: {g: mean_se(v)[0] for g, v in row.items()} for name, row in clip_table.items()},
          chance={g: group(clip_chance, ks) for g, ks in GROUPS.items()}, ax=axes[0])
axes[0].set_title("held-out clips (mean over seeds)", fontsize=10)
plot.seed_spread(set_table, ax=axes[1], chance=set_chance, title="held-out image sets")
plot.seed_spread(stills_after, ax=axes[2], chance=still_chance["all"], title="held-out large stills, all kinds");

# %% [markdown]
# ## 6 · A chat
#
# The first seed's OneVision model, about held-out large stills, an image set and clips:

# %%
model = ov_models[SEEDS[0]]
for s in (test_stills[0], test_stills[1], test_image_sets[0], test_clips[0], test_clips[1]):
    reply = model.chat(list(s.media), s.question, max_new_tokens=8)
    print(f"user: {s.question}   ({', '.join(map(repr, s.media))})\nassistant: {reply}   (truth: {s.answer})")

# %% [markdown]
# ## The scorecard
#
# Each claim against what this run measured. "Goes the paper's way" is computed from the
# intervals: a difference counts only when it exceeds twice its standard error.

# %%
claims = []
for kind in [k for k in ("shape", "all") if k in still_table["AnyRes"]]:
    a, b = still_table["AnyRes"][kind], still_table["base view only"][kind]
    claims.append((f"AnyRes reads large stills with small objects better than the base view alone ({kind})",
                   f"{interval(a)} vs {interval(b)}", direction(a, b), True))
claims.append(("the SI model, never trained on video, answers colour/shape/count about clips above chance "
               "(LLaVA-OV Table 5: SI 'can already perform well')",
               f"{interval(si_static)} vs chance {static_chance:.3f}",
               direction(si_static, [static_chance] * len(si_static)), True))
for g, kinds in GROUPS.items():
    a, b = clip_table["OneVision"][g], clip_table["SI"][g]
    claims.append((f"the OneVision stage beats SI on held-out clips ({g})",
                   f"{interval(a)} vs {interval(b)} (chance {group(clip_chance, kinds):.3f})", direction(a, b), True))
a, b = clip_table["OneVision"]["mean over kinds"], clip_table["no clips"]["mean over kinds"]
claims.append(("the OneVision stage's gain on clips comes from its videos, not from training longer (vs the same "
               "stage without clips; no paper figure)",
               f"{interval(a)} vs {interval(b)}; {verdict(a, b, names=('OneVision', 'no clips'))}", None, False))
a, b = set_table["OneVision"], [set_baseline] * len(SEEDS)
claims.append(("after the OneVision stage, multi-image answers use the named picture ('what colour is the … in "
               "picture two ?' vs finding the shape in any picture; no paper figure quoted here)",
               f"{interval(a)} vs {set_baseline:.3f} (chance {set_chance:.3f}); "
               f"{verdict(a, b, names=('OneVision', 'any picture'))}", None, False))
for claim, measured, reproduces, paper in claims:
    record.headline(claim, measured, reproduces, paper_claim=paper)
record.scorecard()

# %% [markdown]
# ## What changed at toy scale
#
# - **AnyRes** (section 4): OneVision's images are photographs and documents at up to 2304 px,
#   where detail decides; ours are toy stills at up to 192 px whose objects were made small on
#   purpose, so the base view loses their shape. The verdicts above say which kinds AnyRes wins
#   here. The SI questions are about objects (colour, shape, count); the layout question
#   (position) is left to the "Try it" above. LLaVA-NeXT also marks the end of each row with a
#   learned newline token and removes the padding's tokens ("unpad"; our stills fill their grids
#   exactly, so there is none); the toy reads the crops one after another, so the LM learns
#   their layout from their order alone.
# - **Grids**: OneVision's AnyRes-Max-9 lists grids up to 6 × 6 and interpolates the crops'
#   tokens down to 9 crops' worth; the toy's grids stop at 3 × 3, so there is nothing to
#   interpolate.
# - **Image → video** (section 5): the paper's SI model learned from 3.2 M images through a 7 B LM;
#   ours from a thousand stills through a 1 M-weight LM. The transfer printed above is measured
#   against the most-common-answer line; direction needs motion, which no still shows, so the SI
#   model cannot answer it — only clips teach it. Whether the OneVision stage *learned* direction
#   or only moved its answers towards the most common one is what the "vs the chance line"
#   verdict in section 5 says (notebook 06 found no variant that learns direction at this scale).
# - **Image sets**: a question names one picture ("in picture two"), and another picture shows
#   the same shape in another colour, so only the named picture answers it. A model that finds the
#   shape but ignores the name scores the "any picture" line printed in section 5; whether the
#   OneVision model beat that line is the verdict there. Reading a set *by name* means tying a
#   word in the prompt to one image's tokens among several — at this scale and length of training,
#   compare the verdict before taking the OneVision model's set accuracy as multi-image reasoning.
# - **The OneVision stage**: the paper mixes single images, multi-image sets and videos from many
#   tasks; the toy's sets ask one kind of question (a colour in a named picture), and its clips are
#   read at 16 frames, not 32, to fit the time budget (`NUM_FRAMES` = 32 is the preset's
#   maximum). OneVision pads each image of a set to a square before resizing it; the toy's set
#   images are square already.
# - Where a verdict reads "not distinguishable here", the intervals overlap at this size (3 seeds,
#   the test sets, the steps) — that is not evidence that the variants are equal.

# %%
record.add("settings", {"captions": N_CAPTIONS, "stills": N_STILLS, "clips": N_CLIPS, "test": N_TEST,
                        "frames": FRAMES, "steps": {"align": ALIGN_STEPS, "si": SI_STEPS, "ov": OV_STEPS},
                        "image_sets": N_SETS, "batches": {"si": SI_BATCH, "ov_images": OV_IMAGES, "ov_clips": OV_CLIPS}})
record.save();
