import pytest
import torch

from minivlm.data import describe, sample_scene, sample_scenes
from minivlm.facts import Fact, holds, read_facts, same_claim, scene_facts
from minivlm.instruct import (
    INSTRUCTION_KINDS,
    Instruction,
    LLMWriter,
    TemplateWriter,
    Turn,
    instruction_batches,
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
    parse_judgement,
)
from minivlm.parts import build_part, part_spec
from minivlm.reducers import SpatioTemporalPool, ValleyTemporal


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


def test_reducers_rebuild_from_their_spec():
    valley = ValleyTemporal(32, num_heads=2, max_frames=16)
    rebuilt = build_part(part_spec(valley))
    assert isinstance(rebuilt, ValleyTemporal) and rebuilt.max_frames == 16
    assert isinstance(build_part(part_spec(SpatioTemporalPool())), SpatioTemporalPool)


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


def test_templates_use_only_known_words(tokenizer):
    data = make_instructions("train", 60, num_frames=2)
    texts = [m["content"] for msgs in data.messages() for m in msgs]
    assert unknown_words(texts, tokenizer) == set()
    assert data.frames.shape == (60, 2, 64, 64, 3)
    assert len(data) == len(data.clip) and max(data.clip) == 59


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


def test_evaluate_runs_a_model_end_to_end_with_one_record_per_question(tiny_vlm):
    scenes = sample_scenes("test", 2)
    items = make_benchmark(scenes)
    tiny_vlm.vision_tokenizer.reducer = SpatioTemporalPool()
    features = torch.randn(2, 1, 2, tiny_vlm.vision_encoder.num_patches, tiny_vlm.vision_encoder.width)

    def answer_fn(clips, questions):
        return tiny_vlm.answer_batch(questions, vision_features=features[clips], max_new_tokens=3)

    report = evaluate(answer_fn, items, scenes, RuleJudge())
    assert set(report.summary) >= {"correctness", "detail", "context", "temporal", "consistency", "accuracy", "score"}
    assert len(report.records) == len(items)
    assert all(0.0 <= v <= 5.0 for v in report.summary.values())


def test_instruction_batches_pad_per_batch_and_pair_each_chat_with_its_clip(tiny_vlm):
    data = make_instructions("train", 6, num_frames=2)
    features = torch.arange(6, dtype=torch.float32).view(6, 1, 1, 1, 1).expand(6, 1, 2, 16, 8)
    batches = instruction_batches(tiny_vlm, data.messages(), features, data.clip, batch_size=4)
    rows = tiny_vlm.prepare_chats(data.messages(), num_frames=2)["input_ids"]
    lengths = set()
    for _ in range(6):
        batch = next(batches)
        lengths.add(batch["input_ids"].shape[1])
        assert batch["vision_features"].shape == (4, 1, 2, 16, 8)
        assert (batch["attention_mask"].sum(1) == batch["attention_mask"].shape[1]).any()  # no extra padding
        for ids, clip_features in zip(batch["input_ids"], batch["vision_features"]):
            same_text = [k for k, row in enumerate(rows) if torch.equal(row[: len(ids)], ids)]
            # the features in the batch are those of the clip that owns this conversation
            assert {data.clip[k] for k in same_text} == {int(clip_features[0, 0, 0, 0])}
    assert len(lengths) > 1
