import dataclasses

import numpy as np
import pytest
import torch

from minivlm import build
from minivlm.data import clip_qa, describe, sample_scene, sample_scenes
from minivlm.facts import Fact, holds, read_facts, same_claim, scene_facts
from minivlm.instruct import (
    INSTRUCTION_KINDS,
    Instruction,
    LLMWriter,
    TemplateWriter,
    Turn,
    make_instructions,
    unknown_words,
    verify,
    write_instructions,
)
from minivlm.judge import (
    LLMJudge,
    RuleJudge,
    evaluate,
    judge_prompt,
    make_benchmark,
    model_answers,
    parse_judgement,
    temporal_question,
)
from minivlm.media import Media
from minivlm.reducers import SpatioTemporalPool, ValleyTemporal, build_reducer
from minivlm.samples import all_media, precompute, sample_batches
from minivlm.stages import run_stage
from minivlm.video_chat import RECIPES, VIDEO_CHATGPT_INSTRUCT, from_image_model


# ---- reducers -------------------------------------------------------------------------------
def test_spatio_temporal_pooling_values_on_a_hand_made_tensor():
    # B=1, T=2 frames, P=3 patches, D=1: frame 0 = [0, 1, 2], frame 1 = [3, 4, 5]
    x = torch.arange(6, dtype=torch.float32).reshape(1, 2, 3, 1)
    out = SpatioTemporalPool()(x)
    assert out.shape == (1, 2 + 3, 1)
    assert out[0, :, 0].tolist() == [1.0, 4.0, 1.5, 2.5, 3.5]  # frame means, then patch means over time


def test_spatio_temporal_pooling_shape_and_token_count():
    pool = SpatioTemporalPool()
    x = torch.randn(4, 8, 16, 32)
    assert pool(x).shape == (4, pool.num_tokens(8, 16), 32) == (4, 24, 32)
    with pytest.raises(ValueError, match=r"\(B, T, P, D\)"):
        pool(torch.randn(8, 16, 32))


def test_valley_module_shape_and_it_sees_frame_order():
    torch.manual_seed(0)
    valley = ValleyTemporal(32, num_heads=4).eval()
    x = torch.randn(2, 8, 16, 32)
    out = valley(x)
    assert out.shape == (2, valley.num_tokens(8, 16), 32) == (2, 24, 32)
    # The temporal module tells a clip from its reverse (averaging over time could not).
    reversed_clip = x.flip(1)
    assert not torch.allclose(out[:, :16], valley(reversed_clip)[:, :16], atol=1e-4)
    # The frame tokens are the per-frame means, in order.
    assert torch.allclose(out[:, 16:], x.mean(2), atol=1e-6)


def test_presets_build_their_reducers_with_t_plus_p_tokens_per_clip():
    valley = build_reducer("valley", 32, max_frames=16, num_heads=2)
    assert isinstance(valley, ValleyTemporal) and valley.max_frames == 16
    assert isinstance(build_reducer("spatio_temporal", 32), SpatioTemporalPool)
    clip = make_instructions("train", 1, num_frames=4)[0].media[0]
    for name, reducer in (("video-chatgpt", SpatioTemporalPool), ("valley", ValleyTemporal)):
        model = build(name)
        assert isinstance(model.vision_tokenizer.reducer, reducer)
        assert model.num_tokens(clip) == 4 + model.vision_encoder.num_patches


# ---- facts -----------------------------------------------------------------------------------
def test_a_description_reads_back_as_exactly_the_scene_facts():
    for scene in sample_scenes("train", 50):
        read = read_facts(describe(scene))
        truth = scene_facts(scene)
        assert all(holds(f, scene) for f in read)
        assert all(any(same_claim(t, r) for r in read) for t in truth)


def test_false_sentences_do_not_hold():
    scene = sample_scene("train", 3)  # an orange diamond moving left, a purple cross moving up
    assert [holds(f, scene) for f in read_facts("the orange diamond moves left . the purple cross moves down .")] \
        == [True, True, True, False]
    assert not holds(Fact("count", "", "five"), scene)
    assert holds(Fact("absent", "red circle"), scene)


