"""LITA (notebook 07): time tokens, RTL data, SlowFast tokens, localization metrics, the preset
and the notebook's exercise checks (each must reject plausible wrong answers)."""

import numpy as np
import pytest
import torch

from minivlm import build
from minivlm.checks import CheckFailed
from minivlm.data import event_words, rtl
from minivlm.eval import localization_scores, temporal_iou
from minivlm.lita import LAYOUTS, check_iou, check_slowfast, check_time_tokens, evaluate_rtl, prior_spans
from minivlm.reducers import REDUCERS, SlowFastTokens, build_reducer
from minivlm.samples import all_media, collate, precompute


# ---- time tokens ------------------------------------------------------------------------------
@pytest.mark.parametrize("num_tokens", [16, 100])
@pytest.mark.parametrize("duration", [4.0, 7.3, 15.9, 50.0])
def test_time_tokens_round_trip(duration, num_tokens):
    step = duration / (num_tokens - 1)
    for k in range(num_tokens):  # token → time → token is exact
        assert rtl.time_token(rtl.token_time(f"<t{k}>", duration, num_tokens), duration, num_tokens) == f"<t{k}>"
    for t in np.linspace(0, duration, 37):  # time → token → time is within half a token's step
        back = rtl.token_time(rtl.time_token(t, duration, num_tokens), duration, num_tokens)
        assert abs(back - t) <= step / 2 + 1e-9


def test_a_time_token_is_a_relative_position():
    assert rtl.time_token(2.5, 5.0) == rtl.time_token(25.0, 50.0) == "<t8>"  # the middle, for any length
    assert rtl.time_token(0.0, 9.0) == "<t0>" and rtl.time_token(9.0, 9.0) == "<t15>"
    assert rtl.time_token(99.0, 9.0) == "<t15>"  # clipped to the clip
    with pytest.raises(ValueError, match="not a time token"):
        rtl.token_time("3.5", 9.0)


def test_lita_frames_sit_at_their_time_tokens():
    times = rtl.lita_frame_times(12.0, 16)
    assert [rtl.time_token(t, 12.0, 16) for t in times] == [f"<t{k}>" for k in range(16)]
    assert times.max() < 12.0


def test_spans_are_written_and_read_back(tokenizer):
    for fmt in rtl.TIME_FORMATS:
        text = rtl.format_span((1.2, 6.4), 10.0, fmt) + " . the red circle stops ."
        assert "<unk>" not in tokenizer.tokenize(text)
        span = rtl.parse_span(text, 10.0, fmt)
        assert span is not None and abs(span[0] - 1.2) < 0.4 and abs(span[1] - 6.4) < 0.4
    assert rtl.parse_span("the red circle stops", 10.0, "tokens") is None
    assert rtl.parse_span("from <t3> to red", 10.0, "tokens") is None
    assert rtl.parse_span("from <t9> to <t3>", 15.0, "tokens") == (3.0, 9.0)  # put in order


# ---- RTL data ---------------------------------------------------------------------------------
def test_rtl_questions_need_a_reasoning_step_and_their_spans_are_true(tokenizer):
    samples = rtl.make_rtl("train", 40)
    assert len(samples) == 40 and {s.kind for s in samples} == {"rtl"}
    durations = {s.meta["duration"] for s in samples}
    assert max(durations) - min(durations) > 4  # clips of varying duration
    for s in samples:
        scene, (start, end), clue = s.scene, s.meta["span"], s.meta["clue"]
        question, answer = s.messages[0]["content"], s.answer
        assert question.startswith("<video> when") and "the object that" in question
        assert scene.objects[clue.obj].name() not in question  # the object is not named: it must be found
        assert clue.obj == next(i for i, o in enumerate(scene.objects) if o.name() in answer)
        assert "<unk>" not in tokenizer.tokenize(question + " " + answer)
        assert rtl.MIN_SPAN <= (end - start) / scene.duration <= rtl.MAX_SPAN
        inside = (start + end) / 2
        if s.meta["asked"] == "visible":
            assert scene.visible(clue.obj, inside) and scene.visible_span(clue.obj) == (start, end)
        parsed = rtl.parse_span(answer, scene.duration, "tokens")
        assert temporal_iou(parsed, (start, end)) > 0.6  # the time tokens' rounding only
        assert s.media[0].num_frames == rtl.NUM_FRAMES
    assert len({s.meta["clue"].kind for s in samples}) >= 4


