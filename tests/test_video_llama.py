"""Video-LLaMA (notebook 05): the Q-Former, the preset and its data, and the exercises' checks."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from minivlm import build
from minivlm.checks import CheckFailed
from minivlm.data import clip_with_sound, make_av_qa, sample_scene
from minivlm.qformer import QFormer, cross_attention
from minivlm.samples import collate
from minivlm.video_llama import (AV_KINDS, PRETRAIN, RECIPE, VIDEO_KINDS, VIDEO_LLAMA, captions_for,
                                 check_cross_attention, check_segments, without_audio)
from minivlm.vlm import ModalityError


# ---- exercise 1: segments ----------------------------------------------------------------------
def right_starts(num_samples, segments, window):
    return np.round((np.arange(segments) + 0.5) * num_samples / segments - window / 2).astype(np.int64)


def test_the_segment_check_passes_the_right_answer():
    assert check_segments(right_starts)


@pytest.mark.parametrize("wrong", [
    lambda n, s, w: (np.arange(s) * n // s).astype(np.int64),  # segment starts, not centred windows
    lambda n, s, w: np.round((np.arange(s) + 0.5) * n / s).astype(np.int64),  # the centres themselves
    lambda n, s, w: np.round(np.linspace(0, n - w, s)).astype(np.int64),  # spread inside the track
    lambda n, s, w: np.floor((np.arange(s) + 0.5) * n / s - w / 2 + 0.7).astype(np.int64),  # rounded up
])
def test_the_segment_check_raises_on_plausible_wrong_answers(wrong):
    with pytest.raises(CheckFailed):
        check_segments(wrong)


# ---- exercise 2: cross-attention -------------------------------------------------------------------
def test_the_cross_attention_check_passes_the_right_answer():
    assert check_cross_attention(cross_attention)


def _attend(q, k, v, heads, scale=True):
    b, n, d = q.shape
    split = [t.view(b, t.shape[1], heads, d // heads).transpose(1, 2) for t in (q, k, v)]
    w = split[0] @ split[1].transpose(-1, -2) / ((d // heads) ** 0.5 if scale else 1.0)
    return (torch.softmax(w, -1) @ split[2]).transpose(1, 2).reshape(b, n, d)


@pytest.mark.parametrize("wrong", [
    lambda q, kv, h: _attend(q, *kv.chunk(2, -1), h, scale=False),  # no 1/√d
    lambda q, kv, h: _attend(q, *kv.chunk(2, -1), 1),  # one head whatever `heads` says
    lambda q, kv, h: _attend(q, *reversed(kv.chunk(2, -1)), h),  # keys and values swapped
    lambda q, kv, h: F.scaled_dot_product_attention(q, *kv.chunk(2, -1)),  # heads ignored (SDPA on (B, L, D))
])
def test_the_cross_attention_check_raises_on_plausible_wrong_answers(wrong):
    with pytest.raises(CheckFailed):
        check_cross_attention(wrong)


# ---- the Q-Former -----------------------------------------------------------------------------------
def test_the_qformer_gives_a_fixed_number_of_tokens_and_sees_frame_order():
    torch.manual_seed(0)
    q = QFormer(16, num_queries=5, depth=2, max_frames=8)
    x = torch.randn(2, 6, 4, 16)
    assert q(x).shape == (2, 5, 16) and q(torch.randn(2, 2, 7, 16)).shape == (2, 5, 16)
    swapped = x[:, [1, 0, 2, 3, 4, 5]]
    assert not torch.allclose(q(x), q(swapped), atol=1e-5)  # the position embeddings tell frames apart
    blind = QFormer(16, num_queries=5, max_frames=8, positions=False)
    assert torch.allclose(blind(x), blind(swapped), atol=1e-5)  # without them the order is invisible
    with pytest.raises(ValueError, match="max_frames"):
        q(torch.randn(1, 9, 4, 16))


# ---- the preset and its data ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def model():
    return build("video-llama")


def test_the_preset_is_the_papers_layout(model):
    assert VIDEO_LLAMA.reducer == "qformer" and VIDEO_LLAMA.reducer_args["num_queries"] == 32
    assert VIDEO_LLAMA.audio_reducer_args["num_queries"] == 8 and VIDEO_LLAMA.audio_segments == 8
    assert VIDEO_LLAMA.connector == VIDEO_LLAMA.audio_connector == "linear"
    clip = clip_with_sound(sample_scene("train", 0))
    assert model.num_tokens(clip) == 32 and model.num_tokens(clip.soundtrack()) == 8
    assert [s.train for s in RECIPE] == [("vision_tokenizer", "audio_tokenizer")] * 2  # encoders and LM frozen
    assert set(PRETRAIN.train) < set(model.parts())


def test_audio_and_video_are_separate_spans_audio_first(model):
    samples = make_av_qa("train", 3, kinds=AV_KINDS)
    assert all(s.messages[0]["content"].startswith("<audio> <video> ") for s in samples)
    batch = collate(model, samples)
    ids = batch["input_ids"][0].tolist()
    audio_id, video_id = model.tokenizer.convert_tokens_to_ids(["<audio>", "<video>"])
    first_video = ids.index(video_id)
    assert ids.count(audio_id) == 8 and ids.count(video_id) == 32 and max(
        i for i, t in enumerate(ids) if t == audio_id) < first_video


def test_without_audio_and_captions_drop_the_soundtrack(model):
    samples = make_av_qa("train", 2, kinds=VIDEO_KINDS)
    deaf = without_audio(samples)
    assert all(len(s.media) == 1 and s.media[0].modality == "video" for s in deaf)
    assert all("<audio>" not in s.messages[0]["content"] and s.answer == t.answer for s, t in zip(deaf, samples))
    heard, plain = captions_for(samples), captions_for(samples, audio=False)
    assert "the voice says" in heard[0].answer and "the voice says" not in plain[0].answer
    assert plain[0].media == (samples[0].media[1],)
    deaf_model = build(VIDEO_LLAMA.replace(audio=()))
    with pytest.raises(ModalityError, match="no audio encoder"):
        collate(deaf_model, samples)


def test_a_config_that_hears_needs_its_audio_encoder(model):
    from minivlm.vlm import LanguageStreamVLM

    with pytest.raises(ValueError, match="audio encoder"):
        LanguageStreamVLM(model.config, model.vision_encoder, model.lm, model.tokenizer)
