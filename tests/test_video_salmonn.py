"""video-SALMONN's parts (notebook 09): synchronised windows, the MRC Q-Former, the diversity
loss, the preset, and the exercise checks (which must reject plausible wrong answers)."""

import dataclasses

import numpy as np
import pytest
import torch

from minivlm import build
from minivlm.checks import CheckFailed
from minivlm.data import make_av_qa, render, sample_scene, uniform_times
from minivlm.media import Media
from minivlm.qformer import MRCQFormer, QFormerLayer, causal_window_mask, query_similarity
from minivlm.samples import all_media, collate, precompute
from minivlm.stages import run_stage
from minivlm.video_salmonn import (INSTRUCT, SEPARATE, VIDEO_SALMONN, check_diversity, check_window_frames,
                                   diversity_loss, gather_frames, mean_similarity, synced, synchronise,
                                   window_frames)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build("video-salmonn")


@pytest.fixture(scope="module")
def samples():
    return synced(make_av_qa("train", 6, kinds=("sync", "speech", "colour")))


# ---- synchronised windows --------------------------------------------------------------------
def test_window_frames_centres_25_frames_on_each_frame_at_2_fps():
    idx = window_frames((np.arange(8) + 0.5) * 0.5, 200)
    assert idx.shape == (8, 25)
    assert idx[0, 0] == 0 and idx[1, 0] == 25 and idx[7, -1] == 199
    assert (np.diff(idx, axis=1) == 1).all()  # contiguous, no gaps or overlaps
    assert np.array_equal(idx.flatten(), np.arange(200))


def test_window_frames_marks_frames_outside_the_track():
    idx = window_frames((0.0, 3.9), 190)
    assert (idx[0, :12] == -1).all() and idx[0, 12] == 0  # the first window starts 0.25 s before the track
    assert (idx[1][idx[1] >= 0] < 190).all() and (idx[1] == -1).any()


def test_gather_frames_gives_zeros_for_missing_frames():
    frames = torch.arange(12.0).view(6, 2) + 1
    out = gather_frames(frames, np.array([[-1, 0], [4, 5], [5, -1]]))
    assert out.shape == (3, 2, 2)
    assert torch.equal(out[0, 0], torch.zeros(2)) and torch.equal(out[1, 1], frames[5]) and out[2, 1].abs().sum() == 0


def test_synchronise_concatenates_along_features_with_zeros_for_a_missing_modality():
    visual, audio = torch.ones(4, 16, 3), torch.full((4, 25, 2), 2.0)
    both = synchronise(visual, audio, 4, 3, 2, 25)
    assert both.shape == (4, 25, 5)
    assert both[:, :16, :3].eq(1).all() and both[:, 16:, :3].eq(0).all() and both[..., 3:].eq(2).all()
    assert synchronise(visual, None, 4, 3, 2, 25)[..., 3:].eq(0).all()
    assert synchronise(None, audio, 4, 3, 2, 25)[..., :3].eq(0).all()


def test_a_clips_features_are_one_step_per_frame_with_its_sound(model, samples):
    clip = samples[0].media[0]
    assert clip.waveform is not None and clip.num_frames == 8
    feats = model.encode_features([clip])[0]
    width = model.vision_encoder.width
    assert feats.shape == (8, 25, width + model.audio_encoder.width)
    assert feats[..., width:].abs().sum() > 0  # the sound is in
    silent = model.encode_features([Media.video(clip.pixels, clip.times)])[0]
    assert torch.equal(silent[..., :width], feats[..., :width]) and silent[..., width:].eq(0).all()


def test_an_audio_track_alone_fills_one_step_per_half_second(model, samples):
    track = samples[0].media[0].soundtrack()
    assert model.steps(track) == 8
    feats = model.encode_features([track])[0]
    assert feats.shape[0] == 8 and feats[..., : model.vision_encoder.width].eq(0).all()


def test_a_soundtrack_that_is_too_short_is_padded_with_a_warning(model, samples):
    clip = samples[0].media[0]
    short = Media.video(clip.pixels, clip.times, waveform=clip.waveform[:20_000], sample_rate=16_000,
                        duration=clip.duration)
    with pytest.warns(UserWarning, match="padded with silence"):
        feats = model.encode_features([short])[0]
    assert feats.shape[0] == 8


