import copy

import numpy as np
import pytest
import torch

from minivlm import interleaved as il
from minivlm.chat import IGNORE_INDEX
from minivlm.data import WorldConfig
from minivlm.flamingo import (FlamingoLayer, FlamingoVLM, GatedCrossAttentionBlock, PerceiverResampler, build_flamingo,
                              decoder_layers, media_attention_mask, media_index, tanh_gated_residual)
from minivlm.lm import build_lm
from minivlm.train import TrainConfig, train
from minivlm.vision import VisionEncoder, create_clip
from minivlm.vlm import VLM


@pytest.fixture()
def parts(tokenizer):
    encoder = VisionEncoder(create_clip("toy-clip-vit"), feature_layer=-2)
    lm = build_lm(tokenizer, hidden_size=64, num_layers=2, num_heads=2)
    return encoder, lm


@pytest.fixture(scope="module")
def bank():
    return il.still_bank("train", 24, WorldConfig(max_objects=1))


@pytest.fixture(scope="module")
def clips():
    return il.clip_bank("train", 6, num_frames=3)


def _episodes(bank, n=4, shots=3, seed=0):
    rng = np.random.default_rng(seed)
    return [il.complete(*il.naming_episode(bank, rng, shots)) for _ in range(n)]


def test_resampler_gives_the_same_number_of_tokens_for_any_number_of_frames():
    resampler = PerceiverResampler(32, num_latents=5, depth=2, heads=4, max_frames=8)
    for t in (1, 3, 8):
        assert resampler(torch.randn(2, t, 7, 32)).shape == (2, 5, 32)
    assert resampler.num_tokens(8, 16) == 5
    with pytest.raises(ValueError, match="max_frames"):
        resampler(torch.randn(1, 9, 7, 32))


def test_resampler_sees_frame_order_only_with_temporal_embeddings():
    x = torch.randn(2, 4, 6, 32)
    reversed_x = x.flip(1)
    with_time = PerceiverResampler(32, num_latents=3, temporal=True)
    without = PerceiverResampler(32, num_latents=3, temporal=False)
    assert torch.allclose(without(x), without(reversed_x), atol=1e-5)
    assert not torch.allclose(with_time(x), with_time(reversed_x), atol=1e-3)


def test_media_mask_matches_a_hand_built_example(tokenizer):
    ids = tokenizer("a <image> red . <image> blue <video> x", add_special_tokens=False, return_tensors="pt").input_ids
    media = [tokenizer.convert_tokens_to_ids(t) for t in ("<image>", "<video>", "<audio>")]
    index = media_index(ids, media)
    assert index.tolist() == [[0, 1, 1, 1, 2, 2, 3, 3]]
    mask = media_attention_mask(index, num_media=3, tokens_per_media=2)
    expected = torch.tensor([
        [0, 0, 0, 0, 0, 0],  # "a": before any media, sees none
        [1, 1, 0, 0, 0, 0], [1, 1, 0, 0, 0, 0], [1, 1, 0, 0, 0, 0],  # "<image> red ."
        [0, 0, 1, 1, 0, 0], [0, 0, 1, 1, 0, 0],  # "<image> blue"
        [0, 0, 0, 0, 1, 1], [0, 0, 0, 0, 1, 1],  # "<video> x"
    ], dtype=torch.bool)
    assert torch.equal(mask[0], expected)


def test_tanh_gated_residual_is_the_identity_at_alpha_zero():
    x, y = torch.randn(3, 4), torch.randn(3, 4)
    assert torch.equal(tanh_gated_residual(x, y, torch.zeros(1)), x)
    assert torch.allclose(tanh_gated_residual(x, y, torch.tensor([0.5])), x + np.tanh(0.5) * y)


def test_text_without_media_gets_no_cross_attention():
    block = GatedCrossAttentionBlock(16, heads=2)
    x = torch.randn(1, 3, 16)
    visual = torch.randn(1, 2, 4, 16)
    out = block.attn(x, visual, torch.tensor([[0, 1, 2]]))
    assert torch.equal(out[0, 0], torch.zeros(16))
    assert out[0, 1].abs().sum() > 0 and not torch.allclose(out[0, 1], out[0, 2])


