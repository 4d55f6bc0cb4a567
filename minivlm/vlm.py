"""The vision-language model family, in open_flamingo's four parts:

    pixels ─► vision encoder ─► vision tokenizer ─► fusion ─► language model ─► text
              (CLIP ViT)        (reducer+connector)

`VLM` holds the parts and what every fusion shares (media → visual tokens, freezing,
save/load). `LanguageStreamVLM` is the LLaVA family: visual tokens are written into the LM's
input embeddings at placeholder slots. Flamingo's cross-attention fusion is a sibling subclass
(minivlm.flamingo).

Media shapes: pixel_values (B, M, T, 3, H, W) — M media per sample, T frames each (T = 1 for
an image); vision_features (B, M, T, P, D) — the encoder's output, cacheable when it is frozen.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from safetensors.torch import load_model, save_model
from torch import nn
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, GenerationConfig
from transformers.generation.streamers import BaseStreamer

from . import connectors as _connectors  # noqa: F401  (registers parts)
from . import reducers
from .chat import IGNORE_INDEX, Message, encode_chat, pad_batch
from .lm import EOS, MEDIA_TOKENS
from .parts import build_part, part_spec, register
from .vision import VisionEncoder, create_clip

PARTS_TRAINABLE = ("vision_encoder", "vision_tokenizer", "lm")


@register
class FeatureStandardizer(nn.Module):
    """Per-channel standardisation of vision features with fixed statistics.

    Features of a small encoder are dominated by a component every image shares (background,
    position embeddings); subtracting the per-channel mean makes what differs visible to the LM.
    Identity until `fit` is called; the statistics are saved with the model.
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


@register
class VisionTokenizer(nn.Module):
    """Vision features → tokens for the LM: standardise, reduce, connect.

    forward: features (B, T, P, D_vision) → tokens (B, N, D_lm), N = num_tokens(T, P).
    """

    def __init__(self, vision_dim: int, connector: nn.Module, reducer: nn.Module | None = None):
        super().__init__()
        self.standardizer = FeatureStandardizer(vision_dim)
        self.reducer = reducer if reducer is not None else reducers.ConcatFrames()
        self.connector = connector

    def num_tokens(self, num_frames: int, num_patches: int) -> int:
        return self.reducer.num_tokens(num_frames, num_patches)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.connector(self.reducer(self.standardizer(features)))