# ---- the MRC Q-Former ---------------------------------------------------------------------------
def test_mrc_qformer_gives_the_same_tokens_per_step_at_every_resolution():
    q = MRCQFormer(32, resolutions=((4, 8), (1, 2)), max_frames=16)
    for t, want in ((8, 16), (4, 8), (1, 8), (5, 16), (16, 32)):
        assert q.num_tokens(t, 25) == want
        assert q(torch.randn(2, t, 5, 32)).shape == (2, want, 32)
    with pytest.raises(ValueError, match="same tokens per step"):
        MRCQFormer(32, resolutions=((4, 8), (1, 3)))
    with pytest.raises(ValueError, match="max_frames"):
        q(torch.randn(1, 17, 5, 32))


def test_mrc_qformer_is_causal_across_windows():
    torch.manual_seed(0)
    q = MRCQFormer(16, resolutions=((2, 2), (1, 1)), max_frames=8).eval()
    x = torch.randn(1, 8, 3, 16)
    later = x.clone()
    later[:, 6:] += torch.randn(1, 2, 3, 16)  # change only the last two steps (the last window of the 2-step resolution)
    a, b = q(x), q(later)
    assert torch.allclose(a[:, :6], b[:, :6], atol=1e-6)  # earlier tokens do not see the future
    assert not torch.allclose(a[:, 6:], b[:, 6:])
    full = MRCQFormer(16, resolutions=((2, 2), (1, 1)), max_frames=8, causal=False).eval()
    full.load_state_dict(q.state_dict())
    assert not torch.allclose(full(x)[:, :6], full(later)[:, :6])  # without the mask they do


def test_causal_window_mask_lets_a_window_see_itself_and_earlier_ones():
    m = causal_window_mask(3, 2)
    assert m.shape == (6, 6)
    assert not m[2, :4].any() and m[2, 4:].all() and not m[5].any()


def test_a_qformer_layer_with_one_window_is_unchanged():
    torch.manual_seed(0)
    layer = QFormerLayer(16)
    q, x = torch.randn(2, 4, 16), torch.randn(2, 6, 16)
    assert torch.equal(layer(q, x), layer(q, x, windows=1))
    two = layer(q, x, windows=2)  # queries 0-1 read inputs 0-2 only
    moved = x.clone()
    moved[:, 3:] += 5
    assert torch.allclose(layer(q, moved, windows=2)[:, :2], two[:, :2], atol=1e-6)


# ---- the diversity loss -------------------------------------------------------------------------
def test_query_similarity_is_one_for_identical_queries_and_low_for_orthogonal_ones():
    same = torch.ones(2, 3, 4, 8)
    assert torch.isclose(query_similarity(same), torch.tensor(1.0))
    assert torch.isclose(query_similarity(torch.eye(4).view(1, 4, 4)), torch.tensor(0.0))
    assert query_similarity(torch.randn(3, 1, 8)) == 0


def test_diversity_loss_adds_the_weighted_similarity_and_lowers_it(model, samples):
    m = build(VIDEO_SALMONN, lora=None)
    pre = precompute(m, samples)
    m.fit_standardizer(all_media(pre))
    batch = collate(m, pre)
    loss, logs = diversity_loss(0.5)(m, batch)
    plain = m(**batch).loss
    assert torch.isclose(loss, plain + 0.5 * m.vision_tokenizer.reducer.similarity, atol=1e-6)
    before = mean_similarity(m, pre)
    stage = dataclasses.replace(INSTRUCT, train=("vision_tokenizer",), steps=15, lr=3e-3, batch_size=6)
    run_stage(m, stage, pre, progress=False, loss_fn=diversity_loss(5.0))
    assert mean_similarity(m, pre) < before


# ---- the preset -----------------------------------------------------------------------------------
def test_the_preset_reads_one_video_with_its_sound_and_has_lora(model, samples):
    assert model.config.audio_sync and model.config.lora.rank == 8
    assert set(model.config.lora.targets) == {"q_proj", "k_proj", "v_proj", "o_proj"}
    parts = model.parts()
    assert "lora" in parts and "audio_tokenizer" not in parts
    assert model.num_tokens(samples[0].media[0]) == 16


def test_separate_branches_baseline_reads_the_same_audio_frames():
    sep = build(SEPARATE)
    assert not sep.config.audio_sync and sep.audio_encoder.num_patches == 25
    assert sep.config.lora == VIDEO_SALMONN.lora


