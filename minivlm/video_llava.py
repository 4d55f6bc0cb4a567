"""Video-LLaVA (Lin et al., 2023): one language space for images and videos, one projector.
Built in notebook 06.

Video-LLaVA reads images with LanguageBind's image tower and videos (8 frames sampled
uniformly) with LanguageBind's video tower. Both towers were aligned to one language space
*before* projection, so a single projector — 2 linear layers with a GELU — serves both, and
a batch mixes images and videos. Trained jointly on images and videos, it beat the same model
trained on videos alone on every video QA set it reports (MSVD-QA 64.8 → 70.7, ...), and the
united towers beat separate, unaligned image and video encoders.

In miniature: the toy CLIP's image tower for images, a zoo video tower for videos
(`minivlm.video_tower`: 'aligned' to the image tower's space, or 'separate'), the MLP
projector, and the contrastive alignment loss built in the notebook. This module holds the
preset, the joint stage, mixed image + video batches (`mixed_batches`), a measure of how much
two towers share a space (`space_similarity`) and the exercise checks of notebook 06:

    model = build("video-llava")                     # images → image tower, videos → video tower
    model.fit_standardizer(all_media(images + videos))
    run_stage(model, JOINT, [], batches=mixed_batches(model, images, videos, 8, 8))
"""

from __future__ import annotations

from typing import Callable, Iterator, Sequence

import open_clip
import torch
import torch.nn.functional as F

from .checks import compare, difference, report
from .config import VLMConfig
from .samples import Sample, collate
from .stages import Stage

# Images through the image tower, videos through the aligned video tower, one MLP projector,
# every frame's tokens kept (8 frames × 16 patches for a video, 16 for an image).
VIDEO_LLAVA = VLMConfig(name="video-llava", video_tower="aligned", connector="mlp", reducer="concat")
PRESETS = {"video-llava": VIDEO_LLAVA}
NUM_FRAMES = 8  # sampled uniformly, as in the paper

# The paper's stage 2: the projector and the LM learn from mixed image and video instructions.
JOINT = Stage("video-llava · joint instructions", train=("vision_tokenizer", "lm"), data="images + videos",
              steps=300, lr=2e-3, batch_size=16, lr_scale={"lm": 0.25})


def mixed_batches(model, images: Sequence[Sample], videos: Sequence[Sample], image_batch: int, video_batch: int,
                  seed: int = 0) -> Iterator[dict]:
    """Endless training batches, each holding `image_batch` image samples and `video_batch` video
    samples (a mixed batch, as Video-LLaVA trains), each set shuffled epoch by epoch; image_batch
    0 gives video-only batches. Deterministic by seed."""
    if video_batch < 0 or image_batch < 0 or video_batch + image_batch == 0:
        raise ValueError(f"need a positive batch: image_batch={image_batch}, video_batch={video_batch}")
    if (image_batch and not images) or (video_batch and not videos):
        raise ValueError("no samples for a part of the batch: give images for image_batch > 0 and videos for "
                         "video_batch > 0")
    g = torch.Generator().manual_seed(seed)

    def endless(n: int) -> Iterator[int]:
        while True:
            yield from torch.randperm(n, generator=g).tolist()

    streams = [(endless(len(part)), part, size) for part, size in ((images, image_batch), (videos, video_batch))
               if size]
    while True:
        yield collate(model, [part[next(order)] for order, part, size in streams for _ in range(size)])


@torch.no_grad()
def space_similarity(image_features: torch.Tensor, video_features: torch.Tensor) -> torch.Tensor:
    """How much two towers share a space: cosine similarity (N, N) between each image's tokens
    (N, P, D) and each clip's tokens averaged over its frames (N, T, P, D), both flattened to P·D
    after centring each tower's tokens on the mean of both. Row i, column j: image i vs clip j;
    when image i is a frame of clip i, a shared space shows as a bright diagonal."""
    if image_features.shape[0] != video_features.shape[0] or image_features.shape[1:] != video_features.shape[2:]:
        raise ValueError(f"need images (N, P, D) and clips (N, T, P, D) of the same N, P, D; got "
                         f"{tuple(image_features.shape)} and {tuple(video_features.shape)}")
    image, video = image_features.float(), video_features.float().mean(1)
    centre = torch.cat([image, video]).mean(0, keepdim=True)
    a = F.normalize((image - centre).flatten(1), dim=-1)
    b = F.normalize((video - centre).flatten(1), dim=-1)
    return a @ b.T


