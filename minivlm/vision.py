"""Vision encoders through open_clip: tiny toy-world CLIPs offline, real names online.

`create_clip("toy-clip-vit")` builds a small ViT CLIP from a config shipped with the package
(nothing is downloaded); `create_clip("ViT-B-32", pretrained="openai")` is the real path.
`VisionEncoder` wraps a CLIP's image tower and returns patch tokens from a chosen layer —
LLaVA feeds the penultimate layer's patch tokens (no CLS) to its projector.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Callable

import numpy as np
import open_clip
import torch
import torch.nn.functional as F
from torch import nn

from .runtime import seeded

TOY_CLIP = "toy-clip-vit"
# The same model for SigLIP's sigmoid loss (`clip_loss_fn(TOY_SIGMOID, kind="siglip")`): its config
# adds SigLIP's learned bias and starting temperature (logit scale log 10, bias -10; Zhai et al.
# 2023). Not "siglip" in the name: open_clip would then fetch SigLIP's own tokenizer. Notebook 10.
TOY_SIGMOID = "toy-sigmoid-vit"
_CONFIG_DIR = Path(__file__).parent / "configs"
_registered = False


def register_toy_configs() -> None:
    """Make the package's tiny model configs known to open_clip by name (idempotent)."""
    global _registered
    if not _registered:
        open_clip.add_model_config(_CONFIG_DIR)
        _registered = True


# Toy models whose patch embedding is a small convolutional stem instead of one big linear
# patch projection ("Early convolutions help transformers see better", Xiao et al. 2021):
# a tiny ViT trained from scratch on a 2-core CPU then learns shapes in minutes, not hours.
CONV_STEM_MODELS = {TOY_CLIP, TOY_SIGMOID}
# Toy models whose text tower embeds only the BPE tokens the toy world's words use (a few hundred
# of CLIP's 49,408): the same tokenizer, a 100x smaller embedding table (see CompactTokenEmbedding).
COMPACT_VOCAB_MODELS = {TOY_CLIP, TOY_SIGMOID}


def conv_stem(width: int, patch_size: int, channels: int = 32) -> nn.Sequential:
    """Stride-2 3x3 convolutions down to the patch grid: (B, 3, H, W) → (B, width, H/p, W/p)."""
    layers: list[nn.Module] = []
    c_in, c = 3, channels
    for _ in range(int(round(np.log2(patch_size))) - 1):
        layers += [nn.Conv2d(c_in, c, 3, 2, 1), nn.GELU()]
        c_in, c = c, min(2 * c, width)
    layers.append(nn.Conv2d(c_in, width, 3, 2, 1))
    return nn.Sequential(*layers)


class CompactTokenEmbedding(nn.Module):
    """A token embedding that keeps rows only for `kept_ids` of a large vocabulary.

    ids (B, L) in the big vocabulary → embeddings (B, L, width). Any other id (a word the toy
    world never writes) shares one 'unknown' row (row 0). The tokenizer is unchanged, so text
    pooling at the end-of-text token (the largest id) works as before.
    """

    def __init__(self, kept_ids: list[int], vocab_size: int, width: int):
        super().__init__()
        lookup = torch.zeros(vocab_size, dtype=torch.long)
        lookup[torch.tensor(sorted(set(kept_ids)))] = torch.arange(1, len(set(kept_ids)) + 1)
        self.register_buffer("lookup", lookup, persistent=False)
        self.weight = nn.Parameter(torch.randn(len(set(kept_ids)) + 1, width) * 0.02)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return F.embedding(self.lookup[ids], self.weight)


def toy_text_ids(name: str = TOY_CLIP) -> list[int]:
    """The BPE ids of every word the toy world writes (`data.text.vocabulary_words`), plus
    start/end of text: the rows a compact text tower keeps."""
    from .data.text import vocabulary_words

    tokens = clip_tokenizer(name)(vocabulary_words())
    return sorted(set(tokens.flatten().tolist()))


def create_clip(name: str = TOY_CLIP, pretrained: str | Path | None = None, seed: int = 0) -> nn.Module:
    """An open_clip CLIP model. `pretrained`: None (random init, seeded), a checkpoint file,
    or an open_clip tag such as 'openai' (needs the internet the first time)."""
    register_toy_configs()
    if name not in open_clip.list_models():
        raise ValueError(
            f"unknown vision model {name!r}; offline use {TOY_CLIP!r} (or another name from "
            "open_clip.list_models()), online e.g. 'ViT-B-32' with pretrained='openai'"
        )
    stem, compact = name in CONV_STEM_MODELS, name in COMPACT_VOCAB_MODELS
    custom = stem or compact  # modules are swapped after creation, so weights load afterwards
    with seeded(seed):
        try:
            with _quiet_logging():  # open_clip warns when a model starts from random weights
                model = open_clip.create_model(name, pretrained=None if custom else (str(pretrained) if pretrained else None))
                if stem:
                    visual = model.visual
                    visual.conv1 = conv_stem(visual.transformer.width, visual.patch_size[0])
                if compact:
                    model.token_embedding = CompactTokenEmbedding(toy_text_ids(name), model.vocab_size,
                                                                  model.token_embedding.weight.shape[1])
                if custom and pretrained:
                    open_clip.load_checkpoint(model, str(pretrained))
        except Exception as err:  # download failures surface as many different types
            raise OSError(
                f"could not load weights {pretrained!r} for {name!r}: {str(err).splitlines()[0][:200]}. "
                "Offline, pass a local checkpoint file (e.g. from minivlm.zoo.toy_clip()) or "
                "pretrained=None for random weights."
            ) from None
    return model.eval()


