"""Flamingo: its parts (resampler, media masking, gated blocks), the preset on a frozen LM, and its
data (interleaved documents, few-shot episodes). The contract every preset passes is in test_contract."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from minivlm import build
from minivlm import interleaved as il
from minivlm import zoo
from minivlm.chat import IGNORE_INDEX
from minivlm.cross_attention import (CrossAttentionLayer, GatedCrossAttentionBlock, decoder_layers,
                                     media_attention_mask, media_index, tanh_gated_residual)
from minivlm.data import WorldConfig
from minivlm.flamingo import FLAMINGO, PRETRAIN
from minivlm.lm import build_lm
from minivlm.media import MediaMismatchError
from minivlm.resampler import PerceiverResampler
from minivlm.samples import Sample, collate, precompute
from minivlm.stages import run_stage
from minivlm.vlm import VLM, CrossAttentionVLM


@pytest.fixture(scope="module")
def stills():
    return il.render_stills("train", 24, WorldConfig(max_objects=1))


@pytest.fixture(scope="module")
def clips():
    return il.render_clips("train", 6, num_frames=3)


@pytest.fixture()
def model(stills, clips):
    m = build("flamingo")
    m.fit_standardizer(stills[0] + clips[0])
    return m


def _open_gates(model, attn=1.0, ff=0.0):
    with torch.no_grad():
        for block in model.cross_attention:
            block.attn_gate.fill_(attn)
            block.ff_gate.fill_(ff)


def _episodes(stills, n=4, shots=3, seed=0):
    rng = np.random.default_rng(seed)
    return [il.complete(il.naming_episode(*stills, rng, shots)) for _ in range(n)]


# ---- the parts -------------------------------------------------------------------------------
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
    valid = torch.tensor([[[1, 1], [1, 1], [1, 0]]], dtype=torch.bool)  # the video has one token, not two
    mask = media_attention_mask(index, valid)
    expected = torch.tensor([
        [0, 0, 0, 0, 0, 0],  # "a": before any media, sees none
        [1, 1, 0, 0, 0, 0], [1, 1, 0, 0, 0, 0], [1, 1, 0, 0, 0, 0],  # "<image> red ."
        [0, 0, 1, 1, 0, 0], [0, 0, 1, 1, 0, 0],  # "<image> blue"
        [0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 1, 0],  # "<video> x": its one real token only
    ], dtype=torch.bool)
    assert torch.equal(mask[0], expected)


def test_tanh_gated_residual_is_the_identity_at_alpha_zero():
    x, y = torch.randn(3, 4), torch.randn(3, 4)
    assert torch.equal(tanh_gated_residual(x, y, torch.zeros(1)), x)
    assert torch.allclose(tanh_gated_residual(x, y, torch.tensor([0.5])), x + np.tanh(0.5) * y)


def test_text_without_media_gets_no_cross_attention():
    block = GatedCrossAttentionBlock(16, heads=2)
    x, visual = torch.randn(1, 3, 16), torch.randn(1, 2 * 4, 16)
    mask = media_attention_mask(torch.tensor([[0, 1, 2]]), torch.ones(1, 2, 4, dtype=torch.bool))
    out = block.attn(x, visual, mask)
    assert torch.equal(out[0, 0], torch.zeros(16))
    assert out[0, 1].abs().sum() > 0 and not torch.allclose(out[0, 1], out[0, 2])
    assert torch.equal(block(x, visual, mask), x)  # gates at 0: the identity


# ---- the model -------------------------------------------------------------------------------
def test_blocks_wrap_every_nth_decoder_layer(tokenizer):
    encoder = zoo.toy_vision_encoder()
    lm = build_lm(tokenizer, hidden_size=64, num_layers=4, num_heads=2)
    model = CrossAttentionVLM(FLAMINGO.replace(cross_attn_every=2), encoder, lm, tokenizer)
    wrapped = [isinstance(layer, CrossAttentionLayer) for layer in decoder_layers(model.lm)]
    assert wrapped == [True, False, True, False] and len(model.cross_attention) == 2
    assert not any(isinstance(layer, CrossAttentionLayer) for layer in decoder_layers(lm))  # the LM given is untouched
    with pytest.raises(ValueError, match="already has cross-attention"):
        CrossAttentionVLM(FLAMINGO, encoder, model.lm, tokenizer)


def test_at_init_the_logits_equal_the_frozen_lm_bit_for_bit(model, stills):
    plain, _ = zoo.toy_lm()
    batch = collate(model, _episodes(stills))
    with torch.no_grad():
        want = plain(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        assert torch.equal(model(**batch).logits, want)
        _open_gates(model)  # once the gates open, the media change the output
        assert not torch.allclose(model(**batch).logits, want, atol=1e-4)


def test_training_moves_gates_and_never_the_lm(model, stills):
    docs = precompute(model, _episodes(stills, n=8, shots=2))
    lm_before = {k: v.clone() for k, v in model.lm.state_dict().items()}
    stage = replace(PRETRAIN, steps=4, lr=1e-2, batch_size=4)  # gates at lr × PRETRAIN.lr_scale["gates"]
    run_stage(model, stage, docs, progress=False)
    assert all(p.requires_grad for p in model.part_parameters("gates"))
    assert not any(p.requires_grad for part in ("lm", "vision_encoder") for p in model.part_parameters(part))
    assert all(torch.equal(lm_before[k], v) for k, v in model.lm.state_dict().items())
    assert any(abs(g) > 0 for g in model.gate_values().values())


def test_ungated_blocks_have_no_gates_to_train():
    ungated = build(FLAMINGO.replace(gated=False))
    assert ungated.parts()["gates"] == [] and all(v == 0 for v in ungated.gate_values().values())


def test_labels_skip_markers_bos_and_padding(model, stills):
    docs = _episodes(stills, n=2, shots=1) + [Sample(stills[0][:1], text="<image> a red circle .")]
    batch = collate(model, docs)
    skipped = torch.isin(batch["input_ids"], torch.tensor(model.tokenizer.convert_tokens_to_ids(["<image>", "<bos>"])))
    assert (batch["labels"][skipped] == IGNORE_INDEX).all()
    assert (batch["labels"][batch["attention_mask"] == 0] == IGNORE_INDEX).all()
    assert [len(m) for m in batch["media"]] == [2, 2, 1]
    learned = model.tokenizer.decode(batch["labels"][2][batch["labels"][2] != IGNORE_INDEX])
    assert learned == "a red circle ."


def test_mismatched_media_is_a_clear_error(model, stills):
    batch = collate(model, _episodes(stills, n=2, shots=2))
    with pytest.raises(MediaMismatchError, match="placeholder"):
        model(batch["input_ids"], media=[m[:1] for m in batch["media"]])
    with pytest.raises(MediaMismatchError, match="placeholder"):
        model(batch["input_ids"])


def test_generation_with_kv_cache_matches_step_by_step_greedy(model, clips):
    _open_gates(model, 1.0, 1.0)  # the media matter
    media = clips[0]
    docs = [Sample(media[:2], text="look <video> a red circle <video> the"), Sample(media[2:3], text="<video> a")]
    batch = collate(model, docs, side="left")
    fast = model.generate(batch["input_ids"], batch["attention_mask"], batch["media"], max_new_tokens=5)
    for row in range(2):
        ids = batch["input_ids"][row:row + 1][:, batch["attention_mask"][row].bool()]
        slow = []
        with torch.no_grad():
            for _ in range(5):
                nxt = int(model(ids, media=batch["media"][row:row + 1]).logits[0, -1].argmax())
                slow.append(nxt)
                if nxt == model.eos_token_id:
                    break
                ids = torch.cat([ids, torch.tensor([[nxt]])], dim=1)
        assert fast[row].tolist()[: len(slow)] == slow


def test_save_load_round_trip_gives_identical_logits(clips, tmp_path):
    model = build(FLAMINGO.replace(cross_attn_every=2, reducer_args={**FLAMINGO.reducer_args, "temporal": False}))
    model.fit_standardizer(clips[0])
    with torch.no_grad():
        for k, block in enumerate(model.cross_attention):
            block.attn_gate.fill_(0.3 + k)
    batch = collate(model, [Sample(clips[0][:2], text="<video> a <video> b")])
    model.save_pretrained(tmp_path)
    loaded = VLM.from_pretrained(tmp_path)
    assert type(loaded) is CrossAttentionVLM and loaded.config == model.config
    assert loaded.gate_values() == model.gate_values() and len(loaded.cross_attention) == 2
    with torch.no_grad():
        assert torch.equal(model(**batch).logits, loaded(**batch).logits)


def test_left_padded_prompts_give_the_same_next_token_logits_as_unpadded(model, stills):
    _open_gates(model, 0.5)
    rng = np.random.default_rng(1)
    prompts = [il.naming_episode(*stills, rng, shots) for shots in (1, 4)]
    with torch.no_grad():
        together = model(**collate(model, prompts, side="left")).logits[:, -1]
        alone = model(**collate(model, prompts[:1], side="left")).logits[:, -1]
    torch.testing.assert_close(together[0], alone[0], atol=1e-4, rtol=1e-4)


# ---- the data --------------------------------------------------------------------------------
def test_stills_show_their_first_object_at_their_moment(stills):
    media, scenes = stills
    for item, scene in zip(media, scenes):
        assert item.modality == "image" and scene.visible(0, il.moment(item))
    assert [m.times for m in media] == [m.times for m in il.render_stills("train", 24, WorldConfig(max_objects=1))[0]]


def test_naming_episode_answer_is_the_name_shown_for_that_colour(stills):
    media, scenes = stills
    rng = np.random.default_rng(3)
    for _ in range(20):
        episode = il.naming_episode(media, scenes, rng, shots=6, ways=3)
        colours = [il.attribute(item, scenes[media.index(item)], "colour") for item in episode.media]
        assert list(episode.meta["colours"]) == colours and episode.scene is scenes[media.index(episode.media[-1])]
        names = episode.text.split(" .")[:-1]
        named = {c: n.split()[-1] for c, n in zip(colours[:-1], names)}
        assert named[colours[-1]] == episode.answer and len(set(named.values())) == len(named)
        assert episode.text.endswith(". <image>") and episode.kind == "naming"


def test_attribute_episode_asks_one_attribute_of_every_still(stills, tokenizer):
    media, scenes = stills
    truth = {id(item): scene for item, scene in zip(media, scenes)}
    rng = np.random.default_rng(4)
    for name in il.ATTRIBUTES:
        episode = il.attribute_episode(media, scenes, rng, shots=5, name=name)
        shown = [part.split(" ", 1)[1] for part in episode.text.split(" . ")[:-1]]
        assert shown == [il.attribute(m, truth[id(m)], name) for m in episode.media[:-1]]
        query = episode.media[-1]
        assert episode.answer == il.attribute(query, truth[id(query)], name) and episode.kind == name
        assert len({id(m) for m in episode.media}) == 6 and episode.text.endswith(". <image>")
        assert tokenizer.unk_token_id not in tokenizer(il.complete(episode).text).input_ids
    episode = il.attribute_episode(media, scenes, rng, shots=0)
    assert episode.text == "<image>" and len(episode.media) == 1
    asked = set()
    for _ in range(30):  # without a name, episodes ask each attribute
        episode = il.attribute_episode(media, scenes, rng, shots=1)
        shown = episode.text.split(" . ")[0].split(" ", 1)[1]
        asked |= {a for a in il.ATTRIBUTES if il.attribute(episode.media[0], truth[id(episode.media[0])], a) == shown}
    assert asked == set(il.ATTRIBUTES)
    with pytest.raises(ValueError, match="unknown attribute"):
        il.attribute(media[0], scenes[0], "size")
    with pytest.raises(ValueError, match="different stills"):
        il.attribute_episode(media, scenes, rng, shots=len(media))


def test_caption_documents_name_their_media_in_order(stills, clips):
    rng = np.random.default_rng(5)
    for (media, scenes), marker in ((stills, "<image>"), (clips, "<video>")):
        doc = il.caption_document(media, scenes, rng, num_media=3)
        assert doc.text.split().count(marker) == len(doc.media) == 3 and doc.kind == "caption"
    with pytest.raises(ValueError, match="episode"):
        il.complete(doc)


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


# ---- notebook 02's exercise checks: right answers pass, plausible wrong ones fail -------------
from minivlm.checks import CheckFailed  # noqa: E402
from minivlm.flamingo import check_media_index, check_media_mask  # noqa: E402


def _cumulative_mask(index, visual_mask):  # every media up to the token's, not only its own
    b, m, n = visual_mask.shape
    key = torch.arange(1, m + 1).repeat_interleave(n)
    return (key[None, None] <= index[:, :, None]) & visual_mask.reshape(b, 1, m * n)


def _padding_ignored(index, visual_mask):  # forgets that some visual tokens are padding
    return media_attention_mask(index, torch.ones_like(visual_mask))


def _off_by_one(index, visual_mask):  # media numbered from 0: token i sees media index[i] + 1
    b, m, n = visual_mask.shape
    key = torch.arange(m).repeat_interleave(n)
    return (index[:, :, None] == key) & visual_mask.reshape(b, 1, m * n)


def _index_without_marker(input_ids, ids):  # the marker itself counted with the text before it
    markers = torch.isin(input_ids, torch.as_tensor(list(ids)))
    return markers.long().cumsum(1) - markers.long()


def _index_only_first_marker_kind(input_ids, ids):  # '<video>' and '<audio>' not counted as media
    return (input_ids == ids[0]).long().cumsum(1)


def test_the_exercise_checks_accept_the_package_functions(monkeypatch, tokenizer):
    monkeypatch.setenv("MINIVLM_STRICT_CHECKS", "1")
    ids = tokenizer.convert_tokens_to_ids(["<image>", "<video>", "<audio>"])
    assert check_media_index(media_index, ids) and check_media_mask(media_attention_mask)


@pytest.mark.parametrize("wrong", [_cumulative_mask, _padding_ignored, _off_by_one])
def test_the_media_mask_check_rejects(wrong, monkeypatch):
    monkeypatch.setenv("MINIVLM_STRICT_CHECKS", "1")
    with pytest.raises(CheckFailed):
        check_media_mask(wrong)


@pytest.mark.parametrize("wrong", [_index_without_marker, _index_only_first_marker_kind])
def test_the_media_index_check_rejects(wrong, monkeypatch, tokenizer):
    monkeypatch.setenv("MINIVLM_STRICT_CHECKS", "1")
    ids = tokenizer.convert_tokens_to_ids(["<image>", "<video>", "<audio>"])
    with pytest.raises(CheckFailed):
        check_media_index(wrong, ids)
