import pytest
import torch

from minivlm import llava
from minivlm.chat import IGNORE_INDEX, encode_chat
from minivlm.connectors import MLP, Linear
from minivlm.vlm import build_llava, chat


@pytest.fixture(scope="module")
def captions():
    return llava.make_caption_set("train", 6)


@pytest.fixture(scope="module")
def instructions():
    return llava.as_chat_set(llava.make_instruct_qa("train", 5)) + llava.make_dialogue_set("train", 3)


def _snapshot(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _changed(before, module):
    after = module.state_dict()
    return {k for k in before if not torch.equal(before[k], after[k])}


@pytest.mark.parametrize("connector", [Linear(128, 64), MLP(128, 64), MLP(128, 64, hidden_dim=32)])
def test_connectors_map_every_token_to_the_lm_width(connector):
    x = torch.randn(3, 2, 16, 128)
    assert connector(x).shape == (3, 2, 16, 64)
    # per token: a token's output depends on that token alone
    y = x.clone()
    y[:, :, 5] += 1
    diff = (connector(y) - connector(x)).abs().sum(-1)
    assert diff[:, :, 5].min() > 0 and diff[:, :, [i for i in range(16) if i != 5]].max() == 0


def test_mlp_is_nonlinear_and_linear_is_not():
    x = torch.randn(4, 128)
    for connector, linear in ((Linear(128, 64), True), (MLP(128, 64), False)):
        step_up = connector(2 * x) - connector(x)
        additive = torch.allclose(step_up, connector(x) - connector(torch.zeros_like(x)), atol=1e-5)
        assert additive == linear


def test_build_llava_picks_the_projector(tiny_vlm):
    assert isinstance(tiny_vlm.vision_tokenizer.connector, MLP)
    encoder, lm, tok = tiny_vlm.vision_encoder, tiny_vlm.lm, tiny_vlm.tokenizer
    assert isinstance(build_llava(encoder, lm, tok, "linear").vision_tokenizer.connector, Linear)
    with pytest.raises(ValueError, match="linear.*mlp"):
        build_llava(encoder, lm, tok, "perceiver")


def test_label_mask_covers_every_assistant_turn_of_a_dialogue(tokenizer, instructions):
    conversation = instructions.conversations[-1]
    assert sum(m["role"] == "assistant" for m in conversation) == 3
    enc = encode_chat(tokenizer, conversation, tokens_per_media=4)
    learned = [tokenizer.convert_ids_to_tokens(i) for i in enc.labels if i != IGNORE_INDEX]
    expected = []
    for m in conversation:
        if m["role"] == "assistant":
            expected += m["content"].split() + ["<eos>"]
    assert learned == expected
    # every learned label sits on its own input token; questions and visual slots are masked
    for i, label in zip(enc.input_ids, enc.labels):
        assert label in (IGNORE_INDEX, i)
    image = tokenizer.convert_tokens_to_ids("<image>")
    assert all(label == IGNORE_INDEX for i, label in zip(enc.input_ids, enc.labels) if i == image)


def test_caption_and_dialogue_data_are_deterministic_and_well_formed(captions):
    again = llava.make_caption_set("train", 6)
    assert torch.equal(captions.frames, again.frames) and captions.conversations == again.conversations
    assert captions.frames.shape == (6, 1, 64, 64, 3) and captions.frames.dtype == torch.uint8
    for c in captions.conversations:
        assert c[0]["content"].startswith("<image>") and c[1]["content"].endswith(".")
    qa = llava.make_instruct_qa("test", 10)
    assert set(qa.kinds) == set(llava.INSTRUCT_KINDS)
    with pytest.raises(ValueError, match="unknown question kinds"):
        llava.make_instruct_qa("test", 2, kinds=("direction",))


def test_stages_fit_the_feature_standardizer_first(tiny_vlm, captions):
    llava.align_stage(tiny_vlm, captions, steps=1, batch_size=3, progress=False)
    features = tiny_vlm.cache_features(captions.frames)
    assert torch.allclose(tiny_vlm.vision_tokenizer.standardizer.mean, features.reshape(-1, 128).mean(0), atol=1e-5)


def test_stage1_trains_only_the_projector(tiny_vlm, captions):
    tiny_vlm.fit_standardizer(tiny_vlm.cache_features(captions.frames))
    before = _snapshot(tiny_vlm)
    history = llava.align_stage(tiny_vlm, captions, steps=2, lr=1e-2, batch_size=3, progress=False)
    changed = _changed(before, tiny_vlm)
    assert len(history.loss) == 2
    assert changed and all(k.startswith("vision_tokenizer.connector") for k in changed)
    assert all(p.requires_grad for p in tiny_vlm.vision_tokenizer.connector.parameters())
    assert not any(p.requires_grad for p in tiny_vlm.lm.parameters())


def test_stage2_trains_projector_and_lm_but_not_the_encoder(tiny_vlm, instructions):
    before = _snapshot(tiny_vlm)
    llava.instruct_stage(tiny_vlm, instructions, steps=2, lr=1e-2, batch_size=4, progress=False)
    changed = _changed(before, tiny_vlm)
    assert not any(k.startswith("vision_encoder") for k in changed)
    assert any(k.startswith("lm.") for k in changed)
    assert any(k.startswith("vision_tokenizer.connector") for k in changed)


def test_stages_freeze_an_unfrozen_encoder(tiny_vlm, captions):
    tiny_vlm.vision_encoder.requires_grad_(True)
    llava.align_stage(tiny_vlm, captions, steps=1, progress=False)
    assert not any(p.requires_grad for p in tiny_vlm.vision_encoder.parameters())


def test_cached_features_must_match_the_data(tiny_vlm, captions):
    with pytest.raises(ValueError, match="cached features"):
        llava.align_stage(tiny_vlm, captions, steps=1, features=torch.zeros(2, 1, 1, 16, 128), progress=False)


def test_trained_model_chats_and_evaluates(tiny_vlm, instructions):
    llava.instruct_stage(tiny_vlm, instructions, steps=1, batch_size=4, progress=False)
    qa = llava.make_instruct_qa("test", 5)
    pieces = []
    text = chat(tiny_vlm, qa.frames[0, 0].numpy(), qa.questions[0], max_new_tokens=3, on_token=pieces.append)
    assert isinstance(text, str) and text.split() == " ".join(pieces).split()
    scores = llava.evaluate_qa(tiny_vlm, qa)
    assert set(scores) == set(qa.kinds) | {"all"} and all(0 <= v <= 1 for v in scores.values())
