"""The vision-language model family, in open_flamingo's four parts:

    media ─► encoder ─► tokenizer ──────────────► fusion ─► language model ─► text
             (CLIP ViT) (standardise, reduce,      (language stream: spliced into the input;
                         connect)                   cross-attention: read by gated layers)

`VLM` owns the model's life — media → tokens, forward, generate (through the LM's own
transformers `generate`, with its KV cache), chat, batched answers, which parts train, LoRA,
save/load. A fusion family says only how the tokens reach the LM:

- `LanguageStreamVLM` (LLaVA and the video chat models): each placeholder in the prompt is
  expanded to its item's tokens, which are written into the LM's input embeddings;
- `CrossAttentionVLM` (Flamingo): each placeholder stays one token; gated cross-attention
  layers, wrapped around the frozen LM's decoder layers, let the text after it read its tokens.

Models are built from one `VLMConfig` (`minivlm.build("llava-1.5")`), media come as `Media`
records (one per placeholder, in order) and batches from `minivlm.samples.collate`:
input_ids, attention_mask, labels (B, L) and media — one list of records per row.
"""

from __future__ import annotations

import contextlib
import copy
from pathlib import Path
from typing import Callable, Iterator, Sequence

import torch
from safetensors.torch import load_model, save_model
from torch import nn
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, GenerationConfig
from transformers.generation.streamers import BaseStreamer

from .audio import AudioEncoder, build_audio_encoder
from .chat import Message
from .config import VLMConfig
from .connectors import build_connector
from .cross_attention import (CrossAttentionLayer, GatedCrossAttentionBlock, MediaContext, decoder_layers,
                              media_attention_mask, media_index)
from .lm import EOS, MEDIA_TOKENS, position_ids
from .lora import add_lora, lora_parameters, merge_lora, set_lora_scale
from .media import Media, MediaMismatchError, as_media, placeholders
from .reducers import build_reducer
from .runtime import default_device, seeded
from .samples import Sample, collate
from .video_tower import VideoTower, build_video_encoder
from .vision import VisionEncoder, create_clip


class ModalityError(ValueError):
    """A media item of a kind the model has no encoder for."""


