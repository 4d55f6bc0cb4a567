import pytest
import torch

from minivlm.lm import ModelNotAvailable, build_lm, load_lm, time_tokens


def test_tokenizer_round_trips_canonical_text(tokenizer):
    text = "<bos> <user> <video> what colour is the circle ? <assistant> red <eos> from 2.5 to 4.0 seconds <t7>"
    ids = tokenizer(text, add_special_tokens=False).input_ids
    assert tokenizer.unk_token_id not in ids
    assert tokenizer.decode(ids) == text


def test_special_and_time_tokens_are_single_tokens(tokenizer):
    for tok in ["<image>", "<video>", "<audio>", "<user>", "<assistant>", *time_tokens()[:3], "<t99>"]:
        assert len(tokenizer(tok, add_special_tokens=False).input_ids) == 1


def test_unknown_words_become_unk(tokenizer):
    ids = tokenizer("what about a zebra", add_special_tokens=False).input_ids
    assert ids[-1] == tokenizer.unk_token_id


def test_save_load_round_trip_gives_identical_logits(tokenizer, tmp_path):
    lm = build_lm(tokenizer, hidden_size=64, num_layers=2, num_heads=2)
    lm.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    lm2, tok2 = load_lm(tmp_path)
    x = torch.tensor([tokenizer("the red circle moves left .").input_ids])
    assert torch.equal(lm(x).logits, lm2(x).logits)
    assert tok2.get_vocab() == tokenizer.get_vocab()


def test_unknown_model_name_offline_is_a_clear_error():
    with pytest.raises(ModelNotAvailable, match="toy_lm"):
        load_lm("no-such-org/no-such-model-xyz")
