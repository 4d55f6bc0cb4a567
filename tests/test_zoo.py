import torch

from minivlm import zoo


def test_toy_clip_is_built_once_then_loaded_identically():
    a = zoo.toy_clip(progress=False)
    b = zoo.toy_clip(progress=False)
    for (k, v), (_, w) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(v, w), k


def test_toy_lm_is_built_once_then_loaded_identically():
    lm, tok = zoo.toy_lm(progress=False)
    lm2, tok2 = zoo.toy_lm(progress=False)
    x = torch.tensor([tok("how many objects are there ?").input_ids])
    assert torch.equal(lm(x).logits, lm2(x).logits)


def test_toy_vision_encoder_is_frozen():
    enc = zoo.toy_vision_encoder()
    assert not any(p.requires_grad for p in enc.parameters())
    assert enc(torch.randn(1, 3, 64, 64)).shape[0] == 1