@contextlib.contextmanager
def _quiet_logging():
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def clip_tokenizer(name: str = TOY_CLIP) -> Callable[[list[str]], torch.Tensor]:
    """The text tokenizer open_clip pairs with `name` (CLIP's BPE, shipped with open_clip)."""
    register_toy_configs()
    return open_clip.get_tokenizer(name)


class VisionEncoder(nn.Module):
    """Image tower of a CLIP → patch tokens (the 'vision encoder' of a VLM).

    feature_layer: which transformer block's output to return (-1 last, -2 penultimate).
    keep_cls: also return the class token in front of the patch tokens.
    """

    def __init__(self, clip_model: nn.Module, feature_layer: int = -2, keep_cls: bool = False,
                 model_name: str = TOY_CLIP):
        super().__init__()
        self.visual = clip_model.visual
        self.model_name = model_name
        self.feature_layer = feature_layer
        self.keep_cls = keep_cls
        size = self.visual.image_size
        self.image_size = tuple(size) if isinstance(size, (tuple, list)) else (size, size)
        patch = self.visual.patch_size
        self.patch_size = tuple(patch) if isinstance(patch, (tuple, list)) else (patch, patch)
        self.grid = (self.image_size[0] // self.patch_size[0], self.image_size[1] // self.patch_size[1])
        self.width = self.visual.transformer.width
        cfg = getattr(self.visual, "preprocess_cfg", {}) or {}
        mean = cfg.get("mean", open_clip.OPENAI_DATASET_MEAN)
        std = cfg.get("std", open_clip.OPENAI_DATASET_STD)
        self.register_buffer("mean", torch.tensor(mean).view(3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(3, 1, 1), persistent=False)

    @property
    def num_patches(self) -> int:
        return self.grid[0] * self.grid[1] + (1 if self.keep_cls else 0)

    def preprocess(self, frames: np.ndarray | torch.Tensor) -> torch.Tensor:
        """uint8 frames (..., H, W, 3) → normalised float pixels (..., 3, S, S) at the
        encoder's resolution (bilinear resize when sizes differ)."""
        x = torch.as_tensor(np.asarray(frames) if not isinstance(frames, torch.Tensor) else frames)
        if x.dtype != torch.uint8 or x.shape[-1] != 3:
            raise ValueError(f"preprocess expects uint8 frames (..., H, W, 3), got {x.dtype} {tuple(x.shape)}")
        lead = x.shape[:-3]
        x = x.reshape(-1, *x.shape[-3:]).permute(0, 3, 1, 2).float().div(255.0)
        if tuple(x.shape[-2:]) != self.image_size:
            x = F.interpolate(x, size=self.image_size, mode="bilinear", align_corners=False, antialias=True)
        x = (x - self.mean.cpu()) / self.std.cpu()
        return x.reshape(*lead, 3, *self.image_size)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """pixels (N, 3, S, S) → tokens (N, P, D): patch tokens of `feature_layer` (row-major grid)."""
        if pixels.ndim != 4 or pixels.shape[1] != 3 or tuple(pixels.shape[-2:]) != self.image_size:
            raise ValueError(
                f"the vision encoder expects pixels (N, 3, {self.image_size[0]}, {self.image_size[1]}), "
                f"got {tuple(pixels.shape)}; use VisionEncoder.preprocess(frames) first"
            )
        depth = len(self.visual.transformer.resblocks)
        layer = self.feature_layer % depth
        out = self.visual.forward_intermediates(
            pixels, indices=[layer], output_fmt="NLC", output_extra_tokens=self.keep_cls,
            intermediates_only=True, stop_early=True,
        )
        tokens = out["image_intermediates"][0]
        if self.keep_cls:
            tokens = torch.cat([out["image_intermediates_prefix"][0], tokens], dim=1)
        return tokens


@torch.no_grad()
def encode_images(model: nn.Module, pixels: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """CLIP image embeddings (N, E), L2-normalised, computed in batches."""
    device = next(model.parameters()).device
    outs = [model.encode_image(pixels[i:i + batch_size].to(device), normalize=True).cpu()
            for i in range(0, len(pixels), batch_size)]
    return torch.cat(outs)


@torch.no_grad()
def encode_texts(model: nn.Module, texts: list[str], name: str = TOY_CLIP) -> torch.Tensor:
    """CLIP text embeddings (N, E), L2-normalised."""
    device = next(model.parameters()).device
    tokens = clip_tokenizer(name)(texts).to(device)
    return model.encode_text(tokens, normalize=True).cpu()


def zero_shot_classify(model: nn.Module, pixels: torch.Tensor, class_texts: list[str],
                       name: str = TOY_CLIP) -> torch.Tensor:
    """Index of the best-matching class text for each image: CLIP's zero-shot classifier."""
    was_training = model.training
    model.eval()
    image = encode_images(model, pixels)
    text = encode_texts(model, class_texts, name)
    model.train(was_training)
    return (image @ text.T).argmax(dim=1)


def unique_caption_batches(pixels: torch.Tensor, texts: list[str], batch_size: int, seed: int = 0):
    """Endless batches (pixels, texts) in which no caption repeats: a repeated caption would be
    a 'negative' that is really a positive, which contrastive losses punish."""
    n_unique = len(set(texts))
    if n_unique < 2:
        raise ValueError("contrastive training needs at least two different captions")
    g = torch.Generator().manual_seed(seed)
    while True:
        order = torch.randperm(len(texts), generator=g).tolist()
        batch, seen = [], set()
        for i in order:
            if texts[i] in seen:  # skipped this epoch; it comes back in the next
                continue
            seen.add(texts[i])
            batch.append(i)
            if len(batch) == min(batch_size, n_unique):
                yield pixels[batch], [texts[j] for j in batch]
                batch, seen = [], set()


def clip_loss_fn(name: str = TOY_CLIP, kind: str = "clip"):
    """A loss_fn for `minivlm.train.train` on (pixels, texts) batches: CLIP's symmetric
    softmax loss (kind='clip') or SigLIP's pairwise sigmoid loss (kind='siglip'), from open_clip."""
    tokenizer = clip_tokenizer(name)
    loss = open_clip.loss.ClipLoss() if kind == "clip" else open_clip.loss.SigLipLoss()

    def fn(model, batch):
        pixels, texts = batch
        image = model.encode_image(pixels, normalize=True)
        text = model.encode_text(tokenizer(texts).to(pixels.device), normalize=True)
        scale = model.logit_scale.exp()
        if kind == "clip":
            value = loss(image, text, scale)
        else:
            if getattr(model, "logit_bias", None) is None:
                raise ValueError("the SigLIP loss needs a model with a logit_bias (init_logit_bias in its config)")
            value = loss(image, text, scale, model.logit_bias)
        return value, {"logit_scale": scale.item()}

    if kind not in ("clip", "siglip"):
        raise ValueError("kind must be 'clip' or 'siglip'")
    return fn


def patchify(pixels: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Cut images into non-overlapping square patches, row by row (built in notebook 01).

    pixels (B, C, H, W) → patches (B, N, patch_size * patch_size * C), N = (H/p) * (W/p);
    each patch flattened channel-last (p, p, C). What a ViT's patch embedding sees.
    """
    b, c, h, w = pixels.shape
    p = patch_size
    if h % p or w % p:
        raise ValueError(f"image size {h}x{w} is not a multiple of the patch size {p}")
    x = pixels.reshape(b, c, h // p, p, w // p, p)
    return x.permute(0, 2, 4, 3, 5, 1).reshape(b, (h // p) * (w // p), p * p * c)


# ---- notebook 01's exercise checks --------------------------------------------------------------
def check_patchify(learner: Callable[[torch.Tensor, int], torch.Tensor]) -> bool:
    """Notebook 01, exercise 1: images (B, C, H, W) → patches (B, N, p·p·C), against `patchify`."""
    from .checks import compare

    example = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8)
    g = torch.Generator().manual_seed(0)
    return compare("patchify", learner, patchify,
                   [(example, 4), (example, 2), (torch.randn(1, 3, 64, 64, generator=g), 16)])


def check_clip_loss(learner: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]) -> bool:
    """Notebook 01, exercise 2: the symmetric contrastive loss of normalised embeddings (B, E) at
    a scale, against open_clip's `ClipLoss`."""
    from .checks import compare

    g = torch.Generator().manual_seed(0)
    cases = []
    for b, scale in ((2, 10.0), (5, 1.0), (16, 30.0)):
        image = F.normalize(torch.randn(b, 8, generator=g), dim=-1)
        text = F.normalize(torch.randn(b, 8, generator=g), dim=-1)
        text[0] = image[0]  # one pair that matches, so the two directions of the loss differ
        cases.append((image, text, torch.tensor(scale)))
    return compare("symmetric contrastive loss", learner, lambda i, t, s: open_clip.ClipLoss()(i, t, s), cases)