def test_a_clip_without_sound_is_heard_as_silence_and_an_image_works(model):
    scene = sample_scene("train", 2)
    clip = Media.video(render(scene, uniform_times(scene, 8)), uniform_times(scene, 8))
    assert model.answer([clip, Media.image(render(scene, [1.0])[0])], ["what colour ?", "what colour ?"],
                        max_new_tokens=2)


# ---- exercise checks reject plausible wrong answers -------------------------------------------------
def test_window_frames_check_accepts_the_answer_and_rejects_wrong_ones(monkeypatch):
    monkeypatch.setenv("MINIVLM_STRICT_CHECKS", "1")
    assert check_window_frames(window_frames)

    def starts_at_frame(times, n, rate, window):  # window starts at the frame, not centred on it
        idx = np.floor(np.asarray(times) * rate + 0.5).astype(int)[:, None] + np.arange(int(window * rate))
        return np.where((idx >= 0) & (idx < n), idx, -1)

    def clipped(times, n, rate, window):  # clamps instead of marking frames outside the track
        first = np.floor((np.asarray(times) - window / 2) * rate + 0.5).astype(int)
        return np.clip(first[:, None] + np.arange(int(window * rate)), 0, n - 1)

    def wrong_rate(times, n, rate, window):  # 100 Hz log-mel frames instead of 50 Hz audio frames
        return window_frames(times, n, 2 * rate, window)[:, : int(window * rate)]

    def truncating(times, n, rate, window):  # int() rounds 1.93 s − 0.25 s the wrong way
        first = ((np.asarray(times) - window / 2) * rate).astype(int)
        idx = first[:, None] + np.arange(int(round(window * rate)))
        return np.where((idx >= 0) & (idx < n), idx, -1)

    for wrong in (starts_at_frame, clipped, wrong_rate, truncating):
        with pytest.raises(CheckFailed):
            check_window_frames(wrong)


def test_diversity_check_accepts_the_answer_and_rejects_wrong_ones(monkeypatch):
    monkeypatch.setenv("MINIVLM_STRICT_CHECKS", "1")
    assert check_diversity(query_similarity)

    def with_diagonal(q):
        u = torch.nn.functional.normalize(q, dim=-1)
        return (u @ u.transpose(-1, -2)).mean()

    def dot_products(q):
        s = q @ q.transpose(-1, -2)
        return s[..., ~torch.eye(q.shape[-2], dtype=torch.bool)].mean()

    def across_windows(q):  # pairs across windows too
        flat = q.reshape(-1, q.shape[-2], q.shape[-1]).flatten(0, 1)[None]
        return query_similarity(flat)

    def no_single_query_case(q):
        u = torch.nn.functional.normalize(q, dim=-1)
        s = u @ u.transpose(-1, -2)
        n = q.shape[-2]
        return (s.sum((-1, -2)) - n) .mean() / (n * (n - 1))

    for wrong in (with_diagonal, dot_products, across_windows, no_single_query_case):
        with pytest.raises(CheckFailed):
            check_diversity(wrong)


# ---- the 'where … when the voice says …' question ---------------------------------------------------
def test_where_questions_need_the_moment_the_word_is_said():
    from minivlm.data import WorldConfig, audio_qa, position_words, soundtrack

    world = WorldConfig(max_objects=1, p_static=0.0, p_appear=0.0, p_disappear=0.0, p_stop=0.0)
    found = 0
    for k in range(40):
        scene = sample_scene("train", k, world)
        qa = audio_qa(scene, "where", np.random.default_rng(k))
        if qa is None:
            continue
        found += 1
        words = {u.word: u.middle for u in soundtrack(scene).words}
        said = next(w for w in words if f"says {w} ?" in qa.question)
        place = {w: position_words(*(float(c) for c in scene.position(0, t))) for w, t in words.items()}
        assert qa.kind == "where" and qa.answer == place[said]
        assert all(p != qa.answer for w, p in place.items() if w != said)  # the other moment gives another answer
    assert found >= 10


def test_make_av_qa_asks_where_questions():
    samples = make_av_qa("train", 3, kinds=("where",))
    assert all(s.kind == "where" and s.messages[0]["content"].startswith("<audio> <video> where is the") for s in samples)
