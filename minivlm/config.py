"""One serialisable config describes a model: its bases, its parts, its fusion and its adapters.

`VLMConfig` is what `minivlm.build` reads and what `VLM.save_pretrained` writes (config.json),
so a saved model is rebuilt from it alone. Every milestone of the course is one `VLMConfig`
(a preset, `minivlm.presets.PRESETS`); an ablation is one changed field:

    build("llava-1.5")                                    # MLP projector
    build(replace(PRESETS["llava-1.5"], connector="linear"))   # LLaVA's linear one
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .video_tower import VIDEO_TOWERS
from .vision import TOY_CLIP

FUSIONS = ("language_stream", "cross_attention")
ZOO = "zoo"  # the course's own bases (minivlm.zoo), in place of a hub name


@dataclass(frozen=True)
class LoraSpec:
    """LoRA adapters on the LM (through peft): rank, alpha (scale = alpha / rank), dropout and the
    names of the LM's linear layers that get an adapter."""

    rank: int = 8
    alpha: float = 16.0
    dropout: float = 0.0
    targets: tuple[str, ...] = ("q_proj", "v_proj")

    def __post_init__(self) -> None:
        if self.rank < 1 or not self.targets:
            raise ValueError(f"LoRA needs rank ≥ 1 and at least one target module, got {self}")


@dataclass(frozen=True)
class VLMConfig:
    """A vision-language model in open_flamingo's four parts.

    vision / vision_weights: an open_clip model name and its weights ('zoo': the course's toy
    CLIP; an open_clip tag such as 'openai'; a checkpoint file; None: random);
    feature_layer / keep_cls: which encoder layer's tokens the model reads, with the CLS token or not;
    reducer / reducer_args: how frame tokens (T, P, D) become fewer tokens (`minivlm.reducers.REDUCERS`);
    connector: 'linear' or 'mlp', to the LM's width; reduce_after_connector: reduce the connector's
    output instead of its input (PLLaVA pools after its projector); standardize: per-channel feature statistics;
    lm: 'zoo' (the toy LM) or a transformers model id / folder;
    fusion: 'language_stream' (tokens spliced into the LM's input) or 'cross_attention' (gated
    cross-attention layers read them); cross_attn_every, xattn_heads, xattn_ff_mult, gated: the
    cross-attention family's layout; max_frames: the most frames one item may have;
    lora: LoRA adapters on the LM, or None; seed: initialisation of every new part.
    audio: the audio bases the model hears with ('sound', 'speech'; () for none), side by side;
    audio_weights: 'zoo' (the course's audio bases) or None (random); audio_segments /
    audio_segment_seconds: the track is cut into that many windows of that length, centred where
    uniform sampling takes its frames; audio_pool: one embedding per window (else its 50 Hz
    frames); audio_reducer / audio_reducer_args / audio_connector: the audio tokenizer, as for vision.
    video_tower: None (a video's frames go one by one through the image tower) or a zoo video tower
    that reads whole clips ('aligned': trained into the image tower's space; 'separate': trained
    apart; `minivlm.video_tower`); images still go through the image tower, both through the
    one vision tokenizer (notebook 06, Video-LLaVA).
    audio_sync: fuse a clip's soundtrack with its frames before the tokenizer, window by window of
    sync_seconds (video-SALMONN; the vision reducer then reads both, no separate audio tokenizer).
    """

    name: str = "custom"
    vision: str = TOY_CLIP
    vision_weights: str | None = ZOO
    feature_layer: int = -2
    keep_cls: bool = False
    reducer: str = "concat"
    reducer_args: dict[str, Any] = field(default_factory=dict)
    connector: str = "mlp"
    reduce_after_connector: bool = False
    standardize: bool = True
    lm: str = ZOO
    fusion: str = "language_stream"
    cross_attn_every: int = 1
    xattn_heads: int = 4
    xattn_ff_mult: int = 4
    gated: bool = True
    max_frames: int = 16
    lora: LoraSpec | None = None
    seed: int = 0
    # The audio side (notebook 05, `minivlm.audio`); a model without audio bases takes no <audio>.
    audio: tuple[str, ...] = ()
    audio_weights: str | None = ZOO
    audio_segments: int = 8
    audio_segment_seconds: float = 1.0
    audio_pool: bool = True
    audio_reducer: str = "qformer"
    audio_reducer_args: dict[str, Any] = field(default_factory=dict)
    audio_connector: str = "linear"
    # The video side (notebook 06): a video tower of its own beside the image tower.
    video_tower: str | None = None
    # video-SALMONN (notebook 09): each frame's tokens beside the audio frames of its sync_seconds
    # window, along the feature dimension, read by one tokenizer (`minivlm.video_salmonn`).
    audio_sync: bool = False
    sync_seconds: float = 0.5
    # LLaVA-OneVision (notebook 10, `minivlm.onevision`): an image is cut into crops on the best of
    # these (rows, columns) grids, after a base view of the whole (() : the base view alone); each
    # video frame's tokens are pooled to video_pool × video_pool after the connector (None: kept).
    anyres_grids: tuple[tuple[int, int], ...] = ()
    video_pool: int | None = None

    def __post_init__(self) -> None:
        if self.fusion not in FUSIONS:
            raise ValueError(f"unknown fusion {self.fusion!r}; use one of {FUSIONS}")
        if self.cross_attn_every < 1:
            raise ValueError(f"cross_attn_every must be ≥ 1, got {self.cross_attn_every}")
        if self.max_frames < 1:
            raise ValueError(f"max_frames must be ≥ 1, got {self.max_frames}")
        object.__setattr__(self, "audio", tuple(self.audio))  # a list from JSON
        object.__setattr__(self, "anyres_grids", tuple(tuple(int(v) for v in g) for g in self.anyres_grids))
        if any(len(g) != 2 or min(g) < 1 for g in self.anyres_grids):
            raise ValueError(f"anyres_grids must be (rows, columns) pairs ≥ 1, got {self.anyres_grids}")
        if self.video_pool is not None and self.video_pool < 1:
            raise ValueError(f"video_pool must be None or ≥ 1, got {self.video_pool}")
        if self.video_tower not in (None, *VIDEO_TOWERS):
            raise ValueError(f"unknown video_tower {self.video_tower!r}; use None or one of {VIDEO_TOWERS}")
        if self.audio and self.audio_segments < 1:
            raise ValueError(f"audio_segments must be ≥ 1, got {self.audio_segments}")
        if self.audio_sync and (not self.audio or self.sync_seconds <= 0):
            raise ValueError("audio_sync needs audio bases (config.audio) and sync_seconds > 0, got "
                             f"audio={self.audio}, sync_seconds={self.sync_seconds}")
        if isinstance(self.lora, dict):  # from JSON
            object.__setattr__(self, "lora", LoraSpec(**{**self.lora, "targets": tuple(self.lora["targets"])}))

    def replace(self, **changes) -> VLMConfig:
        """A copy with some fields changed (unknown names are an error)."""
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            raise TypeError(f"VLMConfig has no field(s) {sorted(unknown)}; fields: {[f.name for f in fields(self)]}")
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> VLMConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown config field(s) {sorted(unknown)}: saved by another version of minivlm?")
        return cls(**d)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2))

    @classmethod
    def load(cls, path: str | Path) -> VLMConfig:
        return cls.from_dict(json.loads(Path(path).read_text()))
