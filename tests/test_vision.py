import numpy as np
import pytest
import torch

from minivlm.train import TrainConfig, train
from minivlm.vision import VisionEncoder, clip_loss_fn, create_clip, unique_caption_batches
from minivlm.data import still_caption_pool


@pytest.fixture(scope="module")
def encoder():
    return VisionEncoder(create_clip("toy-clip-vit"), feature_layer=-2)


def test_patch_tokens_shape(encoder):
    tokens = encoder(torch.randn(3, 3, 64, 64))
    assert tokens.shape == (3, 16, 128) and encoder.num_patches == 16 and encoder.grid == (4, 4)


def test_keep_cls_adds_one_token():
    enc = VisionEncoder(create_clip("toy-clip-vit"), keep_cls=True)
    assert enc(torch.randn(1, 3, 64, 64)).shape == (1, 17, 128)


def test_feature_layer_selects_a_block(encoder):
    x = torch.randn(2, 3, 64, 64)
    last = VisionEncoder(create_clip("toy-clip-vit"), feature_layer=-1)(x)
    assert not torch.allclose(encoder(x), last)


def test_preprocess_resizes_and_normalises(encoder):
    frames = np.full((2, 5, 48, 80, 3), 128, np.uint8)
    pix = encoder.preprocess(frames)
    assert pix.shape == (2, 5, 3, 64, 64) and pix.dtype == torch.float32
    assert abs(pix.mean().item()) < 0.5


def test_wrong_pixel_shape_is_a_clear_error(encoder):
    with pytest.raises(ValueError, match="preprocess"):
        encoder(torch.randn(2, 3, 32, 32))


def test_unknown_model_name_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown vision model"):
        create_clip("ViT-Imaginary-99")


def test_unique_caption_batches_never_repeat_a_caption():
    frames, texts = still_caption_pool(64)
    pix = torch.zeros(len(texts), 3, 64, 64)
    batch_pix, batch_texts = next(unique_caption_batches(pix, texts, 16))
    assert len(set(batch_texts)) == len(batch_texts) == 16 and len(batch_pix) == 16


def test_contrastive_training_lowers_the_loss():
    model = create_clip("toy-clip-vit")
    enc = VisionEncoder(model)
    frames, texts = still_caption_pool(64)
    pix = enc.preprocess(frames)
    h = train(model, unique_caption_batches(pix, texts, 16), TrainConfig(steps=30, lr=1e-3, log_every=1, progress=False),
              loss_fn=clip_loss_fn("toy-clip-vit"))
    assert np.mean(h.loss[-5:]) < np.mean(h.loss[:5])
