"""LLaVA-OneVision (Li et al., 2024): one model for single images, multi-image sets and video,
with each scenario's visual tokens held to about the same budget. Built in notebook 10.

OneVision reads every image through one SigLIP encoder at 384 px (27 × 27 = 729 tokens per
view) and an MLP projector into a Qwen-2 LM. SigLIP (Zhai et al., 2023) is a CLIP trained with a
sigmoid loss: every image-caption pair of a batch is its own yes/no question, so no softmax
over the batch (open_clip's `SigLipLoss`; the toy config `vision.TOY_SIGMOID`). What OneVision is
known for:

- **AnyRes** (from LLaVA-NeXT): a large image is not squashed into one 384-px view. The grid of
  384-px crops that best fits the image is picked from a list (`select_best_resolution`), the
  image is resized into that grid and padded, cut into crops, and a *base view* of the whole
  image comes first (`anyres_views`). Every view goes through the same encoder; the LM reads the
  base view's tokens, then every crop's. AnyRes-Max-9 allows grids up to 6 × 6 and then
  interpolates the crops' tokens down to at most 9 crops' worth: 729 × (1 + 9) tokens at most.
- **Balanced budgets**: a multi-image set gets 729 tokens per image (base views only, up to 12
  images); a video gets up to 32 frames, each frame's 27 × 27 tokens bilinearly pooled to
  14 × 14 = 196 *after* the projector — 32 × 196 = 6,272, about the 7,290 of one AnyRes image.
- **The curriculum**: projector alignment, then single-image instructions (3.2 M, "SI"), then the
  OneVision stage on a mix of single images, multi-image sets and videos (1.6 M). The SI model has
  never seen a video and already answers video questions (Table 5: "LLaVA-OV-7B (SI) ... can
  already perform well" on ActivityNet-QA, 55.1); the OneVision stage lifts nearly every video set
  it reports (e.g. NextQA-mc 61.6 → 79.4, MVBench 51.2 → 56.7; Video-ChatGPT's score 3.54 → 3.51).

In miniature: the toy CLIP at 64 px (4 × 4 = 16 tokens per view), grids up to 3 × 3 (AnyRes-Max-9
without the interpolation, since no grid exceeds 9 crops), videos of 32 frames pooled 4 × 4 → 2 × 2
after the projector (32 × 4 = 128 tokens, against at most 16 × (1 + 9) = 160 for an image), each
image of a multi-image set at its base view (16 tokens). This module holds the grid choice and the
crops, the model that reads them (`OneVisionVLM`), large stills with small objects
(`make_large_still_qa`), multi-image sets (`make_image_set_qa`), the preset, the two stages and
the exercise checks of notebook 10:

    model = build("llava-onevision")           # after stage 1 (llava.ALIGN on captions, base view)
    model.fit_standardizer(all_media(stills))
    run_stage(model, SINGLE_IMAGE, stills)                                   # the SI model
    run_stage(model, ONEVISION_STAGE, [], batches=video_llava.mixed_batches(model, stills, videos, 4, 8))
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import replace
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .checks import compare, report
from .config import VLMConfig
from .media import Media
from .samples import Sample
from .stages import Stage
from .reducers import AdaptivePool
from .vlm import LanguageStreamVLM

# Every grid of rows × columns of crops with 1 ≤ rows, columns ≤ 3: at most 9 crops, the toy's
# AnyRes-Max-9 (OneVision lists 1 × 1 … 6 × 6 at 384 px and interpolates beyond 9 crops' tokens).
GRIDS: tuple[tuple[int, int], ...] = tuple((r, c) for r in range(1, 4) for c in range(1, 4))
NUM_FRAMES = 32  # OneVision's --frames_upbound: up to 32 frames, sampled uniformly
VIDEO_POOL = 2  # each frame's 4 × 4 tokens → 2 × 2 (OneVision: 27 × 27 → 14 × 14)


# ---- AnyRes ------------------------------------------------------------------------------------
def select_best_resolution(size: tuple[int, int], grids: Sequence[tuple[int, int]], crop: int) -> tuple[int, int]:
    """The grid (rows, columns) of `crop`-pixel crops that best fits an image of size (H, W),
    LLaVA-NeXT's rule: the image is scaled to fit each grid's canvas (rows·crop, columns·crop)
    keeping its aspect ratio; pick the canvas that keeps the most of the image's pixels (the
    scaled image's area, never counted above the original's), and among equals the one that
    wastes the least canvas (padding). Scaled sizes are rounded down to whole pixels."""
    h, w = size
    if h < 1 or w < 1:
        raise ValueError(f"an image must have a positive size, got {size}")
    if not grids:
        raise ValueError("no grids to choose from; give at least (1, 1)")
    best, best_kept, best_waste = None, -1, None
    for rows, cols in grids:
        canvas_h, canvas_w = rows * crop, cols * crop
        scale = min(canvas_w / w, canvas_h / h)
        kept = min(int(w * scale) * int(h * scale), w * h)
        waste = canvas_h * canvas_w - kept
        if kept > best_kept or (kept == best_kept and waste < best_waste):
            best, best_kept, best_waste = (rows, cols), kept, waste
    return best


def resize_image(pixels: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """An image uint8 (H, W, 3) resized to (h, w), uint8: bilinear with antialiasing, as the
    encoder's own resizing (`VisionEncoder.preprocess`)."""
    if tuple(pixels.shape[:2]) == tuple(size):
        return pixels
    x = pixels.permute(2, 0, 1)[None].float()
    x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
    return x[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8)