class VLM(nn.Module):
    """What every fusion shares: the parts, media → visual tokens, freezing, save/load."""

    def __init__(self, vision_encoder: VisionEncoder, vision_tokenizer: nn.Module, lm: nn.Module, tokenizer):
        super().__init__()
        self.vision_encoder = vision_encoder
        self.vision_tokenizer = vision_tokenizer
        self.lm = lm
        self.tokenizer = tokenizer
        self.media_token_ids = tokenizer.convert_tokens_to_ids(list(MEDIA_TOKENS))
        self.eos_token_id = tokenizer.convert_tokens_to_ids(EOS)

    @property
    def device(self) -> torch.device:
        return next(self.lm.parameters()).device

    # ---- media -------------------------------------------------------------------------
    def tokens_per_media(self, num_frames: int = 1) -> int:
        """How many visual tokens one image (num_frames=1) or clip becomes."""
        return self.vision_tokenizer.num_tokens(num_frames, self.vision_encoder.num_patches)

    def pixels(self, frames: np.ndarray | torch.Tensor) -> torch.Tensor:
        """uint8 frames (B, M, T, H, W, 3) → pixel_values (B, M, T, 3, S, S)."""
        return self.vision_encoder.preprocess(frames)

    def extract_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """pixel_values (B, M, T, 3, H, W) → vision features (B, M, T, P, D).
        Runs without gradients when the encoder is frozen."""
        if pixel_values.ndim != 6:
            raise ValueError(
                f"pixel_values must be (B, M, T, 3, H, W) — batch, media per sample, frames — got "
                f"shape {tuple(pixel_values.shape)}; for one image use shape (1, 1, 1, 3, H, W)"
            )
        b, m, t = pixel_values.shape[:3]
        needs_grad = torch.is_grad_enabled() and any(p.requires_grad for p in self.vision_encoder.parameters())
        with torch.set_grad_enabled(needs_grad):
            tokens = self.vision_encoder(pixel_values.flatten(0, 2).to(self.device))
        return tokens.view(b, m, t, *tokens.shape[1:])

    @torch.no_grad()
    def cache_features(self, frames: torch.Tensor | np.ndarray, batch_size: int = 64) -> torch.Tensor:
        """Vision features of uint8 media (N, T, H, W, 3) → (N, 1, T, P, D) on the CPU: compute
        once with a frozen encoder, then train on them (≈ 5× faster steps)."""
        frames = torch.as_tensor(frames)
        if frames.ndim != 5:
            raise ValueError(f"frames must be (N, T, H, W, 3) uint8, got {tuple(frames.shape)}")
        out = []
        for i in range(0, len(frames), batch_size):
            pix = self.pixels(frames[i:i + batch_size, None])
            out.append(self.extract_features(pix).cpu())
        return torch.cat(out)

    def encode_media(self, pixel_values: torch.Tensor | None = None,
                     vision_features: torch.Tensor | None = None) -> torch.Tensor:
        """Media → visual tokens (B, M, N, D_lm). Give pixels or cached features, not both."""
        if (pixel_values is None) == (vision_features is None):
            raise ValueError("give exactly one of pixel_values (B, M, T, 3, H, W) or vision_features (B, M, T, P, D)")
        feats = self.extract_features(pixel_values) if vision_features is None else vision_features.to(self.device)
        if feats.ndim != 5:
            raise ValueError(f"vision_features must be (B, M, T, P, D), got shape {tuple(feats.shape)}")
        b, m = feats.shape[:2]
        tokens = self.vision_tokenizer(feats.flatten(0, 1))
        return tokens.view(b, m, *tokens.shape[1:])

    def fit_standardizer(self, vision_features: torch.Tensor) -> None:
        """Set the vision tokenizer's per-channel statistics from (…, D) features."""
        self.vision_tokenizer.standardizer.fit(vision_features.to(self.device))

    # ---- training stages ---------------------------------------------------------------
    trainable_parts: tuple[str, ...] = PARTS_TRAINABLE

    def set_trainable(self, *parts: str) -> None:
        """Freeze every part except those named (see `trainable_parts`: 'vision_encoder',
        'vision_tokenizer', 'lm', plus what a fusion adds)."""
        unknown = set(parts) - set(self.trainable_parts)
        if unknown:
            raise ValueError(f"unknown parts {sorted(unknown)}; choose from {self.trainable_parts}")
        self.requires_grad_(False)
        for name in parts:
            getattr(self, name).requires_grad_(True)

    # ---- text --------------------------------------------------------------------------
    def prepare_chats(self, conversations: Sequence[Sequence[Message]], num_frames: int = 1,
                      media_per_chat: int | None = None, side: str = "right",
                      add_generation_prompt: bool = False) -> dict[str, torch.Tensor]:
        """Tokenize conversations with each placeholder expanded to this model's visual token
        count; returns padded input_ids, attention_mask, labels (B, L)."""
        n = self.tokens_per_media(num_frames)
        encoded = [encode_chat(self.tokenizer, c, n, num_media=media_per_chat,
                               add_generation_prompt=add_generation_prompt) for c in conversations]
        return pad_batch(encoded, self.tokenizer.pad_token_id, side=side)

    def decode(self, ids: torch.Tensor | Sequence[int]) -> str:
        """Generated ids → text, cut at the first <eos> (time tokens are kept)."""
        ids = [int(i) for i in ids]
        if self.eos_token_id in ids:
            ids = ids[: ids.index(self.eos_token_id)]
        ids = [i for i in ids if i != self.tokenizer.pad_token_id]
        return self.tokenizer.decode(ids, skip_special_tokens=False).strip()

    # ---- save / load -------------------------------------------------------------------
    def config_dict(self) -> dict:
        enc = self.vision_encoder
        return {
            "class": type(self).__name__,
            "vision_encoder": {"model_name": enc.model_name, "feature_layer": enc.feature_layer,
                               "keep_cls": enc.keep_cls},
            "vision_tokenizer": part_spec(self.vision_tokenizer),
            "extra": self.extra_config(),
        }

    def extra_config(self) -> dict:
        """Subclasses add what they need to rebuild themselves."""
        return {}

    def save_pretrained(self, path: str | Path) -> Path:
        """config.json + model.safetensors (every weight) + lm/ (the LM's config, tokenizer)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        (path / "config.json").write_text(json.dumps(self.config_dict(), indent=2))
        self.lm.config.save_pretrained(path / "lm")
        self.tokenizer.save_pretrained(path / "lm")
        save_model(self, str(path / "model.safetensors"))
        return path

    @classmethod
    def from_pretrained(cls, path: str | Path, device: str | torch.device | None = None) -> "VLM":
        path = Path(path)
        if not (path / "config.json").exists():
            raise FileNotFoundError(f"{path} holds no saved VLM (config.json missing); save one with model.save_pretrained(path)")
        config = json.loads((path / "config.json").read_text())
        subclass = _VLM_CLASSES.get(config["class"])
        if subclass is None:
            raise KeyError(f"unknown VLM class {config['class']!r}; import the module that defines it")
        tokenizer = AutoTokenizer.from_pretrained(path / "lm")
        lm = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(path / "lm"))  # weights come below
        enc_cfg = config["vision_encoder"]
        encoder = VisionEncoder(create_clip(enc_cfg["model_name"]), enc_cfg["feature_layer"], enc_cfg["keep_cls"],
                                model_name=enc_cfg["model_name"])
        model = subclass._rebuild(encoder, build_part(config["vision_tokenizer"]), lm, tokenizer, config["extra"])
        load_model(model, str(path / "model.safetensors"))
        return model.to(device) if device is not None else model

    @classmethod
    def _rebuild(cls, encoder, vision_tokenizer, lm, tokenizer, extra: dict) -> "VLM":
        return cls(encoder, vision_tokenizer, lm, tokenizer)


_VLM_CLASSES: dict[str, type[VLM]] = {}


def register_vlm(cls: type[VLM]) -> type[VLM]:
    """Make a VLM subclass loadable by VLM.from_pretrained."""
    _VLM_CLASSES[cls.__name__] = cls
    return cls


class _CallbackStreamer(BaseStreamer):
    def __init__(self, model: VLM, on_token: Callable[[str], None]):
        self.model, self.on_token, self.first = model, on_token, True

    def put(self, value):
        if self.first:  # generate() first hands over the prompt; with inputs_embeds it is empty
            self.first = False
            if value.numel() == 0 or value.ndim > 1 and value.shape[-1] != 1:
                return
        for i in value.reshape(-1).tolist():
            if i != self.model.eos_token_id:
                self.on_token(self.model.tokenizer.decode([i], skip_special_tokens=False))

    def end(self):
        pass


@register_vlm
class LanguageStreamVLM(VLM):
    """LLaVA-style fusion: visual tokens take the places of placeholder tokens in the prompt."""

    def embed(self, input_ids: torch.Tensor, pixel_values: torch.Tensor | None = None,
              vision_features: torch.Tensor | None = None) -> torch.Tensor:
        """input_ids (B, L) → inputs_embeds (B, L, D_lm) with visual tokens in the media slots."""
        input_ids = input_ids.to(self.device)
        embeds = self.lm.get_input_embeddings()(input_ids)
        slots = torch.isin(input_ids, torch.tensor(self.media_token_ids, device=input_ids.device))
        if pixel_values is None and vision_features is None:
            if slots.any():
                raise ValueError("the prompt has media placeholders but no pixel_values or vision_features were given")
            return embeds
        visual = self.encode_media(pixel_values, vision_features)  # (B, M, N, D)
        b, m, n, d = visual.shape
        per_row = slots.sum(1)
        if b != input_ids.shape[0] or (per_row != m * n).any():
            raise ValueError(
                f"media and prompt do not match: each prompt needs {m} media x {n} visual tokens = "
                f"{m * n} placeholder slots, but the rows have {per_row.tolist()}; build prompts with "
                "model.prepare_chats(...) (it expands each <image>/<video> to the right count) and "
                "give one media item per placeholder"
            )
        return embeds.masked_scatter(slots.unsqueeze(-1), visual.to(embeds.dtype).reshape(-1, d))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                labels: torch.Tensor | None = None, pixel_values: torch.Tensor | None = None,
                vision_features: torch.Tensor | None = None):
        """Causal-LM output (loss on the labels that are not -100, logits (B, L, V))."""
        embeds = self.embed(input_ids, pixel_values, vision_features)
        return self.lm(inputs_embeds=embeds, attention_mask=attention_mask, labels=labels)

    @torch.no_grad()
    def generate(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                 pixel_values: torch.Tensor | None = None, vision_features: torch.Tensor | None = None,
                 max_new_tokens: int = 32, do_sample: bool = False, temperature: float = 1.0,
                 top_k: int | None = None, on_token: Callable[[str], None] | None = None) -> torch.Tensor:
        """New token ids (B, ≤ max_new_tokens), greedy or sampled, with the LM's KV cache.
        Batched prompts must be left-padded."""
        embeds = self.embed(input_ids, pixel_values, vision_features)
        options = {"do_sample": True, "temperature": temperature, "top_k": top_k} if do_sample else {"do_sample": False}
        config = GenerationConfig(max_new_tokens=max_new_tokens, eos_token_id=self.eos_token_id,
                                  pad_token_id=self.tokenizer.pad_token_id, use_cache=True, **options)
        streamer = _CallbackStreamer(self, on_token) if on_token else None
        mask = attention_mask.to(self.device) if attention_mask is not None else None
        return self.lm.generate(inputs_embeds=embeds, attention_mask=mask, generation_config=config, streamer=streamer)

    @torch.no_grad()
    def answer_batch(self, questions: Sequence[str], pixel_values: torch.Tensor | None = None,
                     vision_features: torch.Tensor | None = None, media_token: str = "<video>",
                     batch_size: int = 64, max_new_tokens: int = 12) -> list[str]:
        """Greedy answers to one question per media item. vision_features (N, 1, T, P, D)
        or pixel_values (N, 1, T, 3, H, W)."""
        media = vision_features if vision_features is not None else pixel_values
        if media is None or len(media) != len(questions):
            raise ValueError(f"need one media item per question: {len(questions)} questions, "
                             f"{None if media is None else len(media)} media")
        num_frames = media.shape[2]
        self.eval()
        answers = []
        for i in range(0, len(questions), batch_size):
            chats = [[{"role": "user", "content": f"{media_token} {q}"}] for q in questions[i:i + batch_size]]
            batch = self.prepare_chats(chats, num_frames=num_frames, side="left", add_generation_prompt=True)
            part = media[i:i + batch_size]
            kwargs = {"vision_features": part} if vision_features is not None else {"pixel_values": part}
            out = self.generate(batch["input_ids"], batch["attention_mask"], max_new_tokens=max_new_tokens, **kwargs)
            answers += [self.decode(row) for row in out]
        return answers


def build_llava(vision_encoder: VisionEncoder, lm: nn.Module, tokenizer, connector: str = "mlp",
                reducer: nn.Module | None = None, seed: int = 0) -> LanguageStreamVLM:
    """A LLaVA-style model from parts: connector 'linear' (LLaVA) or 'mlp' (LLaVA-1.5)."""
    from .connectors import MLP, Linear

    dims = (vision_encoder.width, lm.config.hidden_size)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if connector == "linear":
            conn = Linear(*dims)
        elif connector == "mlp":
            conn = MLP(*dims)
        else:
            raise ValueError(f"unknown connector {connector!r}; use 'linear' or 'mlp'")
        tokenizer_part = VisionTokenizer(vision_encoder.width, conn, reducer)
    return LanguageStreamVLM(vision_encoder, tokenizer_part, lm, tokenizer)


@torch.no_grad()
def chat(model: LanguageStreamVLM, media: np.ndarray | torch.Tensor, question: str,
         history: Sequence[Message] = (), max_new_tokens: int = 48, do_sample: bool = False,
         temperature: float = 1.0, on_token: Callable[[str], None] | None = None) -> str:
    """Ask about one image (H, W, 3) or clip (T, H, W, 3), uint8. `history`: earlier turns of
    this conversation (the first user turn holds the placeholder). `on_token` streams pieces."""
    frames = torch.as_tensor(np.asarray(media) if not isinstance(media, torch.Tensor) else media)
    if frames.ndim == 3:
        frames = frames[None]
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"media must be an image (H, W, 3) or a clip (T, H, W, 3), got {tuple(frames.shape)}")
    token = "<image>" if frames.shape[0] == 1 else "<video>"
    turns = list(history)
    content = question if turns else f"{token} {question}"
    turns.append({"role": "user", "content": content})
    batch = model.prepare_chats([turns], num_frames=frames.shape[0], media_per_chat=1, add_generation_prompt=True)
    model.eval()
    out = model.generate(batch["input_ids"], batch["attention_mask"], pixel_values=model.pixels(frames[None, None]),
                         max_new_tokens=max_new_tokens, do_sample=do_sample, temperature=temperature, on_token=on_token)
    return model.decode(out[0])


__all__ = ["VLM", "LanguageStreamVLM", "VisionTokenizer", "FeatureStandardizer", "build_llava", "chat",
           "register_vlm", "IGNORE_INDEX"]
