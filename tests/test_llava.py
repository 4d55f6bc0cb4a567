import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from minivlm import build, llava
from minivlm.chat import IGNORE_INDEX
from minivlm.checks import CheckFailed
from minivlm.connectors import MLP, Linear
from minivlm.eval import evaluate
from minivlm.samples import all_media, collate, precompute
from minivlm.stages import run_recipe, run_stage


@pytest.fixture(scope="module")
def captions():
    return llava.make_caption_set("train", 6)


@pytest.fixture(scope="module")
def instructions():
    return llava.make_instruct_qa("train", 5) + llava.make_dialogue_set("train", 3)


def _snapshot(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _changed(before, module):
    after = module.state_dict()
    return {k for k in before if not torch.equal(before[k], after[k])}


def _visible(sample):
    t = sample.meta["time"]
    return [i for i in range(len(sample.scene.objects)) if sample.scene.visible(i, t)]


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


def test_presets_pick_the_projector(tiny_vlm):
    assert isinstance(tiny_vlm.vision_tokenizer.connector, MLP)  # llava-1.5
    assert isinstance(build("llava").vision_tokenizer.connector, Linear)
    assert isinstance(build("llava-1.5", connector="linear").vision_tokenizer.connector, Linear)
    assert llava.LLAVA.replace(name="llava-1.5", connector="mlp") == llava.LLAVA_15  # the one difference
    assert llava.LLAVA.feature_layer == -2 and not llava.LLAVA.keep_cls  # penultimate layer, no CLS
    with pytest.raises(ValueError, match="linear.*mlp"):
        build("llava", connector="perceiver")


def test_the_recipe_is_two_stages_as_data():
    assert llava.RECIPE == [llava.ALIGN, llava.INSTRUCT]
    assert (llava.ALIGN.train, llava.ALIGN.data, llava.ALIGN.lr) == (("vision_tokenizer",), "captions", 2e-3)
    assert (llava.INSTRUCT.train, llava.INSTRUCT.data, llava.INSTRUCT.lr) == (("vision_tokenizer", "lm"),
                                                                              "instructions", 1e-3)


def test_label_mask_covers_every_assistant_turn_of_a_dialogue(tiny_vlm, instructions):
    sample = instructions[-1]
    assert sample.kind == "dialogue" and sum(m["role"] == "assistant" for m in sample.messages) == 3
    batch = collate(tiny_vlm, [sample])
    ids, labels = batch["input_ids"][0], batch["labels"][0]
    tokenizer = tiny_vlm.tokenizer
    learned = tokenizer.convert_ids_to_tokens(labels[labels != IGNORE_INDEX].tolist())
    expected = []
    for m in sample.messages:
        if m["role"] == "assistant":
            expected += m["content"].split() + ["<eos>"]
    assert learned == expected
    # every learned label sits on its own input token; questions and visual slots are masked
    assert all(label in (IGNORE_INDEX, i) for i, label in zip(ids.tolist(), labels.tolist()))
    image = ids == tokenizer.convert_tokens_to_ids("<image>")
    assert image.sum() == tiny_vlm.num_tokens(sample.media[0]) and (labels[image] == IGNORE_INDEX).all()


def test_caption_and_dialogue_data_are_deterministic_and_well_formed(captions):
    again = llava.make_caption_set("train", 6)
    assert all(torch.equal(a.media[0].pixels, b.media[0].pixels) and a.messages == b.messages
               for a, b in zip(captions, again))
    for s in captions:
        assert s.kind == "caption" and len(s.media) == 1 and s.media[0].modality == "image"
        assert s.media[0].pixels.shape == (1, 64, 64, 3) and s.media[0].pixels.dtype == torch.uint8
        assert s.messages[0]["content"].startswith("<image>") and s.answer.endswith(".")
        assert _visible(s)  # every still shows something
    dialogues = llava.make_dialogue_set("test", 4)
    assert [s.kind for s in dialogues] == ["dialogue"] * 4
    assert [s.messages for s in dialogues] == [s.messages for s in llava.make_dialogue_set("test", 4)]
    assert all(s.messages[-1]["content"] == llava.NUMBER_WORDS[len(_visible(s))] for s in dialogues)


def test_instruct_qa_cycles_through_its_kinds_and_binding_means_several_objects():
    qa = llava.make_instruct_qa("test", 10)
    assert [s.kind for s in qa] == list(llava.INSTRUCT_KINDS) * 2
    for s in qa:
        assert s.messages[0]["content"] == f"<image> {s.question}" and s.answer == s.messages[1]["content"]
        if s.kind == "binding":
            assert len(_visible(s)) >= 2
        if s.kind in ("colour", "shape"):
            assert len(_visible(s)) == 1
    with pytest.raises(ValueError, match="unknown question kinds"):
        llava.make_instruct_qa("test", 2, kinds=("direction",))


def test_precomputed_features_give_the_same_loss(tiny_vlm, captions):
    tiny_vlm.fit_standardizer(all_media(captions))
    encoded = precompute(tiny_vlm, captions)
    assert all(s.media[0].features is not None and s.media[0].pixels is None for s in encoded)
    with torch.no_grad():
        raw = tiny_vlm(**collate(tiny_vlm, captions)).loss
        cached = tiny_vlm(**collate(tiny_vlm, encoded)).loss
    assert torch.allclose(raw, cached, atol=1e-5)


def test_the_standardizer_is_fitted_explicitly_and_never_by_a_stage(tiny_vlm, captions):
    standardizer = tiny_vlm.vision_tokenizer.standardizer
    run_stage(tiny_vlm, replace(llava.ALIGN, steps=1, batch_size=3), captions, progress=False)
    assert torch.all(standardizer.mean == 0) and torch.all(standardizer.std == 1)  # untouched
    tiny_vlm.fit_standardizer(all_media(captions))
    features = torch.cat(tiny_vlm.encode_features(all_media(captions)))
    assert torch.allclose(standardizer.mean, features.reshape(-1, features.shape[-1]).mean(0), atol=1e-5)


def test_stage1_trains_only_the_projector(tiny_vlm, captions):
    tiny_vlm.fit_standardizer(all_media(captions))
    before = _snapshot(tiny_vlm)
    history = run_stage(tiny_vlm, replace(llava.ALIGN, steps=2, lr=1e-2, batch_size=3), captions, progress=False)
    changed = _changed(before, tiny_vlm)
    assert len(history.loss) == 2
    assert changed and all(k.startswith("vision_tokenizer.connector") for k in changed)
    assert all(p.requires_grad for p in tiny_vlm.vision_tokenizer.connector.parameters())
    assert not any(p.requires_grad for p in tiny_vlm.lm.parameters())


def test_stage2_trains_projector_and_lm_but_not_the_encoder(tiny_vlm, instructions):
    tiny_vlm.fit_standardizer(all_media(instructions))
    before = _snapshot(tiny_vlm)
    run_stage(tiny_vlm, replace(llava.INSTRUCT, steps=2, lr=1e-2, batch_size=4), instructions, progress=False)
    changed = _changed(before, tiny_vlm)
    assert not any(k.startswith("vision_encoder") for k in changed)
    assert any(k.startswith("lm.") for k in changed)
    assert any(k.startswith("vision_tokenizer.connector") for k in changed)


def test_stages_freeze_an_unfrozen_encoder(tiny_vlm, captions):
    tiny_vlm.vision_encoder.requires_grad_(True)
    run_stage(tiny_vlm, replace(llava.ALIGN, steps=1, batch_size=3), captions, progress=False)
    assert not any(p.requires_grad for p in tiny_vlm.vision_encoder.parameters())


def test_the_recipe_runs_each_stage_on_its_data(tiny_vlm, captions, instructions):
    recipe = [replace(stage, steps=1, batch_size=3) for stage in llava.RECIPE]
    with pytest.raises(KeyError, match="instructions"):
        run_recipe(tiny_vlm, recipe, {"captions": captions}, progress=False)
    histories = run_recipe(tiny_vlm, recipe, {"captions": captions, "instructions": instructions}, progress=False)
    assert list(histories) == [llava.ALIGN.name, llava.INSTRUCT.name]
    assert all(len(h.loss) == 1 for h in histories.values())


def test_trained_model_chats_and_evaluates(tiny_vlm, instructions):
    tiny_vlm.fit_standardizer(all_media(instructions))
    run_stage(tiny_vlm, replace(llava.INSTRUCT, steps=1, batch_size=4), instructions, progress=False)
    qa = llava.make_instruct_qa("test", 5)
    pieces = []
    text = tiny_vlm.chat(qa[0].media[0].pixels[0].numpy(), qa[0].question, max_new_tokens=3, on_token=pieces.append)
    assert isinstance(text, str) and text.split() == " ".join(pieces).split()
    # a follow-up: the first turn (with its placeholder) comes back as history
    history = [qa[0].messages[0], {"role": "assistant", "content": text}]
    assert isinstance(tiny_vlm.chat(qa[0].media[0], "where is it ?", history=history, max_new_tokens=3), str)
    scores = evaluate(tiny_vlm, qa)
    assert set(scores) == {s.kind for s in qa} | {"all"} and all(0 <= v <= 1 for v in scores.values())
    assert evaluate(tiny_vlm, precompute(tiny_vlm, qa)) == scores  # the same answers from cached features


# ---- LLaVA's data: instructions written from text --------------------------------------------
def test_the_writer_sees_only_text_and_writes_what_the_boxes_say():
    samples = llava.make_written_instructions("train", 30)
    assert [s.kind for s in samples] == list(llava.WRITER_KINDS) * 10
    writer = llava.TextOnlyWriter()
    for k, s in enumerate(samples):
        context = s.meta["context"]
        # the writer's whole input is the context string: writing from it again gives the same text
        assert writer.write(context, s.kind, np.random.default_rng([k, 53])) == s.messages
        assert s.messages[0]["content"].startswith("<image> ") and s.messages[-1]["role"] == "assistant"
        t, scene = s.meta["time"], s.scene
        visible = _visible(s)
        boxes = llava.read_boxes(context)
        assert context.splitlines()[0] == f"caption: {llava.still_caption(scene, t)}"
        assert [b.name for b in boxes] == [f"{scene.colour_at(i, t)} {scene.objects[i].shape}" for i in visible]
        for b, i in zip(boxes, visible):  # each box is centred on its object
            x, y = scene.position(i, t)
            assert abs(b.centre[0] - x) < 0.02 and abs(b.centre[1] - y) < 0.02
        if s.kind == "conversation":
            assert s.messages[-1]["content"].split()[2] == llava.NUMBER_WORDS[len(visible)]
        if s.kind == "detail":
            assert all(b.name in s.answer for b in boxes)


def test_written_instructions_are_deterministic_and_known_to_the_tokenizer(tokenizer):
    from minivlm.instruct import unknown_words

    a, b = llava.make_written_instructions("val", 12), llava.make_written_instructions("val", 12)
    assert [s.messages for s in a] == [s.messages for s in b]
    assert not unknown_words([m["content"] for s in a for m in s.messages] + [llava.FORMAT_PROMPT], tokenizer)


def test_a_reasoning_answer_follows_the_boxes():
    writer = llava.TextOnlyWriter()
    context = "caption: a red circle and a blue square .\nboxes:\nred circle: [0.000, 0.000, 0.200, 0.200]\n" \
              "blue square: [0.100, 0.700, 0.300, 0.900]"
    for seed in range(6):
        (_, answer), = [(m["content"], n["content"]) for m, n in
                        zip(*[iter(writer.write(context, "reasoning", np.random.default_rng(seed)))] * 2)]
        assert answer in ("yes , the red circle is above the blue square .",
                          "no , the blue square is below the red circle .")
    with pytest.raises(ValueError, match="no boxes"):
        llava.read_boxes("caption: a red circle .")
    with pytest.raises(ValueError, match="unknown instruction kind"):
        writer.write(context, "poem", np.random.default_rng(0))


def test_the_format_prompt_goes_after_the_last_question_only():
    qa = llava.make_instruct_qa("val", 3)
    prompted = llava.with_format_prompt(qa)
    for s, p in zip(qa, prompted):
        assert p.messages[0]["content"] == f"{s.messages[0]['content']} {llava.FORMAT_PROMPT}"
        assert p.answer == s.answer and p.question.endswith("single word or phrase .")
    assert "single" not in qa[0].messages[0]["content"]  # the originals are untouched
    dialogue = llava.with_format_prompt(llava.make_dialogue_set("val", 1))[0]
    assert [m["content"].endswith(llava.FORMAT_PROMPT) for m in dialogue.messages] == [False] * 4 + [True, False]


# ---- notebook 03's exercise checks --------------------------------------------------------------
def _splice(embeds, ids, visual, image_id):
    out = embeds.clone()
    out[ids == image_id] = torch.cat(list(visual))
    return out


def _labels(ids, assistant_id, eos_id, first_only=False, keep_marker=False, keep_eos=True):
    out, on, turns = [], False, 0
    for i in ids:
        out.append(i if on and (keep_eos or i != eos_id) else IGNORE_INDEX)
        if i == assistant_id and (turns == 0 or not first_only):
            on, turns = True, turns + 1
            if keep_marker:
                out[-1] = i
        if i == eos_id:
            on = False
    return out


WRONG_SPLICE = {
    "added to the placeholder embedding": lambda e, ids, v, k: e + torch.zeros_like(e).masked_scatter(
        (ids == k)[:, None], torch.cat(list(v))),
    "images in reverse order": lambda e, ids, v, k: _splice(e, ids, v[::-1], k),
    "each image's tokens reversed": lambda e, ids, v, k: _splice(e, ids, [x.flip(0) for x in v], k),
    "one slot too late": lambda e, ids, v, k: _splice(e, torch.roll(ids, 1), v, k),
}
WRONG_LABELS = {
    "no masking": lambda ids, a, e: list(ids),
    "the <assistant> marker learned too": lambda ids, a, e: _labels(ids, a, e, keep_marker=True),
    "the <eos> not learned": lambda ids, a, e: _labels(ids, a, e, keep_eos=False),
    "only the first reply": lambda ids, a, e: _labels(ids, a, e, first_only=True),
    "shifted by one, as if predicting the next token": lambda ids, a, e: _labels(ids, a, e)[1:] + [IGNORE_INDEX],
}


def test_the_solutions_pass_the_checks(tiny_vlm):
    assert llava.check_splice(_splice, tiny_vlm)
    assert llava.check_label_mask(_labels, tiny_vlm)


@pytest.mark.parametrize("name", sorted(WRONG_SPLICE))
def test_the_splice_check_rejects(name, tiny_vlm, monkeypatch):
    monkeypatch.setenv("MINIVLM_STRICT_CHECKS", "1")
    with pytest.raises(CheckFailed):
        llava.check_splice(WRONG_SPLICE[name], tiny_vlm)


@pytest.mark.parametrize("name", sorted(WRONG_LABELS))
def test_the_label_mask_check_rejects(name, tiny_vlm, monkeypatch):
    monkeypatch.setenv("MINIVLM_STRICT_CHECKS", "1")
    with pytest.raises(CheckFailed):
        llava.check_label_mask(WRONG_LABELS[name], tiny_vlm)


def test_notebook_03_cites_only_files_in_the_repository():
    root = Path(__file__).resolve().parents[1]
    text = (root / "course" / "03_llava.py").read_text()
    for name in re.findall(r"\b([\w/]+\.(?:md|py|json))\b", text):
        assert (root / name).exists() or (root / "minivlm" / name).exists() or name.startswith("results/"), \
            f"notebook 03 cites {name}, which is not in the repository"