def test_clues_point_at_one_object_only():
    for s in rtl.make_rtl("val", 30):
        words = s.messages[0]["content"].split("the object that ", 1)[1]
        doers = {e.obj for e in s.scene.events if words.startswith(event_words(e.kind, e.detail))}
        assert doers == {s.meta["clue"].obj}


def test_the_same_samples_in_seconds_share_their_media():
    samples = rtl.make_rtl("train", 6)
    secs = rtl.with_time_format(samples, "seconds")
    for a, b in zip(samples, secs):
        assert a.media[0] is b.media[0] and a.question == b.question
        assert b.answer.startswith("from ") and "<t" not in b.answer
        assert a.answer.split(" . ", 1)[1] == b.answer.split(" . ", 1)[1]  # the same explanation


# ---- metrics ----------------------------------------------------------------------------------
def test_temporal_iou_and_per_video_scores():
    assert temporal_iou((1, 3), (2, 4)) == pytest.approx(1 / 3)
    assert temporal_iou((0, 1), (2, 3)) == 0.0 and temporal_iou(None, (2, 3)) == 0.0
    assert temporal_iou((2, 6), (3, 4)) == pytest.approx(0.25)
    # video a: IoU 1 and 0 (mean 0.5, P@0.5 = 0.5); video b: IoU 1/3 → per video, then over videos
    scores = localization_scores([(0, 2), (5, 6), (1, 3)], [(0, 2), (0, 1), (2, 4)], ["a", "a", "b"])
    assert scores["miou"] == pytest.approx((0.5 + 1 / 3) / 2) and scores["p@0.5"] == pytest.approx(0.25)
    assert scores["videos"] == 2
    flat = localization_scores([(0, 2), (5, 6), (1, 3)], [(0, 2), (0, 1), (2, 4)])
    assert flat["miou"] == pytest.approx((1 + 0 + 1 / 3) / 3)


# ---- SlowFast tokens --------------------------------------------------------------------------
def test_slowfast_tokens_are_lita_layout():
    x = torch.randn(2, 16, 16, 8)
    r = SlowFastTokens(slow_frames=4, pool=2)
    out = r(x)
    assert out.shape == (2, 16 + 4 * 4, 8) == (2, r.num_tokens(16, 16), 8)
    torch.testing.assert_close(out[:, :16], x.mean(2))  # fast: one token per frame
    assert r.slow_indices(16).tolist() == [0, 5, 10, 15]
    top_left = x[:, 5].view(2, 4, 4, 8)[:, :2, :2].mean((1, 2))  # slow frame 2, pooled patch (0, 0)
    torch.testing.assert_close(out[:, 16 + 4], top_left)
    assert SlowFastTokens(8, 2, fast=False).num_tokens(16, 16) == 32 == SlowFastTokens(4, 2).num_tokens(16, 16)
    assert SlowFastTokens(slow=False)(x).shape == (2, 16, 8)
    assert SlowFastTokens(4, 2).num_tokens(1, 16) == 1 + 4  # an image: one fast and one slow frame
    assert "slowfast" in REDUCERS and isinstance(build_reducer("slowfast", 8), SlowFastTokens)
    with pytest.raises(ValueError, match="square patch grid"):
        SlowFastTokens()(torch.randn(1, 4, 17, 8))
    with pytest.raises(ValueError, match="fast or slow"):
        SlowFastTokens(fast=False, slow=False)


def test_the_lita_preset_trains_and_localizes():
    model = build("lita")
    assert model.config.reducer == "slowfast" and model.config.connector == "linear"
    train = precompute(model, rtl.make_rtl("train", 8))
    model.fit_standardizer(all_media(train))
    assert model.num_tokens(train[0].media[0]) == 32
    batch = collate(model, train)
    assert torch.isfinite(model(**batch).loss)
    scores = evaluate_rtl(model, train[:4])
    assert set(scores) == {"miou", "p@0.5", "videos", "explained", "readable"} and 0 <= scores["miou"] <= 1
    prior = prior_spans(train, train)
    assert all(0 <= a <= b <= s.meta["duration"] for (a, b), s in zip(prior, train))
    for layout, n in (("slow", 32), ("fast", 16)):
        assert build("lita", reducer_args=LAYOUTS[layout]).num_tokens(train[0].media[0]) == n