def diagonal_gap(similarity: torch.Tensor) -> float:
    """Mean of the diagonal minus the mean off the diagonal of a square similarity matrix."""
    n = similarity.shape[0]
    off = similarity[~torch.eye(n, dtype=torch.bool)]
    return float(similarity.diagonal().mean() - off.mean())


# ---- exercise checks (notebook 06) -------------------------------------------------------------
def check_alignment_loss(fn: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]) -> bool:
    """Exercise 1: fn(video (B, E), text (B, E), scale) → CLIP's symmetric contrastive loss (InfoNCE)
    between the L2-normalised rows, logits scale · video @ textᵀ, pair i the positive of row i —
    the mean of the video → text and text → video cross-entropies; against open_clip's ClipLoss."""
    g = torch.Generator().manual_seed(6)
    cases = [(torch.randn(4, 8, generator=g), torch.randn(4, 8, generator=g), 10.0),
             (torch.randn(6, 5, generator=g) * 3, torch.randn(6, 5, generator=g), 1.0),
             (torch.randn(3, 16, generator=g), torch.randn(3, 16, generator=g) * 0.1 + 2, 50.0)]
    # a case where the two directions differ: one text close to every video
    v = torch.randn(5, 6, generator=g)
    t = v + 0.3 * torch.randn(5, 6, generator=g)
    t[0] = v.mean(0)
    cases.append((v, t, 20.0))
    loss = open_clip.loss.ClipLoss()
    return compare("the contrastive alignment loss of two towers", fn,
                   lambda a, b, s: loss(F.normalize(a, dim=-1), F.normalize(b, dim=-1), s), cases, atol=1e-4)


def check_mixed_batch(fn: Callable) -> bool:
    """Exercise 2: fn(items, image_tower, video_tower, projector) → one (N_i, D_lm) tensor per item,
    in the items' order. items: ('image', (P, D)) or ('video', (T, P, D)) raw inputs; image_tower:
    (N, P, D) → (N, P, D); video_tower: (N, T, P, D) → (N, T, P, D); projector: (..., D) → (..., D_lm),
    the one projector for both (an image gives P tokens, a video T·P)."""
    g = torch.Generator().manual_seed(16)
    d, p = 4, 3
    w_image, w_video = torch.randn(d, d, generator=g), torch.randn(d, d, generator=g)
    shift = torch.randn(d, generator=g)
    w_proj = torch.randn(d, 5, generator=g)

    def image_tower(x):
        return torch.tanh(x @ w_image)

    def video_tower(x):  # mixes frames: not the image tower frame by frame
        return torch.tanh(x @ w_video + x.mean(1, keepdim=True) + shift)

    def projector(x):
        return F.gelu(x @ w_proj)

    def reference(items):
        out = []
        for kind, x in items:
            tokens = image_tower(x[None])[0] if kind == "image" else video_tower(x[None])[0].flatten(0, 1)
            out.append(projector(tokens))
        return out

    def check():
        batches = [[("image", torch.randn(p, d, generator=g))],
                   [("video", torch.randn(2, p, d, generator=g))],
                   [("video", torch.randn(3, p, d, generator=g)), ("image", torch.randn(p, d, generator=g)),
                    ("image", torch.randn(p, d, generator=g)), ("video", torch.randn(3, p, d, generator=g))]]
        for items in batches:
            got, want = fn(items, image_tower, video_tower, projector), reference(items)
            shown = [f"{kind} {tuple(x.shape)}" for kind, x in items]
            if len(got) != len(want):
                return f"for items {shown}: {len(got)} outputs, expected one per item ({len(want)})"
            for k, (a, b) in enumerate(zip(got, want)):
                problem = difference(a, b, atol=1e-5)
                if problem:
                    return f"for items {shown}, item {k} ({items[k][0]}): {problem}"
        return None

    return report("a mixed image + video batch through one projector", check)


__all__ = ["JOINT", "NUM_FRAMES", "PRESETS", "VIDEO_LLAVA", "check_alignment_loss", "check_mixed_batch",
           "diagonal_gap", "mixed_batches", "space_similarity"]
