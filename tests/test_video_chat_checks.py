"""Notebook 04's exercise checks: the package's answers pass; plausible wrong answers raise
under strict checks (as `make test` runs the solutions)."""

import pytest
import torch

from minivlm.checks import CheckFailed, report
from minivlm.data import sample_scenes
from minivlm.facts import Fact
from minivlm.instruct import Turn, colour_at_end, colour_at_end_problem
from minivlm.reducers import ValleyTemporal
from minivlm.video_chat import check_valley_temporal


# ---- exercise 1: a dialogue template answerable from the ground truth ------------------------------
def _turn(o, colour, t, answer=None):
    return Turn(f"what colour is the {o.name()} at the end ?", answer or f"{colour} .",
                (Fact("colour_at", o.name(), colour, t),), "colour")


def last_object(scene):  # the last visible object instead of the first
    t = scene.duration - 0.01
    for i in reversed(range(len(scene.objects))):
        if scene.visible(i, t):
            return _turn(scene.objects[i], scene.colour_at(i, t), t)
    return None


def colour_at_start_fact_at_end(scene):  # the colour at t = 0, claimed for the end
    t = scene.duration - 0.01
    for i, o in enumerate(scene.objects):
        if scene.visible(i, t):
            return _turn(o, scene.colour_at(i, 0.0), t)
    return None


def colour_at_start_fact_at_start(scene):  # the colour at t = 0, with a (true) fact at t = 0
    t = scene.duration - 0.01
    for i, o in enumerate(scene.objects):
        if scene.visible(i, t):
            return _turn(o, scene.colour_at(i, 0.0), 0.0)
    return None


def text_contradicts_fact(scene):  # the fact is right, the answer's text names another colour
    turn = colour_at_end(scene)
    if turn is None:
        return None
    other = "red" if turn.facts[0].value != "red" else "blue"
    return Turn(turn.question, f"{other} .", turn.facts, turn.skill)


def always_none(scene):
    return None


def test_the_scenes_hold_the_cases_the_wrong_answers_need():
    scenes = sample_scenes("val", 60)
    t = [s.duration - 0.01 for s in scenes]
    visible = [[i for i in range(len(s.objects)) if s.visible(i, tt)] for s, tt in zip(scenes, t)]
    assert any(len(v) >= 2 for v in visible)  # first ≠ last
    assert any(v and s.colour_at(v[0], 0.0) != s.colour_at(v[0], tt) for s, tt, v in zip(scenes, t, visible))
    assert any(not v for v in visible)  # a scene where nothing is left at the end


def test_the_package_template_passes(tokenizer, monkeypatch):
    monkeypatch.setenv("MINIVLM_STRICT_CHECKS", "1")
    assert colour_at_end_problem(colour_at_end, tokenizer) is None
    assert report("colour at the end", lambda: colour_at_end_problem(colour_at_end, tokenizer))


@pytest.mark.parametrize("wrong", [last_object, colour_at_start_fact_at_end, colour_at_start_fact_at_start,
                                   text_contradicts_fact, always_none])
def test_the_template_check_rejects(wrong, tokenizer, monkeypatch):
    monkeypatch.setenv("MINIVLM_STRICT_CHECKS", "1")
    assert colour_at_end_problem(wrong, tokenizer) is not None
    with pytest.raises(CheckFailed):
        report("colour at the end", lambda: colour_at_end_problem(wrong, tokenizer))


# ---- exercise 2: Valley's temporal module ------------------------------------------------------------
def valley_right(x, time_embedding, encoder):
    b, t, p, d = x.shape
    seq = x.permute(0, 2, 1, 3).reshape(b * p, t, d) + time_embedding[:t]
    return torch.cat([encoder(seq).view(b, p, t, d).mean(2), x.mean(2)], dim=1)


def no_time_embedding(x, time_embedding, encoder):
    b, t, p, d = x.shape
    seq = x.permute(0, 2, 1, 3).reshape(b * p, t, d)
    return torch.cat([encoder(seq).view(b, p, t, d).mean(2), x.mean(2)], dim=1)


def no_permute(x, time_embedding, encoder):  # mixes patches and frames
    b, t, p, d = x.shape
    seq = x.reshape(b * p, t, d) + time_embedding[:t]
    return torch.cat([encoder(seq).view(b, p, t, d).mean(2), x.mean(2)], dim=1)


def frame_tokens_first(x, time_embedding, encoder):
    out = valley_right(x, time_embedding, encoder)
    p = x.shape[2]
    return torch.cat([out[:, p:], out[:, :p]], dim=1)


def plain_average(x, time_embedding, encoder):  # Valley's v1: no transformer
    return torch.cat([x.mean(1), x.mean(2)], dim=1)


def test_the_valley_check_accepts_the_package_module(monkeypatch):
    monkeypatch.setenv("MINIVLM_STRICT_CHECKS", "1")
    assert check_valley_temporal(valley_right)
    module = ValleyTemporal(16, num_heads=4).eval()
    x = torch.randn(2, 4, 9, 16)
    assert torch.allclose(valley_right(x, module.time_embedding, module.encoder), module(x), atol=1e-5)


@pytest.mark.parametrize("wrong", [no_time_embedding, no_permute, frame_tokens_first, plain_average])
def test_the_valley_check_rejects(wrong, monkeypatch):
    monkeypatch.setenv("MINIVLM_STRICT_CHECKS", "1")
    with pytest.raises(CheckFailed):
        check_valley_temporal(wrong)
