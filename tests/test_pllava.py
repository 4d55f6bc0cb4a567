"""PLLaVA (notebook 08): adaptive pooling over time × space, pooling after the projector, LoRA
with an evaluation-time scale, prompt templates, token norms and the exercise checks."""

from dataclasses import replace

import pytest
import torch

from minivlm import build
from minivlm.checks import CheckFailed
from minivlm.config import VLMConfig
from minivlm.data import make_clip_qa, render, sample_scene, uniform_times
from minivlm.eval import evaluate
from minivlm.lm import build_tokenizer
from minivlm.media import Media
from minivlm.pllava import (KINDS, LORA, PLLAVA, PROMPT_TEMPLATES, TUNE, check_adaptive_pool, check_lora, dominance,
                            pooled, template_accuracy, token_norms, trainable_parameters, with_template)
from minivlm.reducers import REDUCERS, AdaptivePool, build_reducer
from minivlm.samples import all_media, collate, precompute
from minivlm.stages import run_stage

SCENE = sample_scene("train", 5)
CLIP8 = Media.video(render(SCENE, uniform_times(SCENE, 8)))


# ---- the pooling part ------------------------------------------------------------------------------
def test_adaptive_pool_gives_the_target_grid_and_says_its_token_count():
    x = torch.randn(2, 8, 16, 5)
    for (t, h, w), n in [((8, 2, 2), 32), ((2, 4, 4), 32), ((4, 1, 1), 4), ((None, 2, 2), 32), ((1, 4, 2), 8)]:
        pool = AdaptivePool(t, h, w)
        assert pool(x).shape == (2, n, 5) and pool.num_tokens(8, 16) == n
    assert AdaptivePool(16, 8, 8).num_tokens(8, 16) == 128  # never larger than the input
    assert AdaptivePool(16, 8, 8)(x).shape == (2, 128, 5)
    assert AdaptivePool(None, 2, 2).num_tokens(1, 16) == 4  # an image: one frame


def test_adaptive_pool_averages_cells_in_time_row_column_order():
    x = torch.randn(1, 4, 16, 3)
    grid = x.reshape(1, 4, 4, 4, 3)  # (B, T, H, W, D)
    out = AdaptivePool(2, 2, 2)(x)
    # token (t, i, j) is the mean over frames 2t..2t+1, rows 2i..2i+1, columns 2j..2j+1
    for t in range(2):
        for i in range(2):
            for j in range(2):
                cell = grid[0, 2 * t:2 * t + 2, 2 * i:2 * i + 2, 2 * j:2 * j + 2].reshape(-1, 3).mean(0)
                torch.testing.assert_close(out[0, t * 4 + i * 2 + j], cell)
    torch.testing.assert_close(AdaptivePool(1, 4, 4)(x), x.mean(1))  # all time pooled: each patch's mean
    torch.testing.assert_close(AdaptivePool(4, 1, 1)(x), x.mean(2))  # all space pooled: each frame's mean
    torch.testing.assert_close(AdaptivePool(None, 4, 4)(x), x.flatten(1, 2))  # nothing pooled: concatenation


def test_adaptive_pool_is_registered_and_refuses_bad_shapes():
    assert "adaptive_pool" in REDUCERS
    assert isinstance(build_reducer("adaptive_pool", 128, time=4, height=2, width=2), AdaptivePool)
    with pytest.raises(ValueError, match="square"):
        AdaptivePool(2, 2, 2)(torch.randn(1, 4, 15, 3))
    with pytest.raises(ValueError, match="≥ 1"):
        AdaptivePool(0, 2, 2)


def test_pooling_after_a_linear_projector_equals_pooling_before_it():
    before = build(PLLAVA.replace(lora=None, connector="linear", reduce_after_connector=False, standardize=False))
    after = build(PLLAVA.replace(lora=None, connector="linear", standardize=False))
    feats = torch.randn(2, 8, 16, before.vision_encoder.width)
    torch.testing.assert_close(before.vision_tokenizer(feats), after.vision_tokenizer(feats), atol=1e-5, rtol=1e-5)
    mlp_after = build(PLLAVA.replace(lora=None, standardize=False))
    tok = mlp_after.vision_tokenizer
    torch.testing.assert_close(tok(feats), tok.reducer(tok.connector(feats)))  # the MLP sees every frame token


# ---- the preset ------------------------------------------------------------------------------------
def test_pllava_preset_keeps_every_frame_and_halves_space_with_lora_on_q_and_v():
    model = build("pllava")
    assert model.num_tokens(CLIP8) == 8 * 2 * 2
    assert model.num_tokens(Media.image(render(SCENE, [1.0])[0])) == 4
    assert model.config.reduce_after_connector and model.config.lora == LORA
    assert set(TUNE.train) == {"vision_tokenizer", "lora"}
    lm_layers = model.lm.config.num_hidden_layers
    width = model.lm.config.hidden_size
    assert trainable_parameters(model, ["lora"]) == lm_layers * 2 * LORA.rank * (width + width)
    assert VLMConfig.from_dict(PLLAVA.to_dict()) == PLLAVA
    assert pooled(PLLAVA, 2, 4).reducer_args == {"time": 2, "height": 4, "width": 4}


