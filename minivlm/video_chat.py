"""VideoChat, Video-ChatGPT and Valley (2023): chat models for video, built in notebook 04.

All three are language-stream models on a frozen image encoder; they differ in how a clip's
frames × patches become the LM's tokens (`minivlm.reducers`) and they were trained on instruction
dialogues written by a text-only LLM from the videos' descriptions (`minivlm.instruct`), judged
by an LLM (`minivlm.judge`).

- Video-ChatGPT (Maaz et al.): spatio-temporal pooling (T + P tokens) and a linear projector,
  initialised from LLaVA's; only the projector trains, on video instructions (`VIDEO_CHATGPT_INSTRUCT`).
- Valley (Luo et al.): its temporal module v3 — a transformer over each patch's frames before
  averaging — beside per-frame tokens, and a linear projector; stage 1 trains the projector (with
  the temporal module) on captions, stage 2 the projector and the LM on instructions (`RECIPES`).

`from_image_model(name, image_model)` starts a video model from an image model's feature
statistics and projector, as Video-ChatGPT started from LLaVA.
"""

from __future__ import annotations

from .config import VLMConfig
from .stages import Stage
from .vlm import VLM

VIDEO_CHATGPT = VLMConfig(name="video-chatgpt", reducer="spatio_temporal", connector="linear")
VALLEY = VLMConfig(name="valley", reducer="valley", reducer_args={"num_heads": 4}, connector="linear")

PRESETS = {"video-chatgpt": VIDEO_CHATGPT, "valley": VALLEY}

# Video-ChatGPT: the LM stays frozen; only the linear projector (here the vision tokenizer) learns
# on the video instructions (the paper: 3 epochs over 100K instructions at lr 2e-5).
VIDEO_CHATGPT_INSTRUCT = Stage("video-chatgpt · instruct", train=("vision_tokenizer",), data="video_instructions",
                 steps=100, lr=1e-3, batch_size=16, weight_decay=0.01)
# Valley: stage 1 aligns the projector and temporal module on captions, LM frozen; stage 2 tunes them
# and the LM on the instructions.
VALLEY_PRETRAIN = Stage("valley · pretrain", train=("vision_tokenizer",), data="captions",
                        steps=60, lr=2e-3, batch_size=64)
VALLEY_INSTRUCT = Stage("valley · instruct", train=("vision_tokenizer", "lm"), data="video_instructions",
                        steps=100, lr=1e-3, batch_size=16, weight_decay=0.01)

RECIPES = {"video-chatgpt": [VIDEO_CHATGPT_INSTRUCT], "valley": [VALLEY_PRETRAIN, VALLEY_INSTRUCT]}


def from_image_model(name_or_config: str | VLMConfig, image_model: VLM, **changes) -> VLM:
    """A video model (a preset name or config, with `changes`) that starts from an image model's
    feature standardizer and projector (connector) — both must match in kind and size; its
    reducer is new. The image model is not changed."""
    from .presets import build  # presets collects this module's presets: import it only when called

    model = build(name_or_config, **changes)
    mine, theirs = model.vision_tokenizer, image_model.vision_tokenizer
    if type(mine.connector) is not type(theirs.connector):
        raise ValueError(f"the image model's connector is a {type(theirs.connector).__name__}, this model's a "
                         f"{type(mine.connector).__name__}; build both with the same connector (config.connector)")
    mine.standardizer.load_state_dict(theirs.standardizer.state_dict())
    mine.connector.load_state_dict(theirs.connector.state_dict())
    return model


def check_valley_temporal(fn) -> bool:
    """Notebook 04's exercise: `fn(x, time_embedding, encoder)` — frame tokens x (B, T, P, D),
    the module's time embedding (max_frames, D) and its encoder layer — must give what Valley's
    temporal module (`reducers.ValleyTemporal`) gives: (B, P + T, D), each patch position's frames
    (plus the time embedding) through the encoder and averaged over time, then each frame's mean
    patch token. Prints ✅/❌; under strict checks a wrong answer raises `CheckFailed`."""
    import torch

    from .checks import compare
    from .reducers import ValleyTemporal

    cases, modules = [], {}
    for seed, (b, t, p, d, heads) in enumerate([(2, 8, 16, 32, 4), (1, 3, 4, 8, 2), (3, 5, 9, 16, 4)]):
        torch.manual_seed(seed)
        module = ValleyTemporal(d, num_heads=heads, max_frames=16, time_init_std=1.0).eval()
        x = torch.randn(b, t, p, d)
        modules[id(x)] = module
        cases.append((x, module.time_embedding, module.encoder))

    def reference(x, time_embedding, encoder):
        return modules[id(x)](x)

    with torch.no_grad():
        return compare("Valley's temporal module", fn, reference, cases, atol=1e-4)
