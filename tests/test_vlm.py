"""The language-stream family and the media records (the contract for every preset is in test_contract)."""

import numpy as np
import pytest
import torch

from minivlm.data import make_clip_qa, make_still_qa
from minivlm.media import Media, as_media, placeholders
from minivlm.samples import collate, precompute
from minivlm.stages import Stage, run_stage


@pytest.fixture(scope="module")
def clips():
    return make_clip_qa("train", 6, num_frames=2)


def test_visual_tokens_land_exactly_in_the_placeholder_slots(tiny_vlm, clips):
    batch = collate(tiny_vlm, clips)
    embeds = tiny_vlm.embed(batch["input_ids"], batch["media"])
    visual = torch.stack(tiny_vlm.encode_media([s.media[0] for s in clips]))  # (B, N, D)
    slots = batch["input_ids"] == tiny_vlm.tokenizer.convert_tokens_to_ids("<video>")
    assert visual.shape[1] == tiny_vlm.num_tokens(clips[0].media[0]) == 2 * 16
    assert torch.allclose(embeds[slots].view(visual.shape), visual)
    text = tiny_vlm.lm.get_input_embeddings()(batch["input_ids"])
    assert torch.equal(embeds[~slots], text[~slots])


def test_pixels_and_precomputed_features_give_the_same_output(tiny_vlm, clips):
    a = tiny_vlm(**collate(tiny_vlm, clips)).logits
    encoded = precompute(tiny_vlm, clips)
    assert all(m.features is not None and m.pixels is None for s in encoded for m in s.media)
    b = tiny_vlm(**collate(tiny_vlm, encoded)).logits
    assert torch.allclose(a, b, atol=1e-5)


def test_items_shared_by_samples_are_encoded_once(tiny_vlm, clips):
    shared = [clips[0], clips[0].with_media(clips[0].media)]
    encoded = precompute(tiny_vlm, shared)
    assert encoded[0].media[0] is encoded[1].media[0]


def test_fit_standardizer_is_explicit_and_centres_the_features(tiny_vlm, clips):
    items = [s.media[0] for s in clips]
    standardizer = tiny_vlm.vision_tokenizer.standardizer
    assert torch.equal(standardizer.mean, torch.zeros_like(standardizer.mean))
    collate(tiny_vlm, clips)  # building batches fits nothing
    assert torch.equal(standardizer.mean, torch.zeros_like(standardizer.mean))
    tiny_vlm.fit_standardizer(items)
    feats = torch.cat([f.reshape(-1, f.shape[-1]) for f in tiny_vlm.encode_features(items)])
    assert standardizer(feats).mean(0).abs().max() < 1e-4


def test_nothing_trainable_is_a_clear_error(tiny_vlm, clips):
    with pytest.raises(ValueError, match="trains nothing"):
        Stage("empty", train=(), data="x")
    with pytest.raises(ValueError, match="unknown part"):
        run_stage(tiny_vlm, Stage("s", train=("projector",), data="x", steps=1), clips, progress=False)


def test_chat_keeps_the_history_of_the_conversation(tiny_vlm, clips):
    frames = clips[0].media[0].pixels.numpy()
    first = tiny_vlm.chat(frames, "what colour is the circle ?", max_new_tokens=3)
    history = [{"role": "user", "content": "<video> what colour is the circle ?"},
               {"role": "assistant", "content": first}]
    second = tiny_vlm.chat(frames, "and its shape ?", history=history, max_new_tokens=3)
    assert isinstance(second, str)
    with pytest.raises(ValueError, match="placeholder"):
        tiny_vlm.chat(frames, "and its shape ?", history=[{"role": "user", "content": "hello"}])


def test_media_records_check_their_content():
    image = as_media(np.zeros((8, 8, 3), np.uint8))
    clip = as_media(np.zeros((3, 8, 8, 3), np.uint8))
    assert (image.modality, image.num_frames, clip.modality, clip.num_frames) == ("image", 1, "video", 3)
    assert placeholders("<video> then <image> and <audio> ?") == ["<video>", "<image>", "<audio>"]
    with pytest.raises(ValueError, match="uint8"):
        as_media(np.zeros((8, 8, 3), np.float32))
    with pytest.raises(ValueError, match="times"):
        Media.video(np.zeros((3, 8, 8, 3), np.uint8), times=[0.0, 1.0])
    with pytest.raises(ValueError, match="sample_rate"):
        Media("audio", waveform=torch.zeros(10))


def test_still_questions_come_as_images(clips):
    stills = make_still_qa("test", 4)
    assert all(s.media[0].modality == "image" and s.messages[0]["content"].startswith("<image>") for s in stills)
    assert all(s.media[0].modality == "video" and s.media[0].times is not None for s in clips)
