import pytest
import torch

from minivlm import zoo
from minivlm.caption_decoder import CaptionDecoder, CaptionedCLIP
from minivlm.vision import clip_tokenizer, create_clip


def test_the_decoder_is_causal_and_reads_the_image_tokens():
    decoder = CaptionDecoder(50, width=16, layers=1, heads=2, context=8, seed=0).eval()
    ids = torch.randint(1, 50, (2, 6))
    memory = torch.randn(2, 4, 16)
    logits = decoder(ids, memory)
    assert logits.shape == (2, 6, 50)
    later = ids.clone()
    later[:, 4:] = (later[:, 4:] + 1) % 50  # change only the last two tokens
    changed = decoder(later, memory)
    assert torch.allclose(changed[:, :4], logits[:, :4], atol=1e-6)  # earlier positions do not see them
    assert not torch.allclose(changed[:, 4:], logits[:, 4:])
    assert not torch.allclose(decoder(ids, torch.randn(2, 4, 16)), logits)  # every position reads the image


def test_the_decoder_is_deterministic_in_its_seed_and_leaves_the_global_stream():
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    a = CaptionDecoder(30, width=16, heads=2, seed=1)
    assert torch.equal(torch.rand(3), expected)
    b = CaptionDecoder(30, width=16, heads=2, seed=1)
    c = CaptionDecoder(30, width=16, heads=2, seed=2)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert not torch.equal(a.embed.weight, c.embed.weight)


def test_the_decoder_says_when_a_caption_is_too_long():
    decoder = CaptionDecoder(30, width=16, heads=2, context=4)
    with pytest.raises(ValueError, match="longer than the decoder's context"):
        decoder(torch.ones(1, 5, dtype=torch.long), torch.randn(1, 3, 16))


def test_the_caption_loss_ignores_padding_and_trains_the_image_tower():
    clip = create_clip(seed=0)
    width = clip.token_embedding.weight.shape[1]
    captioner = CaptionedCLIP(clip, CaptionDecoder(clip.token_embedding.weight.shape[0], width, seed=0))
    assert set(captioner.state_dict()) == {f"clip.{k}" for k in clip.state_dict()} | {
        f"decoder.{k}" for k in captioner.decoder.state_dict()}  # the tower is not stored twice
    tokenizer = clip_tokenizer()
    ids = tokenizer(["a red circle at the top left .", "a blue square ."])
    pixels = torch.randn(2, 3, 64, 64)
    loss = captioner.caption_loss(pixels, ids)
    assert torch.isfinite(loss) and loss.item() > 1.0  # untrained: about log(vocabulary)
    assert (ids == 0).any(1).all()  # the tokenizer pads every caption to the context
    longest = int((ids != 0).sum(1).max())
    trimmed = ids[:, :longest]  # the same captions with less padding
    assert torch.allclose(captioner.caption_loss(pixels, trimmed), loss, atol=1e-6)  # padding is not scored
    loss.backward()
    assert clip.visual.transformer.resblocks[0].attn.in_proj_weight.grad.abs().sum() > 0
    assert clip.visual.transformer.resblocks[-1].attn.in_proj_weight.grad is None  # the layer after -2 is not read


def test_the_captioning_stage_continues_from_the_first_stage_as_shipped(tmp_path, monkeypatch):
    """Built from scratch, or from a first stage stored in fp16 (as shipped): the same CLIP, with
    no decoder weights in it, and different from the first stage alone."""
    from safetensors.torch import load_file, save_file

    monkeypatch.setenv("MINIVLM_CACHE", str(tmp_path / "scratch"))
    whole = zoo.toy_clip(progress=False).state_dict()
    recipe = zoo.clip_recipe()
    first = zoo.first_stage(recipe)
    first_file = zoo._cache_path("toy_clip", zoo.recipe_key(first))
    first_state = load_file(str(first_file))
    assert set(whole) == set(first_state)  # only the CLIP is kept
    assert any(not torch.equal(whole[k], first_state[k]) for k in whole)
    monkeypatch.setenv("MINIVLM_CACHE", str(tmp_path / "shipped"))
    seeded = zoo._cache_path("toy_clip", zoo.recipe_key(first))
    seeded.parent.mkdir(parents=True, exist_ok=True)
    save_file(zoo._contiguous(first_state, torch.float16), str(seeded))
    again = zoo.toy_clip(progress=False).state_dict()
    for k in whole:
        assert torch.equal(whole[k], again[k]), k
