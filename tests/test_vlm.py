import pytest
import torch

from minivlm.chat import IGNORE_INDEX
from minivlm.data import make_clip_qa, make_still_qa
from minivlm.train import TrainConfig, random_batches, train
from minivlm.vlm import VLM, chat


@pytest.fixture(scope="module")
def clips():
    return make_clip_qa("train", 6, num_frames=2)


def _batch(model, qa):
    batch = model.prepare_chats(qa.messages(), num_frames=qa.frames.shape[1])
    return batch, model.pixels(qa.frames[:, None])


def test_visual_tokens_land_exactly_in_the_placeholder_slots(tiny_vlm, clips):
    batch, pix = _batch(tiny_vlm, clips)
    embeds = tiny_vlm.embed(batch["input_ids"], pixel_values=pix)
    visual = tiny_vlm.encode_media(pixel_values=pix)  # (B, 1, N, D)
    slots = batch["input_ids"] == tiny_vlm.tokenizer.convert_tokens_to_ids("<video>")
    assert visual.shape[2] == tiny_vlm.tokens_per_media(2) == 32
    assert torch.allclose(embeds[slots].view(visual.shape), visual)
    text = tiny_vlm.lm.get_input_embeddings()(batch["input_ids"])
    assert torch.equal(embeds[~slots], text[~slots])


def test_loss_counts_only_answer_tokens(tiny_vlm, clips):
    batch, pix = _batch(tiny_vlm, clips)
    answer_positions = batch["labels"] != IGNORE_INDEX
    assert answer_positions.sum() < batch["attention_mask"].sum() / 4
    # Changing a prompt word changes the logits but the loss only reads answer positions.
    out = tiny_vlm(**batch, pixel_values=pix)
    logits = out.logits[:, :-1]
    targets = batch["labels"][:, 1:]
    manual = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                                               ignore_index=IGNORE_INDEX)
    assert torch.allclose(out.loss, manual, atol=1e-5)


def test_pixels_and_cached_features_give_the_same_output(tiny_vlm, clips):
    batch, pix = _batch(tiny_vlm, clips)
    feats = tiny_vlm.cache_features(clips.frames)
    a = tiny_vlm(**batch, pixel_values=pix).logits
    b = tiny_vlm(**batch, vision_features=feats).logits
    assert torch.allclose(a, b, atol=1e-5)


def test_stage_freezing_leaves_frozen_parts_unchanged(tiny_vlm, clips):
    batch, pix = _batch(tiny_vlm, clips)
    tiny_vlm.set_trainable("vision_tokenizer")
    before = {k: v.clone() for k, v in tiny_vlm.state_dict().items()}
    train(tiny_vlm, random_batches({**batch, "pixel_values": pix}, 3), TrainConfig(steps=3, lr=1e-2, progress=False))
    after = tiny_vlm.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith("vision_tokenizer.connector") for k in changed)


def test_nothing_trainable_is_a_clear_error(tiny_vlm, clips):
    batch, pix = _batch(tiny_vlm, clips)
    tiny_vlm.requires_grad_(False)
    with pytest.raises(ValueError, match="nothing to train"):
        train(tiny_vlm, random_batches({**batch, "pixel_values": pix}, 3), TrainConfig(steps=1, progress=False))


def test_save_load_round_trip_gives_identical_logits(tiny_vlm, clips, tmp_path):
    batch, pix = _batch(tiny_vlm, clips)
    tiny_vlm.fit_standardizer(tiny_vlm.cache_features(clips.frames))
    tiny_vlm.save_pretrained(tmp_path)
    loaded = VLM.from_pretrained(tmp_path)
    assert type(loaded) is type(tiny_vlm)
    assert torch.equal(tiny_vlm(**batch, pixel_values=pix).logits, loaded(**batch, pixel_values=pix).logits)


def test_generation_with_kv_cache_matches_step_by_step_greedy(tiny_vlm, clips):
    pix = tiny_vlm.pixels(clips.frames[:1, None])
    batch = tiny_vlm.prepare_chats([[{"role": "user", "content": "<video> how many objects are there ?"}]],
                                   num_frames=2, add_generation_prompt=True)
    fast = tiny_vlm.generate(batch["input_ids"], batch["attention_mask"], pixel_values=pix, max_new_tokens=5)[0]
    ids = batch["input_ids"]
    slow = []
    for _ in range(5):
        logits = tiny_vlm(ids, pixel_values=pix).logits[0, -1]
        nxt = int(logits.argmax())
        slow.append(nxt)
        if nxt == tiny_vlm.eos_token_id:
            break
        ids = torch.cat([ids, torch.tensor([[nxt]])], dim=1)
    assert fast.tolist()[: len(slow)] == slow


def test_mismatched_media_and_placeholders_is_a_clear_error(tiny_vlm, clips):
    batch, pix = _batch(tiny_vlm, clips)
    with pytest.raises(ValueError, match="media and prompt do not match"):
        tiny_vlm(**batch, pixel_values=torch.cat([pix, pix], dim=1))
    with pytest.raises(ValueError, match="no pixel_values"):
        tiny_vlm(**batch)


def test_wrong_media_shape_is_a_clear_error(tiny_vlm, clips):
    batch, _ = _batch(tiny_vlm, clips)
    with pytest.raises(ValueError, match=r"\(B, M, T, 3, H, W\)"):
        tiny_vlm(**batch, pixel_values=torch.randn(6, 2, 3, 64, 64))


def test_chat_answers_about_an_image_and_streams(tiny_vlm):
    still = make_still_qa("test", 1)
    pieces = []
    text = chat(tiny_vlm, still.frames[0, 0].numpy(), still.questions[0], max_new_tokens=4, on_token=pieces.append)
    assert isinstance(text, str) and len(pieces) >= 1
    assert text.split() == " ".join(pieces).split()


def test_answer_batch_returns_one_answer_per_question(tiny_vlm, clips):
    feats = tiny_vlm.cache_features(clips.frames)
    answers = tiny_vlm.answer_batch(clips.questions, vision_features=feats, batch_size=4, max_new_tokens=3)
    assert len(answers) == len(clips) and all(isinstance(a, str) for a in answers)