# ---- instruction data -------------------------------------------------------------------------
def test_generated_conversations_are_consistent_with_the_ground_truth():
    writer = TemplateWriter(variety=0.5)
    scenes = sample_scenes("train", 150)
    instructions, owner = write_instructions(scenes, writer, seed=1)
    kinds = {ins.kind for ins in instructions}
    skills = {t.skill for ins in instructions for t in ins.turns}
    assert kinds == set(INSTRUCTION_KINDS)
    assert {"why", "what-if", "order", "direction", "count"} <= skills
    for ins, k in zip(instructions, owner):
        assert verify(ins, scenes[k]) == [], ins.messages()
        assert all(t.facts for t in ins.turns)  # every answer is checkable


def test_verify_catches_a_wrong_answer():
    scene = sample_scene("train", 3)
    wrong = Instruction("dialogue", [Turn("which way does the orange diamond move ?", "it moves right .",
                                          (Fact("motion", "orange diamond", "right"),))])
    assert len(verify(wrong, scene)) == 2  # the fact and the sentence are both false


def test_templates_use_only_known_words_and_share_one_clip_per_scene(tokenizer):
    samples = make_instructions("train", 60, num_frames=2)
    texts = [m["content"] for s in samples for m in s.messages]
    assert unknown_words(texts, tokenizer) == set()
    clips = all_media(samples)
    assert len(clips) == 60 and all(c.modality == "video" and tuple(c.pixels.shape) == (2, 64, 64, 3) for c in clips)
    assert all(c.times is not None and len(c.times) == 2 for c in clips)
    assert {s.meta["clip"] for s in samples} == set(range(60))
    for s in samples:
        ins = s.meta["instruction"]
        assert s.kind == ins.kind in INSTRUCTION_KINDS and s.messages == ins.messages()
        assert s.answer == ins.turns[-1].answer and verify(ins, s.scene) == []
    by_clip = {}
    for s in samples:  # the conversations of one clip hold the same Media object
        assert by_clip.setdefault(s.meta["clip"], s.media[0]) is s.media[0]


def test_order_questions_are_the_data_packages_order_questions():
    for k, scene in enumerate(sample_scenes("train", 60)):
        qa = clip_qa(scene, "order", np.random.default_rng(k))
        first = temporal_question(scene, "first", np.random.default_rng(k))
        assert (first is None) == (qa is None) and (qa is None or first == (qa.question, qa.answer))
    turns = [t for ins in write_instructions(sample_scenes("train", 200), seed=3)[0] for t in ins.turns
             if t.skill == "order"]
    asked = {t.question.split(" , ")[0] if t.question.startswith("what happens first") else t.question.split()[0]
             for t in turns}
    assert {"what happens first", "does", "what"} <= asked  # the three forms
    for t in turns:
        if t.question.startswith("what happens first"):
            assert t.answer.removesuffix(" .") in t.question


def test_llm_writer_keeps_only_answers_the_scene_confirms():
    scene = sample_scene("train", 3)
    prompts = []

    def fake_llm(prompt: str) -> str:
        prompts.append(prompt)
        return ("user: how many objects are there ?\nassistant: there are two objects .\n"
                "user: which way does the purple cross move ?\nassistant: it moves down .\n"
                "user: and the orange diamond ?\nassistant: the orange diamond moves left .\n"
                "user: is it nice ?\nassistant: very nice .")

    ins = LLMWriter(fake_llm).write(scene, "dialogue")
    assert describe(scene) in prompts[0]
    assert [t.answer for t in ins.turns] == ["there are two objects .", "the orange diamond moves left ."]
    assert verify(ins, scene) == []
    assert len(LLMWriter(fake_llm, check=False).write(scene, "dialogue").turns) == 4


# ---- judging ----------------------------------------------------------------------------------
SCENE = sample_scene("train", 3)
REFERENCE = describe(SCENE)
RIGHT = REFERENCE
PARTLY_WRONG = ("there are two objects . the orange diamond moves left . the purple cross moves down . "
                "at 0.5 seconds the purple cross appears .")
WRONG = "there are three objects . the red circle moves right . at 1.0 seconds the red circle stops ."


