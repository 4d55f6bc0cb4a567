import numpy as np

from minivlm.data import (CLIP_QA_KINDS, STILL_QA_KINDS, caption, clip_qa, describe, sample_scenes, still_qa)


def test_every_clip_answer_matches_ground_truth():
    rng = np.random.default_rng(0)
    for s in sample_scenes("train", 60):
        by_name = {o.name(): o for o in s.objects}
        for kind in CLIP_QA_KINDS:
            qa = clip_qa(s, kind, rng)
            if qa is None:
                continue
            words = qa.question.split()
            if kind == "colour":
                shape = words[words.index("the") + 1]
                assert qa.answer == next(o.colour for o in s.objects if o.shape == shape)
            elif kind == "shape":
                colour = words[words.index("the") + 1]
                assert qa.answer == next(o.shape for o in s.objects if o.colour == colour)
            elif kind == "count":
                assert qa.answer == ["zero", "one", "two", "three"][len(s.objects)]
            elif kind == "direction":
                name = " ".join(words[4:6])
                assert qa.answer == by_name[name].direction
            elif kind == "when":
                i = [o.name() for o in s.objects].index(" ".join(words[3:5]))
                assert qa.span == s.visible_span(i)
                assert qa.answer == f"from {qa.span[0]:.1f} to {qa.span[1]:.1f} seconds"
            elif kind == "order":
                assert qa.answer in qa.question


def test_still_answers_match_the_frame():
    rng = np.random.default_rng(1)
    checked = 0
    for s in sample_scenes("train", 60):
        t = 1.0
        visible = [i for i in range(len(s.objects)) if s.visible(i, t)]
        colour_of = {s.objects[i].shape: s.colour_at(i, t) for i in visible}
        shape_of = {s.colour_at(i, t): s.objects[i].shape for i in visible}
        for kind in STILL_QA_KINDS:
            qa = still_qa(s, t, kind, rng)
            if qa is None:
                continue
            words = qa.question.split()
            if kind == "colour":
                assert qa.answer == colour_of[words[4]]
            elif kind == "shape":
                assert qa.answer == shape_of[words[4]]
            elif kind == "count":
                assert qa.answer == ["zero", "one", "two", "three"][len(visible)]
            checked += 1
    assert checked > 100


def test_text_is_canonical():
    for s in sample_scenes("train", 20):
        for text in (caption(s), describe(s)):
            assert text == text.lower() and "  " not in text
            assert all(len(w) == 1 or w.isalnum() or "." in w for w in text.split() if not w.isalpha())