# ---- the exercise checks reject wrong answers -------------------------------------------------
def _index(t, duration, num_tokens):
    return t * (num_tokens - 1) / duration


WRONG_TIME_TOKENS = {
    "T instead of T - 1": (lambda t, d, n: f"<t{min(n - 1, round(t * n / d))}>", rtl.token_time),
    "floor instead of round": (lambda t, d, n: f"<t{int(_index(t, d, n))}>", rtl.token_time),
    "seconds, not relative": (lambda t, d, n: f"<t{min(n - 1, round(t))}>", rtl.token_time),
    "back with T": (rtl.time_token, lambda tok, d, n: d * int(tok[2:-1]) / n),
    "back as the index": (rtl.time_token, lambda tok, d, n: float(int(tok[2:-1]))),
}


def _slowfast_wrong(order=False, reduce_time=False, first_frames=False, max_pool=False):
    def fn(x, s, pool):
        b, t, p, d = x.shape
        side = int(p ** 0.5)
        idx = torch.arange(s) if first_frames else torch.linspace(0, t - 1, s).round().long()
        grid = x[:, idx].reshape(-1, side, side, d).permute(0, 3, 1, 2)
        pooled = (torch.nn.functional.max_pool2d if max_pool else torch.nn.functional.avg_pool2d)(grid, pool)
        slow = pooled.flatten(2).transpose(1, 2).reshape(b, -1, d)
        fast = x.mean(1) if reduce_time else x.mean(2)
        return torch.cat([slow, fast] if order else [fast, slow], dim=1)
    return fn


WRONG_SLOWFAST = {
    "slow before fast": _slowfast_wrong(order=True),
    "fast tokens averaged over time": _slowfast_wrong(reduce_time=True),
    "the first s frames": _slowfast_wrong(first_frames=True),
    "max pooling": _slowfast_wrong(max_pool=True),
}

WRONG_IOU = {
    "intersection over the true span": lambda p, t: max(0, min(p[1], t[1]) - max(p[0], t[0])) / (t[1] - t[0]),
    "intersection over the sum": lambda p, t: max(0, min(p[1], t[1]) - max(p[0], t[0])) / (p[1] - p[0] + t[1] - t[0]),
    "negative overlap kept": lambda p, t: (min(p[1], t[1]) - max(p[0], t[0])) / (max(p[1], t[1]) - min(p[0], t[0])),
}


def test_the_checks_accept_the_package_answers(monkeypatch):
    monkeypatch.setenv("MINIVLM_STRICT_CHECKS", "1")
    assert check_time_tokens(rtl.time_token, rtl.token_time)
    assert check_slowfast(lambda x, s, pool: SlowFastTokens(s, pool)(x))
    assert check_slowfast(_slowfast_wrong())  # the from-scratch way, right
    assert check_iou(temporal_iou)


@pytest.mark.parametrize("name", sorted(WRONG_TIME_TOKENS))
def test_the_time_token_check_rejects(name, monkeypatch):
    monkeypatch.setenv("MINIVLM_STRICT_CHECKS", "1")
    with pytest.raises(CheckFailed):
        check_time_tokens(*WRONG_TIME_TOKENS[name])


@pytest.mark.parametrize("name", sorted(WRONG_SLOWFAST))
def test_the_slowfast_check_rejects(name, monkeypatch):
    monkeypatch.setenv("MINIVLM_STRICT_CHECKS", "1")
    with pytest.raises(CheckFailed):
        check_slowfast(WRONG_SLOWFAST[name])


@pytest.mark.parametrize("name", sorted(WRONG_IOU))
def test_the_iou_check_rejects(name, monkeypatch):
    monkeypatch.setenv("MINIVLM_STRICT_CHECKS", "1")
    with pytest.raises(CheckFailed):
        check_iou(WRONG_IOU[name])


def test_time_tokens_start_as_new_words():
    from minivlm.lita import init_time_tokens
    from minivlm.lm import time_tokens

    model = build("lita")
    ids = model.tokenizer.convert_tokens_to_ids(time_tokens(16))
    weight = model.lm.get_input_embeddings().weight
    init_time_tokens(model, 16)
    others = [i for i in range(weight.shape[0]) if i not in set(ids)]
    torch.testing.assert_close(weight[ids], weight[others].mean(0).expand(len(ids), -1))
    assert not torch.equal(weight[ids[0]], model.lm.get_input_embeddings().weight[ids[-1] + 1])