@pytest.mark.parametrize("criterion", ["correctness", "detail", "context"])
def test_rule_judge_orders_right_partly_wrong_wrong(criterion):
    judge = RuleJudge()
    scores = [judge.judge(criterion, "describe the video in detail .", a, REFERENCE, SCENE).score
              for a in (RIGHT, PARTLY_WRONG, WRONG)]
    assert scores[0] == 5.0 and scores[2] == 0.0
    if criterion == "context":  # the partly wrong answer names the right objects
        assert scores[1] == 5.0
    else:
        assert scores[0] > scores[1] > scores[2]


def test_rule_judge_temporal_and_qa_and_consistency():
    judge = RuleJudge()
    q = "what happens first , the purple cross appears or the orange diamond bounces off the left wall ?"
    right = judge.judge("temporal", q, "the purple cross appears .", "the purple cross appears .", SCENE)
    wrong = judge.judge("temporal", q, "the orange diamond bounces off the left wall .", "the purple cross appears .",
                        SCENE)
    assert (right.score, right.correct) == (5.0, True) and (wrong.score, wrong.correct) == (0.0, False)
    # Events told in the wrong order score lower than in the right order.
    ordered = "at 0.5 seconds the purple cross appears . at 3.0 seconds the purple cross bounces off the left wall ."
    swapped = "the purple cross bounces off the left wall . then the purple cross appears ."
    both = "the purple cross appears . the purple cross bounces off the left wall ."
    assert judge.judge("temporal", "what happens ?", ordered, both, SCENE).score > \
        judge.judge("temporal", "what happens ?", swapped, both, SCENE).score
    qa = [judge.judge("qa", "what colour is the cross ?", a, "purple", SCENE) for a in ("it is purple .", "purple , then orange .", "red .")]
    assert [v.correct for v in qa] == [True, False, False] and qa[0].score > qa[1].score > qa[2].score
    # Naming what the question already names is not a wrong word; naming another object is.
    named = judge.judge("qa", "what colour is the cross ?", "the cross is purple .", "purple", SCENE)
    other = judge.judge("qa", "what colour is the cross ?", "the diamond is purple .", "purple", SCENE)
    assert (named.score, named.correct) == (5.0, True) and not other.correct
    agree = judge.judge("consistency", "how many objects are there ?", "two .", "two", SCENE,
                        "how many shapes does the video show ?", "there are two objects .")
    differ = judge.judge("consistency", "how many objects are there ?", "two .", "two", SCENE,
                         "how many shapes does the video show ?", "three .")
    assert agree.score == 5.0 and agree.correct and differ.score < 2.5 and not differ.correct


def test_llm_judge_sends_the_prompt_and_parses_the_reply():
    seen = []
    judge = LLMJudge(lambda prompt: seen.append(prompt) or "here it is: {'pred': 'no', 'score': 2}")
    verdict = judge.judge("qa", "what colour is the cross ?", "red", "purple")
    assert (verdict.score, verdict.correct) == (2.0, False)
    assert "Correct Answer: purple" in seen[0] and "Predicted Answer: red" in seen[0]
    assert "Question 2: q2" in judge_prompt("consistency", "q1", "a1", "r", "q2", "a2")
    assert parse_judgement("{'score': 7}") == (5.0, None)
    with pytest.raises(ValueError, match="no score"):
        parse_judgement("I cannot judge this.")


def test_benchmark_and_evaluate_with_a_perfect_and_a_silent_model():
    scenes = sample_scenes("test", 12)
    items = make_benchmark(scenes)
    assert {it.set for it in items} == {"generic", "temporal", "consistency", "qa"}
    truth = {(it.clip, it.question): it.reference for it in items}
    truth.update({(it.clip, it.question2): it.reference for it in items if it.question2})
    perfect = evaluate(lambda clips, qs: [truth[(c, q)] for c, q in zip(clips, qs)], items, scenes, RuleJudge())
    silent = evaluate(lambda clips, qs: ["" for _ in qs], items, scenes, RuleJudge())
    assert all(v == 5.0 for k, v in perfect.summary.items() if k not in ("accuracy",))
    assert perfect.summary["accuracy"] == 1.0
    assert all(v == 0.0 for v in silent.summary.values())


