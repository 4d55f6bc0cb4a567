"""VideoChat, Video-ChatGPT and Valley (2023): chat models for video, built in notebook 04.

All three are language-stream models on a frozen image encoder; they differ in how a clip's
frames × patches become the LM's tokens (`minivlm.reducers`) and they were trained on instruction
dialogues written by a text-only LLM from the videos' descriptions (`minivlm.instruct`), judged
by an LLM (`minivlm.judge`).

- Video-ChatGPT (Maaz et al.): spatio-temporal pooling (T + P tokens) and a linear projector;
  only the projector trains.
- Valley (Luo et al.): its temporal module v3 — a transformer over each patch's frames before
  averaging — beside per-frame tokens, and a linear projector.
"""

from __future__ import annotations

from .config import VLMConfig

VIDEO_CHATGPT = VLMConfig(name="video-chatgpt", reducer="spatio_temporal", connector="linear")
VALLEY = VLMConfig(name="valley", reducer="valley", reducer_args={"num_heads": 4}, connector="linear")

PRESETS = {"video-chatgpt": VIDEO_CHATGPT, "valley": VALLEY}