def anyres_views(pixels: torch.Tensor | np.ndarray, grid: tuple[int, int], crop: int) -> torch.Tensor:
    """An image (H, W, 3) uint8 as AnyRes views (1 + rows·columns, crop, crop, 3): first the base
    view (the whole image resized to crop × crop), then the crops of a (rows·crop, columns·crop)
    canvas row by row. As LLaVA-NeXT resizes and pads: the image is scaled by the smaller of the
    canvas-to-image ratios, so that one side fills the canvas and the other is rounded up (at most
    the canvas), and centred on black, the padding split with the extra pixel after."""
    x = torch.as_tensor(np.asarray(pixels)) if not isinstance(pixels, torch.Tensor) else pixels
    if x.dtype != torch.uint8 or x.ndim != 3 or x.shape[-1] != 3:
        raise ValueError(f"anyres_views takes one image, uint8 (H, W, 3), got {x.dtype} {tuple(x.shape)}")
    rows, cols = grid
    h, w = int(x.shape[0]), int(x.shape[1])
    canvas_h, canvas_w = rows * crop, cols * crop
    if canvas_w / w < canvas_h / h:  # the width fills the canvas
        new_h, new_w = min(math.ceil(h * canvas_w / w), canvas_h), canvas_w
    else:
        new_h, new_w = canvas_h, min(math.ceil(w * canvas_h / h), canvas_w)
    canvas = torch.zeros(canvas_h, canvas_w, 3, dtype=torch.uint8)
    top, left = (canvas_h - new_h) // 2, (canvas_w - new_w) // 2
    canvas[top:top + new_h, left:left + new_w] = resize_image(x, (new_h, new_w))
    crops = canvas.reshape(rows, crop, cols, crop, 3).permute(0, 2, 1, 3, 4).reshape(rows * cols, crop, crop, 3)
    return torch.cat([resize_image(x, (crop, crop))[None], crops])


def bilinear_pool(tokens: torch.Tensor, side: int) -> torch.Tensor:
    """OneVision's video pooling: each frame's square grid of tokens (…, T, P, D), P = s × s,
    bilinearly resized to side × side → (…, T, side², D) (row-major). At s = 2 · side it equals
    2 × 2 average pooling."""
    *lead, t, p, d = tokens.shape
    s = AdaptivePool.grid_side(p)  # (an error unless the frame's tokens are a square grid)
    if side >= s:
        return tokens
    grid = tokens.reshape(-1, s, s, d).permute(0, 3, 1, 2)  # (N, D, s, s)
    pooled = F.interpolate(grid.float(), size=(side, side), mode="bilinear", align_corners=False).to(tokens.dtype)
    return pooled.permute(0, 2, 3, 1).reshape(*lead, t, side * side, d)