def test_evaluate_runs_a_model_end_to_end_with_one_record_per_question():
    clips = make_instructions("test", 2, num_frames=2, kinds=("description",))
    scenes = [s.scene for s in clips]
    items = make_benchmark(scenes)
    model = build("video-chatgpt")
    media = model.precompute([s.media[0] for s in clips])
    report = evaluate(model_answers(model, media, long_tokens=4, short_tokens=3), items, scenes, RuleJudge())
    assert set(report.summary) >= {"correctness", "detail", "context", "temporal", "consistency", "accuracy", "score"}
    assert len(report.records) == len(items)
    assert all(0.0 <= v <= 5.0 for v in report.summary.values() if v == v)


def test_precompute_encodes_each_shared_clip_once_and_batches_keep_each_chat_with_its_clip():
    model = build("valley")
    samples = make_instructions("train", 6, num_frames=2)
    calls = []
    encode = model.encode_features
    model.encode_features = lambda items: calls.append(len(items)) or encode(items)
    encoded = precompute(model, samples)
    assert sum(calls) == 6 < len(samples)
    assert len(all_media(encoded)) == 6 and all(s.media[0].features is not None for s in encoded)
    owner = {id(s.media[0]): s.meta["clip"] for s in encoded}
    batches = sample_batches(model, encoded, batch_size=4)
    lengths = set()
    for _ in range(6):
        batch = next(batches)
        lengths.add(batch["input_ids"].shape[1])
        assert (batch["attention_mask"].sum(1) == batch["attention_mask"].shape[1]).any()  # no extra padding
        assert all(len(row) == 1 and id(row[0]) in owner for row in batch["media"])
    assert len(lengths) > 1


def test_video_chatgpt_trains_only_its_projector_and_valley_its_projector_and_lm():
    assert VIDEO_CHATGPT_INSTRUCT.train == ("vision_tokenizer",)
    assert [s.train for s in RECIPES["valley"]] == [("vision_tokenizer",), ("vision_tokenizer", "lm")]
    model = build("video-chatgpt")
    samples = precompute(model, make_instructions("train", 3, num_frames=2))
    model.fit_standardizer(all_media(samples))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    run_stage(model, dataclasses.replace(VIDEO_CHATGPT_INSTRUCT, steps=2, batch_size=4), samples, progress=False)
    changed = {k for k, v in model.state_dict().items() if not torch.equal(before[k], v)}
    assert changed and all(k.startswith("vision_tokenizer.connector.") for k in changed)


def test_a_video_model_starts_from_the_image_models_projector_and_statistics():
    image = build("llava")
    image.fit_standardizer([Media.video(torch.randint(0, 255, (2, 64, 64, 3), dtype=torch.uint8))])
    with torch.no_grad():
        image.vision_tokenizer.connector.proj.weight.add_(1.0)
    video = from_image_model("valley", image)
    for part in ("standardizer", "connector"):
        mine, theirs = (getattr(m.vision_tokenizer, part).state_dict() for m in (video, image))
        assert all(torch.equal(mine[k], theirs[k]) for k in theirs)
    assert isinstance(video.vision_tokenizer.reducer, ValleyTemporal)
    with torch.no_grad():
        video.vision_tokenizer.connector.proj.weight.zero_()
    assert image.vision_tokenizer.connector.proj.weight.abs().sum() > 0  # the image model is not changed
    with pytest.raises(ValueError, match="same connector"):
        from_image_model("valley", build("llava-1.5"))


def test_direction_items_ask_about_every_object_that_moves_from_the_start():
    from minivlm.judge import direction_items

    scenes = sample_scenes("test", 30)
    items = direction_items(scenes)
    assert items and all(it.set == "temporal" and it.kind == "direction" for it in items)
    for it in items:
        scene = scenes[it.clip]
        o = next(o for o in scene.objects if f"the {o.name()} move" in it.question)
        assert it.reference == o.direction and o.appear == 0 and (o.stop is None or o.stop >= 1.0)
    movers = sum(1 for s in scenes for o in s.objects if o.direction and o.appear == 0 and (o.stop is None or o.stop >= 1.0))
    assert len(items) == movers
    # judged like the benchmark's temporal direction questions: the right word is right
    report = evaluate(lambda clips, questions: [f"{it.reference} ." for it in items], items, scenes, RuleJudge())
    assert report.by_kind["temporal/direction"] == 1.0
