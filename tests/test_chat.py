import pytest
import torch

from minivlm.chat import IGNORE_INDEX, encode_chat, encode_document, format_chat, pad_batch, qa_messages

CONVERSATION = [
    {"role": "system", "content": "answer in one word ."},
    {"role": "user", "content": "<video> what colour is the circle ?"},
    {"role": "assistant", "content": "red"},
    {"role": "user", "content": "and the square ?"},
    {"role": "assistant", "content": "blue"},
]


def test_template_text():
    assert format_chat(CONVERSATION[1:3]) == "<bos> <user> <video> what colour is the circle ? <assistant> red <eos>"
    assert format_chat(CONVERSATION[1:2], add_generation_prompt=True).endswith("<assistant>")


def test_labels_cover_only_assistant_turns(tokenizer):
    enc = encode_chat(tokenizer, CONVERSATION, tokens_per_media=3)
    learned = [tokenizer.convert_ids_to_tokens(i) for i in enc.labels if i != IGNORE_INDEX]
    assert learned == ["red", "<eos>", "blue", "<eos>"]
    assert len(enc.input_ids) == len(enc.labels)


def test_placeholders_expand_to_the_token_count(tokenizer):
    enc = encode_chat(tokenizer, CONVERSATION, tokens_per_media=5)
    video = tokenizer.convert_tokens_to_ids("<video>")
    assert enc.input_ids.count(video) == 5
    ids = enc.input_ids
    assert ids[ids.index(video):ids.index(video) + 5] == [video] * 5


def test_placeholder_media_mismatch_is_a_clear_error(tokenizer):
    with pytest.raises(ValueError, match="1 media placeholder.*2 media item"):
        encode_chat(tokenizer, CONVERSATION, num_media=2)


def test_padding_sides(tokenizer):
    a = encode_chat(tokenizer, qa_messages("how many objects are there ?", "two"))
    b = encode_chat(tokenizer, qa_messages("what shape ?", "circle", media=None))
    right = pad_batch([a, b], tokenizer.pad_token_id)
    left = pad_batch([a, b], tokenizer.pad_token_id, side="left")
    short = 1 if len(b.input_ids) < len(a.input_ids) else 0
    assert right["attention_mask"][short, -1] == 0 and left["attention_mask"][short, 0] == 0
    assert (right["labels"][right["attention_mask"] == 0] == IGNORE_INDEX).all()


def test_trim_padding_drops_all_padding_columns(tokenizer):
    from minivlm.chat import trim_padding

    a = encode_chat(tokenizer, qa_messages("how many objects are there ?", "two"))
    batch = pad_batch([a, a], tokenizer.pad_token_id)
    wide = {k: torch.nn.functional.pad(v, (0, 5), value=0) for k, v in batch.items()}
    trimmed = trim_padding(wide)
    assert all(torch.equal(trimmed[k], batch[k]) for k in batch)


def test_plain_documents_learn_every_token_but_bos(tokenizer):
    enc = encode_document(tokenizer, "red thud . blue two .")
    assert enc.input_ids[0] == tokenizer.bos_token_id and len(enc.input_ids) == 7
    assert enc.labels == [IGNORE_INDEX, *enc.input_ids[1:]]