class OneVisionVLM(LanguageStreamVLM):
    """A language-stream VLM that reads images through AnyRes and pools video frames.

    An image (raw pixels) becomes 1 + rows·columns views (`anyres_views` on the grid
    `select_best_resolution` picks from config.anyres_grids; no grids, or a grid of one crop: the
    base view alone), each
    encoded like a frame; its tokens are every view's, base first. A video's frames are encoded
    one by one, projected, and each frame's tokens pooled to video_pool × video_pool
    (`bilinear_pool`). A prompt with several images reads each at its base view alone
    (`prompt_media`), as OneVision reads a multi-image set. Cached features carry the views
    (images) or frames (videos) already."""

    def prompt_media(self, items: Sequence[Media]) -> list[Media]:
        """Each image of a multi-image prompt marked to be read at its base view (Media.anyres False)."""
        if sum(item.modality == "image" for item in items) < 2:
            return list(items)
        return [replace(item, anyres=False) if item.modality == "image" and item.anyres else item for item in items]

    def cut(self, item: Media) -> bool:
        """Whether a raw image is cut into crops: AnyRes on, the image not one of a set, and its
        grid more than one crop (one crop would show what the base view shows; LLaVA-NeXT encodes
        it twice, the toy once)."""
        return (item.modality == "image" and item.features is None and item.anyres and bool(self.config.anyres_grids)
                and self.grid(item) != (1, 1))

    def views(self, item: Media) -> int:
        """How many encoder passes (views or frames) an item takes."""
        if self.cut(item):
            rows, cols = self.grid(item)
            return 1 + rows * cols
        return item.num_frames

    def grid(self, item: Media) -> tuple[int, int]:
        """The AnyRes grid (rows, columns) of a raw image."""
        h, w = int(item.pixels.shape[1]), int(item.pixels.shape[2])
        return select_best_resolution((h, w), self.config.anyres_grids, self.vision_encoder.image_size[0])

    def num_tokens(self, item: Media) -> int:
        self._vision_parts(item)  # the modality and frame-count checks
        patches = self.vision_encoder.num_patches
        if item.modality == "video" and self.config.video_pool:
            side = min(self.config.video_pool, AdaptivePool.grid_side(patches))
            return item.num_frames * side * side
        return self.vision_tokenizer.num_tokens(self.views(item), patches)

    def frames_to_encode(self, item: Media) -> torch.Tensor:
        """A raw image's AnyRes views (base view first) when it is cut, else its pixels."""
        if self.cut(item):
            return anyres_views(item.pixels[0], self.grid(item), self.vision_encoder.image_size[0])
        return item.pixels

    def encode_media(self, items: Sequence[Media]) -> list[torch.Tensor]:
        """Each item's tokens (N_i, D_lm): an image's views all kept; a video's frames projected,
        then pooled (config.video_pool)."""
        out = super().encode_media(items)
        if not self.config.video_pool:
            return out
        return [bilinear_pool(t.reshape(item.num_frames, -1, t.shape[-1]), self.config.video_pool).flatten(0, 1)
                if item.modality == "video" else t for t, item in zip(out, items)]


# ---- the preset and its stages -----------------------------------------------------------------
# Every view's 16 tokens kept (concat) and projected by an MLP; videos of up to 32 frames, each
# frame's tokens pooled 2 × 2 after the projector.
ONEVISION = VLMConfig(name="llava-onevision", connector="mlp", reducer="concat", anyres_grids=GRIDS,
                      video_pool=VIDEO_POOL, max_frames=NUM_FRAMES)
PRESETS = {"llava-onevision": ONEVISION}

# OneVision trains the whole model after stage 1; the toy keeps the vision tower frozen (its
# features are cached) and trains the projector and the LM, the LM at a quarter of the rate.
SINGLE_IMAGE = Stage("onevision · single images (SI)", train=("vision_tokenizer", "lm"), data="stills",
                     steps=300, lr=2e-3, batch_size=16, lr_scale={"lm": 0.25})
ONEVISION_STAGE = Stage("onevision · images + videos (OV)", train=("vision_tokenizer", "lm"),
                        data="stills + videos", steps=200, lr=2e-3, batch_size=16, lr_scale={"lm": 0.25})

# Large stills: the same scenes at 3 × the toy world's 64 px on the longer side, with objects
# a third of their usual size, so that a crop shows an object as large as a 64-px still does.
LARGE_SIZES: tuple[tuple[int, int], ...] = ((192, 192), (128, 192), (192, 128))
SMALL_RADIUS = (0.12 / 3, 0.18 / 3)


