import os

# Unit tests always run at smoke size, offline, with their own cache.
os.environ.setdefault("MINIVLM_FAST", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MINIVLM_CACHE", os.path.join(os.path.dirname(__file__), "..", ".cache", "test"))

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tokenizer():
    from minivlm.lm import build_tokenizer

    return build_tokenizer()


@pytest.fixture()
def tiny_vlm(tokenizer):
    """A LLaVA-style model from random parts (fresh for each test: tests may train it)."""
    from minivlm.lm import build_lm
    from minivlm.vision import VisionEncoder, create_clip
    from minivlm.vlm import build_llava

    encoder = VisionEncoder(create_clip("toy-clip-vit"), feature_layer=-2)
    lm = build_lm(tokenizer, hidden_size=64, num_layers=2, num_heads=2)
    return build_llava(encoder, lm, tokenizer, connector="mlp")