class FeatureStandardizer(nn.Module):
    """Per-channel standardisation of vision features with fixed statistics.

    Features of a small encoder are dominated by a component every image shares (background,
    position embeddings); subtracting the per-channel mean makes what differs visible to the LM.
    Identity until `fit` is called (`VLM.fit_standardizer`); the statistics are saved with the model.
    """

    def __init__(self, dim: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    @torch.no_grad()
    def fit(self, features: torch.Tensor) -> None:
        """features (…, D): set the mean and std of each channel."""
        flat = features.reshape(-1, features.shape[-1]).float()
        self.mean.copy_(flat.mean(0))
        self.std.copy_(flat.std(0).clamp_min(1e-5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class VisionTokenizer(nn.Module):
    """Vision features → tokens for the LM: standardise, reduce, connect.

    forward: features (B, T, P, D_vision) → tokens (B, N, D_lm), N = num_tokens(T, P).
    reduce_after: connect every frame token first, then reduce (PLLaVA pools after its projector).
    """

    def __init__(self, vision_dim: int, connector: nn.Module, reducer: nn.Module, standardize: bool = True,
                 reduce_after: bool = False):
        super().__init__()
        self.standardizer = FeatureStandardizer(vision_dim) if standardize else nn.Identity()
        self.reducer = reducer
        self.connector = connector
        self.reduce_after = reduce_after

    def num_tokens(self, num_frames: int, num_patches: int) -> int:
        return self.reducer.num_tokens(num_frames, num_patches)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = self.standardizer(features)
        if self.reduce_after:
            return self.reducer(self.connector(x))
        return self.connector(self.reducer(x))


class _CallbackStreamer(BaseStreamer):
    """Hands each new token's text to `on_token` as transformers' generate produces it."""

    def __init__(self, model: VLM, on_token: Callable[[str], None]):
        self.model, self.on_token, self.first = model, on_token, True

    def put(self, value):
        if self.first:  # generate() first hands over the prompt (empty with inputs_embeds)
            self.first = False
            return
        for i in value.reshape(-1).tolist():
            if i != self.model.eos_token_id:
                self.on_token(self.model.tokenizer.decode([i], skip_special_tokens=False))

    def end(self):
        pass


MediaBatch = Sequence[Sequence[Media]]


class VLM(nn.Module):
    """What every fusion shares: media → tokens, forward, generate, chat, answer, training
    parts, LoRA, save/load. Subclasses implement `_fused` (how tokens reach the LM) and
    `placeholder_length` (how many prompt slots one item takes)."""

    fusion = ""

    def __init__(self, config: VLMConfig, vision_encoder: VisionEncoder, lm: nn.Module, tokenizer,
                 audio_encoder: AudioEncoder | None = None, video_encoder: VideoTower | None = None):
        super().__init__()
        if config.fusion != self.fusion:
            raise ValueError(f"a {config.fusion} config builds a {FAMILIES[config.fusion].__name__}, "
                             f"not a {type(self).__name__}; use minivlm.build(config)")
        self.config = config
        # The model owns copies: building or training it never changes the modules handed in.
        self.vision_encoder = copy.deepcopy(vision_encoder)
        self.lm = copy.deepcopy(lm)
        self.tokenizer = tokenizer
        dim = vision_encoder.width
        if config.audio_sync and audio_encoder is not None:  # video-SALMONN: frames and audio side by side
            dim += audio_encoder.width
        with seeded(config.seed):
            reducer_dim = self.lm.config.hidden_size if config.reduce_after_connector else dim
            reducer = build_reducer(config.reducer, reducer_dim, config.max_frames, **config.reducer_args)
            connector = build_connector(config.connector, dim, self.lm.config.hidden_size)
            self.vision_tokenizer = VisionTokenizer(dim, connector, reducer, config.standardize,
                                                    config.reduce_after_connector)
        if config.lora is not None:
            with seeded(config.seed + 1):
                add_lora(self.lm, config.lora)
        if bool(config.audio) != (audio_encoder is not None):
            raise ValueError(f"config.audio is {config.audio} but an audio encoder was {'not ' * bool(config.audio)}"
                             "given; build the model with minivlm.build(config)")
        self.audio_encoder = copy.deepcopy(audio_encoder)
        if audio_encoder is not None and not config.audio_sync:  # the audio side (notebook 05): its own tokenizer
            adim = audio_encoder.width
            with seeded(config.seed + 3):
                reducer = build_reducer(config.audio_reducer, adim, config.audio_segments, **config.audio_reducer_args)
                connector = build_connector(config.audio_connector, adim, self.lm.config.hidden_size)
                self.audio_tokenizer = VisionTokenizer(adim, connector, reducer, config.standardize)
        if bool(config.video_tower) != (video_encoder is not None):
            raise ValueError(f"config.video_tower is {config.video_tower!r} but a video tower was "
                             f"{'not ' * bool(config.video_tower)}given; build the model with minivlm.build(config)")
        # Notebook 06: videos through a video tower of their own, into the same vision tokenizer.
        self.video_encoder = copy.deepcopy(video_encoder)
        self.media_token_ids = tokenizer.convert_tokens_to_ids(list(MEDIA_TOKENS))
        self.eos_token_id = tokenizer.convert_tokens_to_ids(EOS)
        self.requires_grad_(False)  # nothing trains until a stage names it (minivlm.stages)
        self.eval()  # `minivlm.train.train` switches to training mode and back

    @property
    def device(self) -> torch.device:
        return next(self.lm.parameters()).device

    # ---- media ---------------------------------------------------------------------------
    def _vision_parts(self, item: Media) -> tuple[VisionEncoder, VisionTokenizer]:
        if item.modality not in ("image", "video"):
            raise ModalityError(
                f"the model {self.config.name!r} has no {item.modality} encoder; give it images or videos, "
                "or build a preset that takes audio"
            )
        # (an image's AnyRes views, notebook 10, are not frames)
        if item.modality == "video" and item.num_frames > self.config.max_frames:
            raise ValueError(f"a {item.modality} of {item.num_frames} frames is more than this model's maximum "
                             f"of {self.config.max_frames}; sample fewer frames (minivlm.data.uniform_indices) "
                             "or build the model with a larger max_frames")
        if item.modality == "video" and self.video_encoder is not None:
            return self.video_encoder, self.vision_tokenizer  # one tokenizer (projector) for both
        return self.vision_encoder, self.vision_tokenizer

    def _media_parts(self, item: Media) -> tuple[nn.Module, VisionTokenizer]:
        """The encoder and tokenizer of the item's modality (ModalityError if the model has none)."""
        if item.modality == "audio" and self.audio_encoder is not None:
            return self.audio_encoder, self.audio_tokenizer
        return self._vision_parts(item)

    def num_tokens(self, item: Media) -> int:
        """How many tokens one media item becomes (its frame count decides, per item)."""
        encoder, tokenizer = self._media_parts(item)
        return tokenizer.num_tokens(item.num_frames, encoder.num_patches)

    def placeholder_length(self, item: Media) -> int:
        """How many prompt slots the item's placeholder is expanded to."""
        raise NotImplementedError

    def prompt_media(self, items: Sequence[Media]) -> list[Media]:
        """The media of one prompt as this model reads them: unchanged, unless a family reads an
        item by what else the prompt holds (LLaVA-OneVision: each image of a set at its base view).
        Collating, precomputing and the forward pass all go through it."""
        return list(items)

    def frames_to_encode(self, item: Media) -> torch.Tensor:
        """The uint8 frames (T, H, W, 3) the vision encoder reads for a raw image or video: its
        pixels (LLaVA-OneVision's family reads an image's AnyRes views instead)."""
        return item.pixels

    def encode_features(self, items: Sequence[Media]) -> list[torch.Tensor]:
        """Encoder features of each item, (T, P, D) (cached features are passed through).
        Runs without gradients when the encoder is frozen; items of one shape share a batch."""
        out: list[torch.Tensor | None] = [item.features for item in items]
        raw = [i for i, item in enumerate(items) if item.features is None]
        frames = {i: self.frames_to_encode(items[i]) for i in raw if items[i].modality != "audio"}
        key = {i: (items[i].modality, tuple(frames[i].shape)) if i in frames else _raw_shape(items[i]) for i in raw}
        for group in _groups(raw, key.get):
            encoder, _ = self._media_parts(items[group[0]])
            if items[group[0]].modality == "audio":
                pixels = encoder.preprocess([items[i] for i in group])  # (G, segments, n_mels, frames)
            else:
                pixels = encoder.preprocess(torch.stack([frames[i] for i in group]))  # (G, T, 3, S, S)
            needs_grad = torch.is_grad_enabled() and any(p.requires_grad for p in encoder.parameters())
            with torch.set_grad_enabled(needs_grad):
                if getattr(encoder, "reads_clips", False):  # a video tower reads the whole clip at once
                    tokens = encoder(pixels.to(self.device)).flatten(0, 1)  # (G·T, P, D)
                else:
                    tokens = encoder(pixels.flatten(0, 1).to(self.device))  # (G·T, P, D)
            for k, i in enumerate(tokens.view(len(group), -1, *tokens.shape[1:])):
                out[group[k]] = i
        return out  # type: ignore[return-value]

    @torch.no_grad()
    def precompute(self, items: Sequence[Media], batch_size: int = 64) -> list[Media]:
        """The items carried by their encoder features (on the CPU): with a frozen encoder,
        encode once and train on the features (≈ 5× faster steps)."""
        out = []
        for start in range(0, len(items), batch_size):
            part = items[start:start + batch_size]
            out += [item.encoded(f.cpu()) for item, f in zip(part, self.encode_features(part))]
        return out

    def encode_media(self, items: Sequence[Media]) -> list[torch.Tensor]:
        """Each item's tokens for the LM, (N_i, D_lm) — N_i = num_tokens(item)."""
        feats = self.encode_features(items)
        out: list[torch.Tensor | None] = [None] * len(items)
        for group in _groups(range(len(items)), lambda i: (items[i].modality, tuple(feats[i].shape))):
            _, tokenizer = self._media_parts(items[group[0]])
            tokens = tokenizer(torch.stack([feats[i] for i in group]).to(self.device))  # (G, N, D)
            for k, i in enumerate(group):
                out[i] = tokens[k]
        return out  # type: ignore[return-value]

    @torch.no_grad()
    def fit_standardizer(self, items: Sequence[Media]) -> None:
        """Set the vision tokenizer's per-channel statistics from these items' features — an
        explicit step before training (nothing fits it as a side effect)."""
        standardizer = self.vision_tokenizer.standardizer
        if not isinstance(standardizer, FeatureStandardizer):
            raise ValueError("this model was built with standardize=False")
        visual = [item for item in items if item.modality in ("image", "video")]
        if not visual:
            raise ValueError("no image or video items to fit the standardizer on")
        feats = self.encode_features(visual)
        standardizer.fit(torch.cat([f.reshape(-1, f.shape[-1]) for f in feats]).to(self.device))
        heard = [item for item in items if item.modality == "audio"]
        if heard and self.audio_encoder is not None:  # the audio tokenizer's statistics, from its own items
            feats = self.encode_features(heard)
            self.audio_tokenizer.standardizer.fit(torch.cat([f.reshape(-1, f.shape[-1]) for f in feats]).to(self.device))

    # ---- the LM's life ---------------------------------------------------------------------
    @contextlib.contextmanager
    def _fused(self, input_ids: torch.Tensor, media: MediaBatch | None) -> Iterator[dict]:
        """Within the block, the keyword arguments that give the LM this prompt with its media."""
        raise NotImplementedError
        yield {}

    def _check_length(self, length: int) -> None:
        limit = getattr(self.lm.config, "max_position_embeddings", None)
        if limit is not None and length > limit:
            raise ValueError(f"the prompt (with the tokens to generate) is {length} tokens long, more than the LM's "
                             f"context of {limit} (max_position_embeddings); use fewer frames or media, a "
                             "reducer that gives fewer tokens, or shorter text")

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                labels: torch.Tensor | None = None, media: MediaBatch | None = None, **lm_kwargs):
        """Causal-LM output: loss on the labels that are not -100, logits (B, L, V).
        input_ids (B, L); media: one list of Media per row, one per placeholder, in order."""
        input_ids = input_ids.to(self.device)
        self._check_length(input_ids.shape[1])
        if attention_mask is not None:
            attention_mask = attention_mask.to(self.device)
            if "position_ids" not in lm_kwargs and not attention_mask[:, 0].all():  # left padding
                lm_kwargs["position_ids"] = position_ids(attention_mask)
        if labels is not None:
            labels = labels.to(self.device)
        with self._fused(input_ids, media) as inputs:
            return self.lm(**inputs, attention_mask=attention_mask, labels=labels, **lm_kwargs)

    @torch.no_grad()
    def generate(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                 media: MediaBatch | None = None, max_new_tokens: int = 32, do_sample: bool = False,
                 temperature: float = 1.0, top_k: int | None = None,
                 on_token: Callable[[str], None] | None = None) -> torch.Tensor:
        """New token ids (B, ≤ max_new_tokens), greedy or sampled, through the LM's own
        `generate` with its KV cache. Batched prompts must be left-padded."""
        input_ids = input_ids.to(self.device)
        self._check_length(input_ids.shape[1] + max_new_tokens)
        options = {"do_sample": True, "temperature": temperature, "top_k": top_k} if do_sample else {"do_sample": False}
        config = GenerationConfig(max_new_tokens=max_new_tokens, eos_token_id=self.eos_token_id,
                                  pad_token_id=self.tokenizer.pad_token_id, use_cache=True, **options)
        mask = attention_mask.to(self.device) if attention_mask is not None else torch.ones_like(input_ids)
        streamer = _CallbackStreamer(self, on_token) if on_token else None
        self.eval()
        with self._fused(input_ids, media) as inputs:
            out = self.lm.generate(**inputs, attention_mask=mask, generation_config=config, streamer=streamer)
        return out[:, input_ids.shape[1]:] if "input_ids" in inputs else out

    def decode(self, ids: torch.Tensor | Sequence[int]) -> str:
        """Generated ids → text, cut at the first <eos> (time tokens are kept)."""
        ids = [int(i) for i in ids]
        if self.eos_token_id in ids:
            ids = ids[: ids.index(self.eos_token_id)]
        ids = [i for i in ids if i != self.tokenizer.pad_token_id]
        return self.tokenizer.decode(ids, skip_special_tokens=False).strip()

    @torch.no_grad()
    def chat(self, media, question: str, history: Sequence[Message] = (), max_new_tokens: int = 48,
             do_sample: bool = False, temperature: float = 1.0,
             on_token: Callable[[str], None] | None = None) -> str:
        """Ask about media: an image (H, W, 3) or clip (T, H, W, 3) uint8, a Media record, or a list
        of them. `history`: the earlier turns (its first user turn holds the placeholders; without
        history they are put before the question). `on_token` streams the answer's pieces."""
        items = [as_media(m) for m in (media if isinstance(media, (list, tuple)) else [media])]
        turns = list(history)
        if not turns and not placeholders(question):
            question = " ".join(item.placeholder for item in items) + " " + question
        turns.append({"role": "user", "content": question})
        batch = collate(self, [Sample(items, turns)], side="left", add_generation_prompt=True)
        out = self.generate(batch["input_ids"], batch["attention_mask"], batch["media"],
                            max_new_tokens=max_new_tokens, do_sample=do_sample, temperature=temperature,
                            on_token=on_token)
        return self.decode(out[0])

    @torch.no_grad()
    def answer(self, media: Sequence, questions: Sequence[str], batch_size: int = 64,
               max_new_tokens: int = 12) -> list[str]:
        """Greedy answers, one per question; media[k] is question k's item (array or Media) or
        list of items. Placeholders are put before a question that has none."""
        if len(media) != len(questions):
            raise ValueError(f"need one media entry per question: {len(questions)} questions, {len(media)} media")
        samples = []
        for item, question in zip(media, questions):
            items = [as_media(m) for m in (item if isinstance(item, (list, tuple)) else [item])]
            if not placeholders(question):
                question = " ".join(i.placeholder for i in items) + " " + question
            samples.append(Sample(items, [{"role": "user", "content": question}]))
        answers = []
        for start in range(0, len(samples), batch_size):
            batch = collate(self, samples[start:start + batch_size], side="left", add_generation_prompt=True)
            out = self.generate(batch["input_ids"], batch["attention_mask"], batch["media"],
                                max_new_tokens=max_new_tokens)
            answers += [self.decode(row) for row in out]
        return answers

    # ---- what trains -----------------------------------------------------------------------
    def parts(self) -> dict[str, list[nn.Parameter]]:
        """The model's parts by name, as lists of parameters: 'vision_encoder',
        'vision_tokenizer', 'lm' (the LM's own weights), 'lora' (its adapters, when configured),
        plus what a fusion adds."""
        lora = lora_parameters(self.lm)
        lora_ids = {id(p) for p in lora}
        out = {"vision_encoder": list(self.vision_encoder.parameters()),
               "vision_tokenizer": list(self.vision_tokenizer.parameters()),
               "lm": [p for p in self.lm.parameters() if id(p) not in lora_ids]}
        if self.config.lora is not None:
            out["lora"] = lora
        if self.video_encoder is not None:
            out["video_encoder"] = list(self.video_encoder.parameters())
        if self.audio_encoder is not None:
            out["audio_encoder"] = list(self.audio_encoder.parameters())
        if hasattr(self, "audio_tokenizer"):
            out["audio_tokenizer"] = list(self.audio_tokenizer.parameters())
        return out

    def part_parameters(self, name: str) -> list[nn.Parameter]:
        parts = self.parts()
        if name not in parts:
            raise ValueError(f"unknown part {name!r}; this model's parts are {sorted(parts)}")
        return parts[name]

    def set_trainable(self, *names: str) -> None:
        """Freeze every part except those named (see `parts()`)."""
        chosen = [self.part_parameters(name) for name in names]
        self.requires_grad_(False)
        for params in chosen:
            for p in params:
                p.requires_grad_(True)

    # ---- LoRA ------------------------------------------------------------------------------
    def set_lora_scale(self, alpha: float) -> None:
        """Scale the adapters by alpha / rank from now on (PLLaVA's post-optimisation)."""
        self._need_lora()
        set_lora_scale(self.lm, alpha)

    def merge_lora(self) -> None:
        """Fold the adapters into the LM's weights; the model is then a plain one (config.lora=None)."""
        self._need_lora()
        merge_lora(self.lm)
        self.config = self.config.replace(lora=None)

    def _need_lora(self) -> None:
        if self.config.lora is None:
            raise ValueError("this model has no LoRA adapters; build it with a config whose lora is set")

    # ---- save / load -----------------------------------------------------------------------
    def save_pretrained(self, path: str | Path) -> Path:
        """config.json (the VLMConfig) + model.safetensors (every weight) + lm/ (the LM's config
        and tokenizer)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.config.save(path / "config.json")
        self.lm.config.save_pretrained(path / "lm")
        self.tokenizer.save_pretrained(path / "lm")
        save_model(self, str(path / "model.safetensors"))
        return path

    @classmethod
    def from_pretrained(cls, path: str | Path, device: str | torch.device | None = None) -> VLM:
        """Rebuild a saved model from its config alone and load its weights (no zoo, no hub), on
        `device` (by default `default_device()`, as `build` does)."""
        path = Path(path)
        if not (path / "config.json").exists():
            raise FileNotFoundError(f"{path} holds no saved model (config.json missing); save one with "
                                    "model.save_pretrained(path)")
        config = VLMConfig.load(path / "config.json")
        family = family_of(config)
        if not issubclass(family, cls):
            raise TypeError(f"{path} holds a {family.__name__}, not a {cls.__name__}; load it with "
                            f"{family.__name__}.from_pretrained or VLM.from_pretrained")
        clip = create_clip(config.vision)
        encoder = VisionEncoder(clip, config.feature_layer, config.keep_cls, model_name=config.vision)
        tokenizer = AutoTokenizer.from_pretrained(path / "lm")
        lm = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(path / "lm"))  # weights come below
        audio = build_audio_encoder(config, pretrained=False) if config.audio else None
        video = build_video_encoder(config, clip, pretrained=False) if config.video_tower else None
        model = family(config, encoder, lm, tokenizer, audio_encoder=audio, video_encoder=video)
        load_model(model, str(path / "model.safetensors"))
        model.eval()
        return model.to(device if device is not None else default_device())


def _raw_shape(item: Media) -> tuple:
    """What items must share to be encoded in one batch: modality and raw shape (and audio rate)."""
    if item.modality == "audio":
        return ("audio", len(item.waveform), item.sample_rate)
    return (item.modality, tuple(item.pixels.shape))


def _groups(indices, key) -> list[list[int]]:
    """Indices grouped by key, in order of first appearance."""
    groups: dict = {}
    for i in indices:
        groups.setdefault(key(i), []).append(i)
    return list(groups.values())


def _check_rows(model: VLM, input_ids: torch.Tensor, media: MediaBatch | None, expected) -> list[Media]:
    """The batch's media flattened in order, after checking each row's placeholder tokens against
    its items; expected(item) → the placeholder ids that item's slots should hold."""
    if media is not None and len(media) != input_ids.shape[0]:
        raise MediaMismatchError(f"{input_ids.shape[0]} prompts but media for {len(media)}; give one list of "
                                 "media per prompt (empty for a prompt without media)")
    is_slot = torch.isin(input_ids, torch.tensor(model.media_token_ids, device=input_ids.device))
    for row in range(input_ids.shape[0]):
        items = media[row] if media is not None else []
        found = input_ids[row][is_slot[row]].tolist()
        want = [i for item in items for i in expected(item)]
        if found != want:
            names = [m.placeholder for m in items]
            raise MediaMismatchError(
                f"prompt {row} has {len(found)} placeholder slot(s) but its media {names or '(none)'} need "
                f"{len(want)}, in that order; build batches with minivlm.samples.collate(model, samples) (it "
                "expands each placeholder to its item's token count) and give one item per placeholder"
            )
    return [item for items in (media or []) for item in items]


class LanguageStreamVLM(VLM):
    """LLaVA-style fusion: each item's tokens take the places of its placeholder's copies in the
    prompt (`placeholder_length` = the item's token count)."""

    fusion = "language_stream"

    def placeholder_length(self, item: Media) -> int:
        return self.num_tokens(item)

    def embed(self, input_ids: torch.Tensor, media: MediaBatch | None = None) -> torch.Tensor:
        """input_ids (B, L) → inputs_embeds (B, L, D_lm) with each item's tokens in its slots."""
        input_ids = input_ids.to(self.device)
        embeds = self.lm.get_input_embeddings()(input_ids)
        media = None if media is None else [self.prompt_media(row) for row in media]
        items = _check_rows(self, input_ids, media,
                            lambda item: [self.tokenizer.convert_tokens_to_ids(item.placeholder)] * self.num_tokens(item))
        if not items:
            return embeds
        tokens = torch.cat(self.encode_media(items)).to(embeds.dtype)  # (Σ N_i, D), in slot order
        slots = torch.isin(input_ids, torch.tensor(self.media_token_ids, device=input_ids.device))
        return embeds.masked_scatter(slots.unsqueeze(-1), tokens)

    @contextlib.contextmanager
    def _fused(self, input_ids, media):
        yield {"inputs_embeds": self.embed(input_ids, media)}


class CrossAttentionVLM(VLM):
    """Flamingo-style fusion: a GATED XATTN-DENSE block before every `cross_attn_every`-th decoder
    layer of the LM (1: every layer, as Flamingo-3B; Flamingo-80B every 7th). Each placeholder is
    one token; the text after it reads its item's tokens. With every gate at 0 the model is
    exactly the LM. Extra parts: 'cross_attention' (the blocks) and 'gates' (their tanh gates)."""

    fusion = "cross_attention"

    def __init__(self, config: VLMConfig, vision_encoder: VisionEncoder, lm: nn.Module, tokenizer,
                 audio_encoder: AudioEncoder | None = None, video_encoder: VideoTower | None = None):
        super().__init__(config, vision_encoder, lm, tokenizer, audio_encoder, video_encoder)
        layers = decoder_layers(self.lm)
        if any(isinstance(layer, CrossAttentionLayer) for layer in layers):
            raise ValueError("this LM already has cross-attention layers; give the model a plain LM")
        self.context = MediaContext()
        positions = list(range(0, len(layers), config.cross_attn_every))
        dim = self.lm.config.hidden_size
        with seeded(config.seed + 2):
            self.cross_attention = nn.ModuleList(
                GatedCrossAttentionBlock(dim, config.xattn_heads, config.xattn_ff_mult, config.gated)
                for _ in positions)
        for block, i in zip(self.cross_attention, positions):
            layers[i] = CrossAttentionLayer(layers[i], block, self.context)
        self.requires_grad_(False)

    def placeholder_length(self, item: Media) -> int:
        self._media_parts(item)  # the same checks as a language-stream model
        return 1

    def parts(self) -> dict[str, list[nn.Parameter]]:
        parts = super().parts()
        gates = [p for block in self.cross_attention for p in (block.attn_gate, block.ff_gate)]
        parts["gates"] = gates if self.config.gated else []  # ungated blocks have fixed gates
        gate_ids = {id(p) for p in gates}
        parts["cross_attention"] = [p for p in self.cross_attention.parameters()
                                    if id(p) not in gate_ids or self.config.gated]
        return parts

    def gate_values(self) -> dict[str, float]:
        """tanh(alpha) of each block: {'attn 0': …, 'ffw 0': …, …} (block k sits before layer k·every)."""
        out = {}
        for k, block in enumerate(self.cross_attention):
            out[f"attn {k}"] = float(torch.tanh(block.attn_gate.detach()))
            out[f"ffw {k}"] = float(torch.tanh(block.ff_gate.detach()))
        return out

    def visual_context(self, input_ids: torch.Tensor, media: MediaBatch | None
                       ) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The visual tokens (B, M·N, D) the text may read, and the text-to-visual mask (B, L, M·N)
        — each token sees the most recent item at or before it; None without media."""
        marker = {item: [self.tokenizer.convert_tokens_to_ids(item)] for item in MEDIA_TOKENS}
        media = None if media is None else [self.prompt_media(row) for row in media]
        items = _check_rows(self, input_ids, media, lambda item: marker[item.placeholder])
        if not items:
            return None
        tokens = self.encode_media(items)
        b, m = input_ids.shape[0], max(len(row) for row in media)
        n = max(t.shape[0] for t in tokens)
        visual = tokens[0].new_zeros((b, m, n, tokens[0].shape[-1]))
        valid = torch.zeros((b, m, n), dtype=torch.bool, device=visual.device)
        k = 0
        for r, row in enumerate(media):
            for j in range(len(row)):
                visual[r, j, : len(tokens[k])] = tokens[k]
                valid[r, j, : len(tokens[k])] = True
                k += 1
        index = media_index(input_ids, self.media_token_ids)
        return visual.flatten(1, 2), media_attention_mask(index, valid)

    @contextlib.contextmanager
    def _fused(self, input_ids, media):
        ctx = self.visual_context(input_ids, media)
        self.context.set(*(ctx or (None, None)))
        try:
            yield {"input_ids": input_ids}
        finally:
            self.context.set(None, None)


FAMILIES: dict[str, type[VLM]] = {"language_stream": LanguageStreamVLM, "cross_attention": CrossAttentionVLM}


def family_of(config: VLMConfig) -> type[VLM]:
    """The class a config builds: its fusion family, or video-SALMONN's synchronised language
    stream when config.audio_sync (notebook 09), or LLaVA-OneVision's AnyRes language stream when
    config.anyres_grids or config.video_pool (notebook 10)."""
    if config.audio_sync:
        from .video_salmonn import SynchronisedVLM

        return SynchronisedVLM
    if config.anyres_grids or config.video_pool:
        if config.fusion != "language_stream":
            raise ValueError("AnyRes crops and pooled video frames (anyres_grids, video_pool) need "
                             "fusion='language_stream'")
        if config.video_pool and config.reducer != "concat":
            raise ValueError(f"video_pool pools every frame's projected tokens and needs reducer='concat', "
                             f"got {config.reducer!r}; use one or the other")
        from .onevision import OneVisionVLM

        return OneVisionVLM
    return FAMILIES[config.fusion]


__all__ = ["VLM", "LanguageStreamVLM", "CrossAttentionVLM", "FAMILIES", "family_of", "VisionTokenizer", "FeatureStandardizer",
           "ModalityError"]