def make_large_still_qa(split: str, n: int, kinds: Sequence[str] = ("colour", "shape", "count", "position"),
                        sizes: Sequence[tuple[int, int]] = LARGE_SIZES, start: int = 0) -> list[Sample]:
    """n stills of `split`, each at one of `sizes` (H, W) in turn, with objects whose radius is a
    third of the toy world's (relative to the longer side of the image), and one question each
    (`data.make_still_qa`)."""
    from .data import WorldConfig, make_still_qa

    out: list[Sample] = []
    for k, size in enumerate(sizes):
        count = n // len(sizes) + (k < n % len(sizes))
        if not count:
            continue
        scale = max(size) / min(size)  # the world sizes objects by the shorter side
        config = WorldConfig(radius=(SMALL_RADIUS[0] * scale, SMALL_RADIUS[1] * scale))
        out += make_still_qa(split, count, kinds=tuple(kinds), config=config, size=size, start=start + 100_000 * k)
    order = np.random.default_rng([len(out), 10]).permutation(len(out))
    return [out[i] for i in order]


SET_SIZES = (2, 3)


def make_image_set_qa(split: str, n: int, sizes: Sequence[int] = SET_SIZES, start: int = 0) -> list[Sample]:
    """n multi-image questions: a set of 64-px stills of different scenes (sizes taken in turn),
    each named in the prompt as multi-image data names them, and a question about one picture
    that another picture would answer differently — "picture one : <image> picture two : <image>
    what colour is the circle in picture two ?" → "blue", where picture one shows a circle of
    another colour. Kind 'colour in picture'; meta['set'] and meta['times']: each picture's scene
    and moment. Deterministic by (split, n, start)."""
    from .data import render_still, sample_scene
    from .data.text import NUMBER_WORDS

    if min(sizes) < 2 or max(sizes) > len(NUMBER_WORDS) - 1:
        raise ValueError(f"a set holds 2 to {len(NUMBER_WORDS) - 1} pictures, got sizes {tuple(sizes)}")
    rng = np.random.default_rng([n, start, 12])
    out: list[Sample] = []
    index = start
    for _ in range(50 * n + 100):
        k = sizes[len(out) % len(sizes)]
        shown = []
        for _ in range(k):
            scene = sample_scene(split, 300_000 + index)
            t = scene.visible_moment(np.random.default_rng([index, 13]))
            index += 1
            seen = {o.shape: scene.colour_at(i, t) for i, o in enumerate(scene.objects) if scene.visible(i, t)}
            shown.append((scene, t, seen))
        colours = Counter((shape, colour) for _, _, seen in shown for shape, colour in seen.items())
        shapes = Counter(shape for shape, _ in colours)
        options = [(j, shape) for j, (_, _, seen) in enumerate(shown) for shape in sorted(seen) if shapes[shape] > 1]
        if not options:  # no shape that two pictures show in different colours
            continue
        j, shape = options[int(rng.integers(len(options)))]
        media = [Media.image(render_still(scene, t)) for scene, t, _ in shown]
        named = " ".join(f"picture {NUMBER_WORDS[q + 1]} : {m.placeholder}" for q, m in enumerate(media))
        question = f"{named} what colour is the {shape} in picture {NUMBER_WORDS[j + 1]} ?"
        messages = [{"role": "user", "content": question},
                    {"role": "assistant", "content": shown[j][2][shape]}]
        out.append(Sample(media, messages, kind="colour in picture",
                          meta={"set": [scene for scene, _, _ in shown], "times": [t for _, t, _ in shown]}))
        if len(out) == n:
            return out
    raise ValueError("too few sets that show one shape in two colours; use larger sets")


def any_picture_baseline(samples: Sequence[Sample]) -> float:
    """What a model scores on `make_image_set_qa` questions when it finds the shape but ignores
    which picture was named: for each question, the share of the pictures showing that shape
    whose colour is the answer, averaged (the expected accuracy of picking one at random)."""
    scores = []
    for s in samples:
        if s.kind != "colour in picture":
            raise ValueError(f"not a make_image_set_qa question (kind {s.kind!r}): {s.question!r}")
        shape = s.question.split()[-5]
        colours = [c for sc, t in zip(s.meta["set"], s.meta["times"])
                   for i, o in enumerate(sc.objects) if o.shape == shape and sc.visible(i, t)
                   for c in [sc.colour_at(i, t)]]
        scores.append(colours.count(s.answer) / len(colours))
    return float(np.mean(scores))


