"""A video tower: the image tower read frame by frame, then temporal attention across the frames.
Built for notebook 06 (Video-LLaVA).

Video-LLaVA reads images and videos with two LanguageBind towers. Both start from the same
CLIP image encoder; the video tower adds temporal attention and is trained contrastively
against a *frozen* language encoder, so its outputs land in the language space the image tower
already lives in — "aligned before projection". One projector can then serve both.

Ours, in miniature (`VideoTower`): the frozen toy-CLIP image tower gives each frame's tokens
at `feature_layer` (the class token and the 4 × 4 patch tokens); `TemporalBlock`s attend over
all frames' tokens at once, with a frame position embedding, and add what they find to the
frame tokens (residual, output projections starting at zero: an untrained tower *is* the image
tower, frame by frame). Two bases of the course zoo (`minivlm.zoo.toy_video`) differ only in how
they were trained (`tower_recipe`):

- **aligned** (LanguageBind's way): the frame tokens go on through the image tower's own last
  block, pooling and projection; trained against the toy CLIP's *frozen* text tower on clip
  captions ("a red circle moves left , a blue square stays still ."), which say what no single
  frame shows. Its tokens stay in the image tower's space.
- **separate** (an encoder trained apart): the same temporal blocks, then a linear map of its
  own, its own pooling head, trained against its own text tower (fresh, trained with it). It
  reads the same frames but speaks a language of its own: its tokens are *not* in the image
  tower's space.

    tower = zoo.toy_video("aligned")                 # frozen, (G, T, 3, 64, 64) → (G, T, 16, 128)
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import open_clip
import torch
import torch.nn.functional as F
from torch import nn

from .runtime import seeded
from .vision import TOY_CLIP, VisionEncoder, clip_tokenizer, create_clip

VIDEO_TOWERS = ("aligned", "separate")


class TemporalBlock(nn.Module):
    """Pre-norm attention over every frame's tokens at once, then an MLP; both residual, their
    output projections initialised at zero (the block starts as the identity).
    x (B, N, D) → (B, N, D); `pos` (B, N, D) is added to what the block reads, not to x."""

    def __init__(self, dim: int, heads: int = 4, mlp_ratio: float = 2.0):
        super().__init__()
        if dim % heads:
            raise ValueError(f"width {dim} is not divisible by {heads} heads")
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        nn.init.zeros_(self.attn.out_proj.weight)
        nn.init.zeros_(self.attn.out_proj.bias)
        nn.init.zeros_(self.mlp[2].weight)
        nn.init.zeros_(self.mlp[2].bias)

    def forward(self, x: torch.Tensor, pos: torch.Tensor | None = None) -> torch.Tensor:
        h = self.norm1(x if pos is None else x + pos)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


class TextTower(nn.Module):
    """A CLIP text tower on its own (open_clip's `encode_text`, the image tower dropped):
    texts → embeddings (N, E), L2-normalised."""

    def __init__(self, clip_model: nn.Module, name: str = TOY_CLIP):
        super().__init__()
        self.clip = clip_model
        if hasattr(self.clip, "visual"):
            del self.clip.visual
        self.name = name

    def forward(self, texts: Sequence[str]) -> torch.Tensor:
        device = next(self.parameters()).device
        return self.clip.encode_text(clip_tokenizer(self.name)(list(texts)).to(device), normalize=True)


class VideoTower(nn.Module):
    """Frames of a clip → tokens (G, T, P, D) for a VLM, and a clip embedding (G, E) for
    contrastive training (`embed`).

    clip_model: the CLIP whose image tower reads each frame (frozen; the VLM's image tower);
    aligned: True — tokens stay in the image tower's space, the embedding comes from the image
    tower's own last block, pooling and projection; False — a linear map and a pooling head of
    its own. layers, heads: the temporal blocks; max_frames: the frame position embedding's size.
    text: the text tower it was trained against (kept for measuring it; a VLM drops it).
    """

    reads_clips = True  # VLM.encode_features hands it whole clips (G, T, 3, S, S), not frames

    def __init__(self, clip_model: nn.Module, aligned: bool = True, feature_layer: int = -2, layers: int = 1,
                 heads: int = 4, max_frames: int = 16, text: TextTower | None = None, seed: int = 0):
        super().__init__()
        self.frames = VisionEncoder(clip_model, feature_layer=feature_layer, keep_cls=True)
        self.frames.requires_grad_(False)
        self.aligned, self.max_frames = aligned, max_frames
        dim = self.frames.width
        depth = len(self.frames.visual.transformer.resblocks)
        self._tail_start = feature_layer % depth + 1  # the image tower's blocks after the feature layer
        with seeded(seed):
            self.frame_pos = nn.Parameter(torch.randn(max_frames, dim) * 0.02)
            self.blocks = nn.ModuleList(TemporalBlock(dim, heads) for _ in range(layers))
            if not aligned:
                self.out = nn.Linear(dim, dim)
                embed_dim = clip_model.visual.output_dim
                self.head = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, embed_dim))
        self.text = text

    # ---- what a VLM reads ----------------------------------------------------------------------
    @property
    def width(self) -> int:
        return self.frames.width

    @property
    def num_patches(self) -> int:
        return self.frames.grid[0] * self.frames.grid[1]

    def preprocess(self, frames: np.ndarray | torch.Tensor) -> torch.Tensor:
        """uint8 frames (..., H, W, 3) → normalised pixels (..., 3, S, S), as the image tower's."""
        return self.frames.preprocess(frames)

    def frame_tokens(self, pixels: torch.Tensor) -> torch.Tensor:
        """pixels (G, T, 3, S, S) → the image tower's tokens of each frame (G, T, 1 + P, D)."""
        if pixels.ndim != 5:
            raise ValueError(f"the video tower reads clips (G, T, 3, S, S), got {tuple(pixels.shape)}; "
                             "stack frames per clip (use VideoTower.preprocess(frames) first)")
        with torch.no_grad():
            tokens = self.frames(pixels.flatten(0, 1))
        return tokens.view(*pixels.shape[:2], *tokens.shape[1:])

    def temporal(self, tokens: torch.Tensor) -> torch.Tensor:
        """Frame tokens (G, T, 1 + P, D) → the same shape, after the temporal blocks (and, for a
        separate tower, its own linear map)."""
        g, t, n, d = tokens.shape
        if t > self.max_frames:
            raise ValueError(f"a clip of {t} frames is more than the video tower's maximum of {self.max_frames}; "
                             "sample fewer frames (minivlm.data.uniform_indices)")
        pos = self.frame_pos[:t, None, :].expand(t, n, d).reshape(1, t * n, d)
        x = tokens.reshape(g, t * n, d)
        for block in self.blocks:
            x = block(x, pos)
        x = x.view(g, t, n, d)
        return self.out(x) if not self.aligned else x

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """pixels (G, T, 3, S, S) → patch tokens (G, T, P, D) (class tokens dropped)."""
        return self.temporal(self.frame_tokens(pixels))[:, :, 1:]

    # ---- what it was trained with ------------------------------------------------------------------
    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """Frame tokens (G, T, 1 + P, D) (from `frame_tokens`) → clip embeddings (G, E), L2-normalised:
        the temporal blocks' tokens averaged over frames, then — aligned — the image tower's own
        last block(s), pooling and projection (a still clip gets its frame's image embedding);
        separate — its own head on the mean of all tokens."""
        x = self.temporal(tokens).mean(1)  # (G, 1 + P, D)
        if not self.aligned:
            return F.normalize(self.head(x.mean(1)), dim=-1)
        visual = self.frames.visual
        for block in visual.transformer.resblocks[self._tail_start:]:
            x = block(x)
        pooled, _ = visual._pool(x)
        if visual.proj is not None:
            pooled = pooled @ visual.proj
        return F.normalize(pooled, dim=-1)

    def trained_state(self) -> dict[str, torch.Tensor]:
        """The weights its own training made (not the image tower's, nor a frozen text tower's):
        what the zoo ships."""
        frozen_text = self.aligned
        return {k: v for k, v in self.state_dict().items()
                if not k.startswith("frames.") and not (frozen_text and k.startswith("text."))}

    def load_trained_state(self, state: dict[str, torch.Tensor]) -> None:
        """Load `trained_state()` weights (any float dtype); everything else must stay as built."""
        missing, unexpected = self.load_state_dict({k: v.float() for k, v in state.items()}, strict=False)
        wanted = set(self.trained_state())
        if unexpected or wanted - set(state):
            raise ValueError(f"these weights do not fit this video tower: missing {sorted(wanted - set(state))[:5]}, "
                             f"unexpected {sorted(unexpected)[:5]}; was it built with another recipe?")

    def without_text(self) -> VideoTower:
        """The tower a VLM reads with: the same module with its text tower dropped."""
        self.text = None
        return self


# ---- training ------------------------------------------------------------------------------------
def tower_recipe(kind: str, full: bool | None = None) -> dict:
    """How a video base is trained (`full`: None → the current mode; sizes shrink in fast mode):
    `clips` training-split clips of `frames` uniform frames with their captions (frame tokens
    computed once), `steps` AdamW steps on batches of `batch_size` clips with distinct captions,
    CLIP's symmetric contrastive loss (open_clip's ClipLoss) at a learned temperature.
    `image_tower`: the key of the toy CLIP recipe whose image tower it is trained on, so a new
    toy CLIP makes a new tower recipe (the tower's blocks are trained on that CLIP's tokens)."""
    from .runtime import fast_mode
    from .zoo import clip_recipe, recipe_key

    if kind not in VIDEO_TOWERS:
        raise ValueError(f"unknown video tower {kind!r}; use one of {VIDEO_TOWERS}")
    if full is None:
        full = not fast_mode()
    return {"kind": kind, "layers": 1, "heads": 4, "frames": 8, "clips": 2000 if full else 48,
            "steps": 800 if full else 4, "batch_size": 64 if full else 16, "lr": 1e-3 if kind == "aligned" else 2e-3,
            "weight_decay": 0.01, "seed": 0, "text_seed": 1, "image_tower": recipe_key(clip_recipe(full))}


def caption_clips(split: str, n: int, frames: int, start: int = 0) -> tuple[np.ndarray, list[str], list]:
    """n clips of `split` (scenes start, start+1, …): frames (n, frames, 64, 64, 3) uint8 at uniform
    times, their captions (`data.caption`: each object and how it moves) and scenes."""
    from .data import caption, render, sample_scene, uniform_times

    scenes = [sample_scene(split, start + k) for k in range(n)]
    clips = np.stack([render(s, uniform_times(s, frames)) for s in scenes])
    return clips, [caption(s) for s in scenes], scenes


@torch.no_grad()
def clip_frame_tokens(tower: VideoTower, clips: np.ndarray, batch_size: int = 64) -> torch.Tensor:
    """uint8 clips (N, T, H, W, 3) → the image tower's frame tokens (N, T, 1 + P, D), in batches."""
    return torch.cat([tower.frame_tokens(tower.preprocess(clips[i:i + batch_size]))
                      for i in range(0, len(clips), batch_size)])


def new_tower(kind: str, recipe: dict, clip_model: nn.Module | None = None) -> VideoTower:
    """An untrained video tower of the recipe on the toy CLIP's image tower (`clip_model`, default
    the zoo's), with its text tower: the toy CLIP's own, frozen (aligned), or a fresh one (separate)."""
    import copy

    from . import zoo

    clip_model = zoo.toy_clip() if clip_model is None else clip_model
    if kind == "aligned":
        text = TextTower(copy.deepcopy(clip_model)).requires_grad_(False)
    else:
        text = TextTower(create_clip(TOY_CLIP, seed=recipe["text_seed"]))
    return VideoTower(copy.deepcopy(clip_model), aligned=kind == "aligned", layers=recipe["layers"],
                      heads=recipe["heads"], text=text, seed=recipe["seed"])


def alignment_loss_fn(max_scale: float = 100.0):
    """A loss_fn for `train.train` on (frame tokens (B, T, 1+P, D), captions) batches with distinct
    captions: CLIP's symmetric contrastive loss (open_clip) between the tower's clip embeddings
    and its text tower's caption embeddings, at the text tower's temperature (learned with a
    separate tower's text tower; the toy CLIP's own, frozen, for the aligned one)."""
    loss = open_clip.loss.ClipLoss()

    def fn(tower: VideoTower, batch):
        tokens, texts = batch
        tokens = tokens.float()  # kept in half precision between steps
        scale = tower.text.clip.logit_scale.exp().clamp(max=max_scale)
        return loss(tower.embed(tokens), tower.text(texts), scale), {"logit_scale": scale.item()}

    return fn


def train_tower(recipe: dict, progress: bool = False, clip_model: nn.Module | None = None) -> VideoTower:
    """Train a video base from its recipe (`tower_recipe`) with the shared loop; returns it frozen,
    in eval mode, with its text tower."""
    from .train import TrainConfig, train
    from .vision import unique_caption_batches

    kind = recipe["kind"]
    tower = new_tower(kind, recipe, clip_model)
    clips, texts, _ = caption_clips("train", recipe["clips"], recipe["frames"])
    tokens = clip_frame_tokens(tower, clips).half()  # (N, T, 1 + P, D): half the memory
    batches = unique_caption_batches(tokens, texts, recipe["batch_size"], seed=recipe["seed"])
    train(tower, batches, TrainConfig(steps=recipe["steps"], lr=recipe["lr"], weight_decay=recipe["weight_decay"],
                                      seed=recipe["seed"], desc=f"video tower: {kind}", progress=progress),
          loss_fn=alignment_loss_fn())
    return tower.requires_grad_(False).eval()


@torch.no_grad()
def retrieval(tower: VideoTower, tokens: torch.Tensor, texts: Sequence[str]) -> float:
    """Video → text top-1 accuracy: each clip's best caption among the distinct `texts`, correct
    when it is the clip's own (clips with the same caption share it). tokens (N, T, 1+P, D)."""
    distinct = sorted(set(texts))
    video = torch.cat([tower.embed(tokens[i:i + 128]) for i in range(0, len(tokens), 128)])
    best = (video @ tower.text(distinct).T).argmax(1)
    return float(np.mean([distinct[int(b)] == t for b, t in zip(best, texts)]))


@torch.no_grad()
def direction_zero_shot(tower: VideoTower, n: int = 300, frames: int = 8, split: str = "test") -> dict[str, float]:
    """Zero-shot motion: one-object clips of `split`, each matched against the five captions its
    object could have ('a red circle moves left / right / up / down', '… stays still'); the share
    matched to its own. What no single frame shows."""
    from .data import DIRECTIONS, WorldConfig, render, sample_scene, uniform_times
    from .data.text import indefinite_article

    scenes = [sample_scene(split, 500_000 + k, WorldConfig(max_objects=1, p_appear=0, p_disappear=0,
                                                           p_stop=0, p_change=0)) for k in range(n)]
    clips = np.stack([render(s, uniform_times(s, frames)) for s in scenes])
    video = tower.embed(clip_frame_tokens(tower, clips))
    options, truths = [], []
    for s in scenes:
        o = s.objects[0]
        name = f"{indefinite_article(o.colour)} {o.name()}"
        options.append([f"{name} moves {d} ." for d in DIRECTIONS] + [f"{name} stays still ."])
        truths.append(f"{name} moves {o.direction} ." if o.direction else f"{name} stays still .")
    distinct = sorted({t for row in options for t in row})
    text = tower.text(distinct)  # (U, E)
    right = [row[int(torch.stack([text[distinct.index(t)] for t in row]).matmul(v).argmax())] == truth
             for v, row, truth in zip(video, options, truths)]
    return {"direction_zero_shot": float(np.mean(right)), "direction_clips": n}


def build_video_encoder(config, clip_model: nn.Module, pretrained: bool = True) -> VideoTower:
    """The video tower a VLMConfig names (config.video_tower: 'aligned' or 'separate'), on
    `clip_model`'s image tower, without its text tower (pretrained: the zoo's trained weights;
    else as built — `from_pretrained` loads saved weights over them)."""
    kind = config.video_tower
    if kind not in VIDEO_TOWERS:
        raise ValueError(f"unknown video tower {kind!r}; use one of {VIDEO_TOWERS} (or None: frames through "
                         "the image tower)")
    if config.feature_layer != -2 or config.keep_cls:
        raise ValueError("the zoo's video towers give the image tower's layer -2 patch tokens; build the model "
                         f"with feature_layer=-2 and keep_cls=False (got {config.feature_layer}, {config.keep_cls})")
    if pretrained:
        from . import zoo

        if config.vision_weights != "zoo":
            raise ValueError(f"the zoo's video towers were trained on the toy CLIP; with vision_weights="
                             f"{config.vision_weights!r} set video_tower=None (frames through the image tower)")
        return zoo.toy_video(kind, progress=False, clip_model=clip_model).without_text()
    recipe = tower_recipe(kind)
    return VideoTower(clip_model, aligned=kind == "aligned", layers=recipe["layers"], heads=recipe["heads"],
                      seed=recipe["seed"])