def test_blocks_wrap_every_nth_decoder_layer(parts, tokenizer):
    encoder, _ = parts
    lm = build_lm(tokenizer, hidden_size=64, num_layers=4, num_heads=2)
    model = build_flamingo(encoder, lm, tokenizer, cross_attn_every=2)
    wrapped = [isinstance(layer, FlamingoLayer) for layer in decoder_layers(model.lm)]
    assert wrapped == [True, False, True, False] and len(model.cross_attention) == 2
    with pytest.raises(ValueError, match="already has cross-attention"):
        FlamingoVLM(encoder, model.vision_tokenizer, model.lm, tokenizer)


def test_at_init_the_logits_equal_the_frozen_lm_bit_for_bit(parts, tokenizer, bank):
    encoder, lm = parts
    plain = copy.deepcopy(lm)
    model = build_flamingo(encoder, lm, tokenizer)
    features = model.cache_features(bank.frames)
    model.fit_standardizer(features)
    batch = il.collate(tokenizer, _episodes(bank), features)
    out = model(**batch).logits
    want = plain(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    assert torch.equal(out, want)
    # after the gates open, the media change the output
    for block in model.cross_attention:
        block.attn_gate.data.fill_(1.0)
    assert not torch.allclose(model(**batch).logits, want, atol=1e-4)


def test_training_moves_gates_and_never_the_lm(parts, tokenizer, bank):
    encoder, lm = parts
    model = build_flamingo(encoder, lm, tokenizer)
    features = model.cache_features(bank.frames)
    model.fit_standardizer(features)
    lm_before = {k: v.clone() for k, v in model.lm.state_dict().items()}
    batches = il.document_batches(lambda rng: il.complete(*il.naming_episode(bank, rng, 2)), tokenizer, features, 4)
    batch = next(batches)
    model(**batch).loss.backward()
    assert all(p.grad is None for p in model.lm_parameters())
    assert all(not p.requires_grad for p in model.vision_encoder.parameters())
    model.zero_grad(set_to_none=True)
    train(model, batches, TrainConfig(steps=4, lr=1e-2, progress=False))
    assert all(torch.equal(lm_before[k], v) for k, v in model.lm.state_dict().items())
    assert any(abs(g) > 0 for g in model.gate_values().values())


def test_labels_skip_markers_bos_and_padding(tokenizer, bank):
    docs = _episodes(bank, n=2, shots=1) + [il.Document("<image> a red circle .", [0])]
    batch = il.collate(tokenizer, docs, torch.zeros(len(bank), 1, 1, 2, 3))
    markers = torch.isin(batch["input_ids"], torch.tensor(tokenizer.convert_tokens_to_ids(["<image>", "<bos>"])))
    assert (batch["labels"][markers] == IGNORE_INDEX).all()
    assert (batch["labels"][batch["attention_mask"] == 0] == IGNORE_INDEX).all()
    assert batch["vision_features"].shape == (3, 2, 1, 2, 3) and batch["media_mask"].sum(1).tolist() == [2, 2, 1]


def test_naming_episode_answer_is_the_name_shown_for_that_colour(bank):
    rng = np.random.default_rng(3)
    for _ in range(20):
        doc, answer = il.naming_episode(bank, rng, shots=6, ways=3)
        colours = [bank.colour(i) for i in doc.media]
        names = doc.text.split(" .")[:-1]
        named = {c: n.split()[-1] for c, n in zip(colours[:-1], names)}
        assert named[colours[-1]] == answer and len(set(named.values())) == len(named)
        assert doc.text.endswith(". <image>")


def test_attribute_episode_asks_one_attribute_of_every_still(bank, tokenizer):
    rng = np.random.default_rng(4)
    for attribute in il.ATTRIBUTES:
        doc, answer = il.attribute_episode(bank, rng, shots=5, attribute=attribute)
        shown = [part.split(" ", 1)[1] for part in doc.text.split(" . ")[:-1]]
        assert shown == [bank.attribute(i, attribute) for i in doc.media[:-1]]
        assert answer == bank.attribute(doc.media[-1], attribute) and len(set(doc.media)) == 6
        assert doc.text.endswith(". <image>")
        assert tokenizer.unk_token_id not in tokenizer(il.complete(doc, answer).text).input_ids
    doc, _ = il.attribute_episode(bank, rng, shots=0)
    assert doc.text == "<image>" and len(doc.media) == 1
    asked = set()
    for _ in range(30):  # without `attribute`, episodes ask each attribute
        doc, _ = il.attribute_episode(bank, rng, shots=1)
        shown = doc.text.split(" . ")[0].split(" ", 1)[1]
        asked |= {a for a in il.ATTRIBUTES if bank.attribute(doc.media[0], a) == shown}
    assert asked == set(il.ATTRIBUTES)
    with pytest.raises(ValueError, match="unknown attribute"):
        bank.attribute(0, "size")
    with pytest.raises(ValueError, match="different stills"):
        il.attribute_episode(bank, rng, shots=len(bank))


def test_mismatched_media_is_a_clear_error(parts, tokenizer, bank):
    encoder, lm = parts
    model = build_flamingo(encoder, lm, tokenizer)
    batch = il.collate(tokenizer, _episodes(bank, n=2, shots=2), model.cache_features(bank.frames))
    with pytest.raises(ValueError, match="media and text do not match"):
        model(batch["input_ids"], vision_features=batch["vision_features"][:, :1])
    with pytest.raises(ValueError, match="no pixel_values"):
        model(batch["input_ids"])


def test_generation_with_kv_cache_matches_step_by_step_greedy(parts, tokenizer, clips):
    encoder, lm = parts
    model = build_flamingo(encoder, lm, tokenizer)
    for block in model.cross_attention:  # open the gates so the media matter
        block.attn_gate.data.fill_(1.0)
        block.ff_gate.data.fill_(1.0)
    features = model.cache_features(clips.frames)
    docs = [il.Document("look <video> a red circle <video> the", [0, 1]), il.Document("<video> a", [2])]
    batch = il.collate(tokenizer, docs, features, side="left")
    fast = model.generate(batch["input_ids"], batch["attention_mask"], vision_features=batch["vision_features"],
                          max_new_tokens=5)
    for row in range(2):
        ids = batch["input_ids"][row:row + 1][:, batch["attention_mask"][row].bool()]
        slow = []
        for _ in range(5):
            nxt = int(model(ids, vision_features=batch["vision_features"][row:row + 1]).logits[0, -1].argmax())
            slow.append(nxt)
            if nxt == model.eos_token_id:
                break
            ids = torch.cat([ids, torch.tensor([[nxt]])], dim=1)
        assert fast[row].tolist()[: len(slow)] == slow


def test_save_load_round_trip_gives_identical_logits(parts, tokenizer, clips, tmp_path):
    encoder, lm = parts
    model = build_flamingo(encoder, lm, tokenizer, cross_attn_every=2, temporal=False, gate_lr_scale=4.0)
    features = model.cache_features(clips.frames)
    model.fit_standardizer(features)
    for k, block in enumerate(model.cross_attention):
        block.attn_gate.data.fill_(0.3 + k)
    batch = il.collate(tokenizer, [il.Document("<video> a <video> b", [0, 1])], features)
    model.save_pretrained(tmp_path)
    loaded = VLM.from_pretrained(tmp_path)
    assert type(loaded) is FlamingoVLM and loaded.gate_values() == model.gate_values()
    assert all(block.lr_scales == {"attn_gate": 4.0, "ff_gate": 4.0} for block in loaded.cross_attention)
    assert torch.equal(model(**batch).logits, loaded(**batch).logits)


def test_naming_text_gives_each_key_one_name_and_tokenizes_without_unknowns(tokenizer):
    rng = np.random.default_rng(0)
    for _ in range(20):
        text = il.naming_text(rng)
        items = [item.split() for item in text.split(" .") if item.strip()]
        named = {}
        for key, name in items:
            assert key in il.NAMING_KEYS and name in il.NAME_POOL
            assert named.setdefault(key, name) == name  # a key keeps its name within a list
        assert len(set(named.values())) == len(named)  # different keys, different names
        assert tokenizer.unk_token_id not in tokenizer(text).input_ids


def test_left_padded_prompts_give_the_same_next_token_logits_as_unpadded(parts, tokenizer, bank):
    encoder, lm = parts
    model = build_flamingo(encoder, lm, tokenizer)
    features = model.cache_features(bank.frames)
    model.fit_standardizer(features)
    for block in model.cross_attention:
        block.attn_gate.data.fill_(0.5)
    rng = np.random.default_rng(1)
    docs = [il.naming_episode(bank, rng, shots)[0] for shots in (1, 4)]
    batch = il.collate(tokenizer, docs, features, side="left")
    logits = model.next_token_logits(batch["input_ids"], batch["attention_mask"], vision_features=batch["vision_features"])
    alone = il.collate(tokenizer, docs[:1], features, side="left")
    want = model.next_token_logits(alone["input_ids"], alone["attention_mask"], vision_features=alone["vision_features"])
    torch.testing.assert_close(logits[0], want[0], atol=1e-4, rtol=1e-4)