# ---- exercise checks (notebook 10) -------------------------------------------------------------
def check_sigmoid_loss(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]) -> bool:
    """Exercise 1: fn(image (B, E), text (B, E), scale, bias) → SigLIP's sigmoid loss of
    L2-normalised embeddings; must equal open_clip's `SigLipLoss`."""
    import open_clip

    g = torch.Generator().manual_seed(11)
    cases = []
    for b, scale, bias in ((2, 10.0, -10.0), (5, 1.0, 0.0), (8, 30.0, -5.0), (16, 10.0, -2.0)):
        image = F.normalize(torch.randn(b, 8, generator=g), dim=-1)
        text = F.normalize(torch.randn(b, 8, generator=g), dim=-1)
        text[0] = image[0]  # one pair that matches
        cases.append((image, text, torch.tensor(scale), torch.tensor(bias)))
    return compare("SigLIP's sigmoid loss", fn, lambda i, t, s, b: open_clip.loss.SigLipLoss()(i, t, s, b), cases)


_GRID_CASES = [((192, 192), GRIDS, 64), ((128, 192), GRIDS, 64), ((192, 128), GRIDS, 64), ((64, 64), GRIDS, 64),
               ((40, 300), GRIDS, 64), ((500, 90), GRIDS, 64), ((100, 100), GRIDS, 64),
               ((336, 672), ((1, 2), (2, 1), (2, 2), (1, 3), (3, 1)), 336),
               ((700, 500), ((1, 1), (1, 2), (2, 1), (2, 2)), 336), ((30, 50), ((1, 1), (2, 2), (1, 2)), 64)]


def check_best_resolution(fn: Callable[[tuple[int, int], Sequence[tuple[int, int]], int], tuple[int, int]]) -> bool:
    """Exercise 2: fn(size (H, W), grids, crop) → the grid (rows, columns); must equal
    `select_best_resolution`."""
    return compare("AnyRes: the grid that best fits the image",
                   lambda *a: tuple(int(v) for v in fn(*a)), select_best_resolution, _GRID_CASES)


def check_anyres_views(fn: Callable[[torch.Tensor, tuple[int, int], int], torch.Tensor]) -> bool:
    """Exercise 3: fn(pixels (H, W, 3) uint8, grid, crop) → views (1 + rows·columns, crop, crop, 3);
    must equal `anyres_views` (base view first, then the crops row by row)."""
    g = torch.Generator().manual_seed(10)

    def image(h, w):
        return torch.randint(0, 256, (h, w, 3), generator=g, dtype=torch.uint8)

    hand = torch.arange(8 * 16 * 3, dtype=torch.int64).reshape(8, 16, 3).mul(7).remainder(256).to(torch.uint8)
    cases = [(hand, (1, 2), 8), (hand, (2, 2), 8), (image(32, 48), (2, 3), 16), (image(48, 32), (3, 2), 16),
             (image(64, 64), (1, 1), 64), (image(20, 60), (1, 3), 16), (image(30, 50), (2, 2), 16)]

    def problem():
        for pixels, grid, crop in cases:
            got = torch.as_tensor(np.asarray(fn(pixels.clone(), grid, crop)))
            want = anyres_views(pixels, grid, crop)
            shown = f"an image {tuple(pixels.shape[:2])} on a {grid[0]}×{grid[1]} grid of {crop}-px crops"
            if tuple(got.shape) != tuple(want.shape):
                return f"for {shown}: expected views of shape {tuple(want.shape)}, got {tuple(got.shape)}"
            if not torch.equal(got[0].to(torch.int64), want[0].to(torch.int64)):
                return f"for {shown}: the first view should be the whole image resized to {crop}×{crop}"
            for k in range(1, len(want)):
                if not torch.equal(got[k].to(torch.int64), want[k].to(torch.int64)):
                    row, col = divmod(k - 1, grid[1])
                    return (f"for {shown}: view {k} should be the crop at row {row}, column {col} of the padded "
                            "canvas (the image resized keeping its aspect ratio, centred on black)")
        return None

    return report("AnyRes: base view and crops", problem)


__all__ = ["any_picture_baseline", "anyres_views", "bilinear_pool", "check_anyres_views",
           "check_best_resolution", "check_sigmoid_loss", "GRIDS", "LARGE_SIZES",
           "make_image_set_qa", "make_large_still_qa", "NUM_FRAMES", "resize_image", "ONEVISION",
           "ONEVISION_STAGE", "OneVisionVLM", "PRESETS", "select_best_resolution", "SET_SIZES",
           "SINGLE_IMAGE", "SMALL_RADIUS", "VIDEO_POOL"]
