import os

# Unit tests always run at smoke size, offline, with their own cache.
os.environ.setdefault("MINIVLM_FAST", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MINIVLM_STRICT_CHECKS", "1")  # a wrong exercise answer raises
os.environ.setdefault("MINIVLM_CACHE", os.path.join(os.path.dirname(__file__), "..", ".cache", "test"))

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tokenizer():
    from minivlm.lm import build_tokenizer

    return build_tokenizer()


@pytest.fixture()
def tiny_vlm():
    """The llava-1.5 preset on the fast-mode zoo (fresh for each test: tests may train it)."""
    from minivlm import build

    return build("llava-1.5")