def test_lora_scale_zero_is_the_model_without_adapters_and_merging_keeps_the_function():
    clips = make_clip_qa("train", 6, 4, kinds=KINDS)
    model = build("pllava")
    model.fit_standardizer(all_media(clips))
    run_stage(model, replace(TUNE, steps=3, batch_size=3, lr=5e-2), clips, progress=False)
    batch = collate(model, clips)
    with torch.no_grad():
        tuned = model(**batch).logits
        model.set_lora_scale(0.0)
        base = model(**batch).logits
        model.set_lora_scale(LORA.alpha)
        assert torch.allclose(model(**batch).logits, tuned)
        model.merge_lora()
        merged = model(**batch).logits
    assert not torch.allclose(tuned, base)  # the adapters learned something
    torch.testing.assert_close(merged, tuned, atol=1e-4, rtol=1e-4)


# ---- prompts and norms -----------------------------------------------------------------------------
def test_the_trained_template_gives_the_chat_templates_ids():
    model = build("pllava")
    clips = make_clip_qa("train", 3, 4, kinds=KINDS)
    chat = collate(model, [s.prompt() for s in clips], side="left", add_generation_prompt=True)
    doc = collate(model, with_template(clips, "trained"), side="left")
    assert torch.equal(chat["input_ids"], doc["input_ids"])
    assert [s.answer for s in with_template(clips, "role words")] == [s.answer for s in clips]


def test_every_prompt_template_uses_known_words_only():
    tokenizer = build_tokenizer()
    unk = tokenizer.unk_token_id
    for name, form in PROMPT_TEMPLATES.items():
        ids = tokenizer(form.format(media="<video>", question="which way does the red circle move first ?")).input_ids
        assert unk not in ids, name


def test_template_accuracy_of_the_trained_template_equals_evaluate():
    model = build("pllava")
    clips = precompute(model, make_clip_qa("val", 8, 4, kinds=KINDS))
    model.fit_standardizer(all_media(clips))
    assert template_accuracy(model, clips, "trained") == evaluate(model, clips)
    assert set(template_accuracy(model, clips, "role words")) == set(evaluate(model, clips))


def test_token_norms_and_dominance():
    model = build("pllava")
    norms = token_norms(model, [CLIP8, CLIP8])
    assert [n.shape for n in norms] == [(32,), (32,)] and all((n > 0).all() for n in norms)
    assert dominance([torch.ones(10)]) == pytest.approx(1.0)
    assert dominance([torch.tensor([1.0, 1.0, 1.0, 5.0])]) == pytest.approx(5.0)


# ---- exercise checks: right answers pass, plausible wrong ones fail --------------------------------
def _pool_right(x, t, h, w):
    b, frames, p, d = x.shape
    s = int(p ** 0.5)
    v = x.reshape(b, frames, s, s, d).permute(0, 4, 1, 2, 3)
    return torch.nn.functional.adaptive_avg_pool3d(v, (t, h, w)).flatten(2).transpose(1, 2)


def _pool_reshape_without_permute(x, t, h, w):  # channels taken from the wrong axis
    b, frames, p, d = x.shape
    s = int(p ** 0.5)
    v = x.reshape(b, d, frames, s, s)
    return torch.nn.functional.adaptive_avg_pool3d(v, (t, h, w)).flatten(2).transpose(1, 2)


def _pool_no_transpose(x, t, h, w):  # (B, D, N) read as (B, N, D)
    b, frames, p, d = x.shape
    s = int(p ** 0.5)
    v = x.reshape(b, frames, s, s, d).permute(0, 4, 1, 2, 3)
    return torch.nn.functional.adaptive_avg_pool3d(v, (t, h, w)).reshape(b, -1, d)


def _pool_space_first(x, t, h, w):  # tokens in (row, column, time) order
    return _pool_right(x, t, h, w).reshape(x.shape[0], t, h * w, -1).transpose(1, 2).reshape(x.shape[0], -1, x.shape[-1])


def _pool_max(x, t, h, w):  # max instead of average
    b, frames, p, d = x.shape
    s = int(p ** 0.5)
    v = x.reshape(b, frames, s, s, d).permute(0, 4, 1, 2, 3)
    return torch.nn.functional.adaptive_max_pool3d(v, (t, h, w)).flatten(2).transpose(1, 2)


def test_adaptive_pool_check_passes_the_right_answer_and_not_a_stub():
    assert check_adaptive_pool(_pool_right)

    def stub(x, t, h, w):
        raise NotImplementedError

    assert check_adaptive_pool(stub) is False


@pytest.mark.parametrize("wrong", [_pool_reshape_without_permute, _pool_no_transpose, _pool_space_first, _pool_max])
def test_adaptive_pool_check_fails_plausible_wrong_answers(wrong):
    with pytest.raises(CheckFailed):
        check_adaptive_pool(wrong)


def _apply_right(x, weight, a, b, alpha):
    return x @ weight.T + (alpha / a.shape[0]) * (x @ a.T) @ b.T


def _merge_right(weight, a, b, alpha):
    return weight + (alpha / a.shape[0]) * b @ a


def test_lora_check_passes_the_right_answer():
    assert check_lora(_apply_right, _merge_right)


@pytest.mark.parametrize("apply, merge", [
    (lambda x, w, a, b, alpha: x @ w.T + (x @ a.T) @ b.T, _merge_right),  # no alpha / r scale
    (lambda x, w, a, b, alpha: x @ w.T + alpha * (x @ a.T) @ b.T, _merge_right),  # alpha, not alpha / r
    (_apply_right, lambda w, a, b, alpha: w + b @ a),  # merged without the scale
    (_apply_right, lambda w, a, b, alpha: w + (a.shape[0] / alpha) * b @ a),  # r / alpha
    (_apply_right, lambda w, a, b, alpha: b @ a * (alpha / a.shape[0])),  # the update alone, W dropped
])
def test_lora_check_fails_plausible_wrong_answers(apply, merge):
    with pytest.raises(CheckFailed):
        check_lora(apply, merge)
