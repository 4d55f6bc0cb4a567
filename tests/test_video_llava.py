"""Notebook 06 (Video-LLaVA): the video towers, the preset, mixed batches and the exercise checks."""

import pytest
import torch
import torch.nn.functional as F

from minivlm import build, zoo
from minivlm.checks import CheckFailed
from minivlm.data import render, render_still, sample_scene, uniform_times
from minivlm.media import Media
from minivlm.samples import Sample
from minivlm.stages import Stage, run_stage
from minivlm.video_llava import (JOINT, VIDEO_LLAVA, check_alignment_loss, check_mixed_batch, diagonal_gap,
                                 mixed_batches, space_similarity)
from minivlm.video_tower import (VIDEO_TOWERS, TemporalBlock, VideoTower, caption_clips, clip_frame_tokens,
                                 direction_zero_shot, new_tower, retrieval, tower_recipe)

SCENE = sample_scene("train", 5)
IMAGE = Media.image(render_still(SCENE, 1.0))
CLIP8 = Media.video(render(SCENE, uniform_times(SCENE, 8)))


def qa(item, question, answer):
    return Sample([item], [{"role": "user", "content": f"{item.placeholder} {question}"},
                           {"role": "assistant", "content": answer}])


# ---- the video towers -------------------------------------------------------------------------------
def test_a_temporal_block_starts_as_the_identity_and_keeps_shapes():
    block = TemporalBlock(16, heads=4)
    x = torch.randn(2, 24, 16)
    assert torch.equal(block(x, torch.randn(2, 24, 16)), x)
    with pytest.raises(ValueError, match="divisible"):
        TemporalBlock(10, heads=4)


def test_an_untrained_aligned_tower_is_the_image_tower_frame_by_frame():
    tower = VideoTower(zoo.toy_clip(), aligned=True)
    image = zoo.toy_vision_encoder()
    pixels = tower.preprocess(CLIP8.pixels.numpy())[None]  # (1, 8, 3, 64, 64)
    with torch.no_grad():
        assert tower(pixels).shape == (1, 8, 16, 128)
        assert torch.allclose(tower(pixels)[0], image(pixels[0]), atol=1e-5)


def test_a_separate_tower_leaves_the_image_towers_space():
    tower = VideoTower(zoo.toy_clip(), aligned=False)
    image = zoo.toy_vision_encoder()
    pixels = tower.preprocess(CLIP8.pixels.numpy())[None]
    with torch.no_grad():
        assert not torch.allclose(tower(pixels)[0], image(pixels[0]), atol=1e-2)


def test_the_temporal_blocks_see_every_frame_and_know_their_order():
    tower = VideoTower(zoo.toy_clip(), aligned=True, seed=3)
    with torch.no_grad():
        for p in tower.blocks.parameters():  # give the zero-initialised projections some weight
            p.add_(0.05 * torch.randn_like(p))
    tokens = torch.randn(1, 4, 17, 128)
    out = tower.temporal(tokens)
    changed = tokens.clone()
    changed[:, 3] += 1.0  # the last frame changes → the first frame's tokens change too
    assert not torch.allclose(tower.temporal(changed)[:, 0], out[:, 0])
    swapped = tokens[:, [1, 0, 2, 3]]  # order matters (frame position embedding)
    assert not torch.allclose(tower.temporal(swapped)[:, [1, 0, 2, 3]], out, atol=1e-5)


def test_the_tower_refuses_frames_without_a_clip_axis_and_too_many_frames():
    tower = VideoTower(zoo.toy_clip(), max_frames=4)
    with pytest.raises(ValueError, match="clips"):
        tower.frame_tokens(torch.randn(8, 3, 64, 64))
    with pytest.raises(ValueError, match="maximum"):
        tower.temporal(torch.randn(1, 5, 17, 128))


@pytest.mark.parametrize("kind", VIDEO_TOWERS)
def test_each_zoo_tower_is_built_once_then_loaded_identically_and_frozen(kind):
    a, b = zoo.toy_video(kind, progress=False), zoo.toy_video(kind, progress=False)
    assert not any(p.requires_grad for p in a.parameters())
    for k, v in a.trained_state().items():
        assert torch.equal(v, b.trained_state()[k]), k
    assert set(a.trained_state()) and not any(k.startswith("frames.") for k in a.trained_state())
    assert any(k.startswith("text.") for k in a.trained_state()) == (kind == "separate")


def test_a_tower_recipe_builds_the_same_bytes_twice(tmp_path, monkeypatch):
    digests = []
    for run in ("a", "b"):
        monkeypatch.setenv("MINIVLM_CACHE", str(tmp_path / run))
        zoo.toy_video("separate", progress=False)
        files = sorted((tmp_path / run).rglob("toy-video-separate-*.safetensors"))
        assert len(files) == 1
        digests.append(files[0].read_bytes())
    assert digests[0] == digests[1]


def test_trained_state_round_trips_and_refuses_other_weights():
    recipe = tower_recipe("separate")
    a = new_tower("separate", recipe)
    b = new_tower("separate", {**recipe, "seed": 5, "text_seed": 6})
    b.load_trained_state({k: v.half() for k, v in a.trained_state().items()})
    for k, v in a.trained_state().items():
        assert torch.allclose(v, b.trained_state()[k], atol=1e-2), k
    with pytest.raises(ValueError, match="do not fit"):
        new_tower("aligned", tower_recipe("aligned")).load_trained_state(a.trained_state())


def test_tower_figures_are_shares_and_clips_have_captions():
    tower = zoo.toy_video("aligned", progress=False)
    clips, texts, scenes = caption_clips("test", 6, 4)
    assert clips.shape == (6, 4, 64, 64, 3) and len(texts) == len(scenes) == 6
    tokens = clip_frame_tokens(tower, clips)
    assert tokens.shape == (6, 4, 17, 128)
    assert 0 <= retrieval(tower, tokens, texts) <= 1
    figures = direction_zero_shot(tower, n=5, frames=4)
    assert 0 <= figures["direction_zero_shot"] <= 1 and figures["direction_clips"] == 5


def test_an_unknown_tower_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown video tower"):
        tower_recipe("united")
    with pytest.raises(ValueError, match="video_tower"):
        VIDEO_LLAVA.replace(video_tower="united")


# ---- the preset -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def model():
    m = build("video-llava")
    m.fit_standardizer([IMAGE, CLIP8])
    return m


def test_images_go_through_the_image_tower_videos_through_the_video_tower_one_projector(model):
    assert model._media_parts(IMAGE)[0] is model.vision_encoder
    assert model._media_parts(CLIP8)[0] is model.video_encoder
    assert model._media_parts(IMAGE)[1] is model._media_parts(CLIP8)[1] is model.vision_tokenizer
    with torch.no_grad():
        image, video = model.encode_media([IMAGE, CLIP8])
        pixels = model.video_encoder.preprocess(CLIP8.pixels.numpy())[None]
        want = model.vision_tokenizer(model.video_encoder(pixels))[0]
    assert image.shape == (16, 128) and video.shape == (8 * 16, 128)
    assert torch.allclose(video, want, atol=1e-5)
    assert model.video_encoder.text is None  # the VLM reads with the tower, not its text side


def test_the_preset_is_video_llavas_shape():
    m = build(VIDEO_LLAVA)
    assert VIDEO_LLAVA.connector == "mlp" and VIDEO_LLAVA.video_tower == "aligned"
    assert "video_encoder" in m.parts() and not any(p.requires_grad for p in m.parameters())
    separate = build(VIDEO_LLAVA.replace(video_tower="separate"))
    assert not separate.video_encoder.aligned
    plain = build(VIDEO_LLAVA.replace(video_tower=None))
    assert plain.video_encoder is None and "video_encoder" not in plain.parts()
    with pytest.raises(ValueError, match="video tower"):
        type(m)(VIDEO_LLAVA, m.vision_encoder, m.lm, m.tokenizer)


def test_a_video_tower_needs_the_zoo_image_tower_and_its_feature_layer():
    with pytest.raises(ValueError, match="feature_layer"):
        build(VIDEO_LLAVA.replace(feature_layer=-1))


def test_mixed_batches_hold_both_kinds_and_are_deterministic(model):
    images = [qa(IMAGE, "what colour is the circle ?", "red")] * 3
    videos = [qa(CLIP8, "which way does it move ?", "left")] * 2
    first = next(mixed_batches(model, images, videos, 3, 2, seed=1))
    assert [m[0].modality for m in first["media"]] == ["image"] * 3 + ["video"] * 2
    again = next(mixed_batches(model, images, videos, 3, 2, seed=1))
    assert torch.equal(first["input_ids"], again["input_ids"])
    only = next(mixed_batches(model, [], videos, 0, 2))
    assert [m[0].modality for m in only["media"]] == ["video"] * 2
    with pytest.raises(ValueError, match="no samples"):
        next(mixed_batches(model, [], videos, 2, 2))
    with pytest.raises(ValueError, match="positive"):
        next(mixed_batches(model, images, videos, 0, 0))
    out = model(**first)
    assert torch.isfinite(out.loss)


def test_the_joint_stage_trains_the_projector_and_lm_on_mixed_batches_only():
    m = build(VIDEO_LLAVA)
    m.fit_standardizer([IMAGE, CLIP8])
    images, videos = [qa(IMAGE, "what colour is the circle ?", "red")], [qa(CLIP8, "how many ?", "one")]
    before = {k: v.clone() for k, v in m.state_dict().items()}
    stage = Stage("j", train=JOINT.train, data="x", steps=2, lr=1e-2, batch_size=2, lr_scale=JOINT.lr_scale)
    run_stage(m, stage, [], progress=False, batches=mixed_batches(m, images, videos, 1, 1))
    changed = {k for k, v in m.state_dict().items() if not torch.equal(before[k], v)}
    assert changed and all(k.startswith(("vision_tokenizer.", "lm.")) for k in changed)


# ---- the shared space -------------------------------------------------------------------------------
def test_space_similarity_shows_a_shared_space_as_a_diagonal():
    g = torch.Generator().manual_seed(0)
    image = torch.randn(5, 4, 8, generator=g)
    same = image[:, None].expand(5, 3, 4, 8) + 0.01 * torch.randn(5, 3, 4, 8, generator=g)
    rotated = same @ torch.linalg.qr(torch.randn(8, 8, generator=g))[0]
    assert diagonal_gap(space_similarity(image, same)) > 0.8
    assert diagonal_gap(space_similarity(image, rotated)) < 0.5
    with pytest.raises(ValueError, match="same N"):
        space_similarity(image, same[:4])


# ---- exercise checks --------------------------------------------------------------------------------
def right_alignment_loss(video, text, scale):
    v, t = F.normalize(video, dim=-1), F.normalize(text, dim=-1)
    logits = scale * v @ t.T
    target = torch.arange(len(v))
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


def test_alignment_loss_check_passes_the_right_answer_and_not_a_stub():
    assert check_alignment_loss(right_alignment_loss)

    def stub(video, text, scale):
        raise NotImplementedError

    assert not check_alignment_loss(stub)


@pytest.mark.parametrize("wrong", [
    lambda v, t, s: F.cross_entropy(s * F.normalize(v, dim=-1) @ F.normalize(t, dim=-1).T, torch.arange(len(v))),
    lambda v, t, s: (F.cross_entropy(s * v @ t.T, torch.arange(len(v))) + F.cross_entropy(s * t @ v.T, torch.arange(len(v)))) / 2,
    lambda v, t, s: right_alignment_loss(v, t, 1.0),
    lambda v, t, s: F.cross_entropy(s * F.normalize(v, dim=-1) @ F.normalize(t, dim=-1).T, torch.arange(len(v))) +
    F.cross_entropy(s * F.normalize(t, dim=-1) @ F.normalize(v, dim=-1).T, torch.arange(len(v))),
    lambda v, t, s: right_alignment_loss(v, t.flip(0), s),
], ids=["one direction", "not normalised", "no temperature", "sum not mean", "wrong pairs"])
def test_alignment_loss_check_fails_plausible_wrong_answers(wrong):
    with pytest.raises(CheckFailed):
        check_alignment_loss(wrong)


def right_mixed(items, image_tower, video_tower, projector):
    out = []
    for kind, x in items:
        tokens = image_tower(x[None])[0] if kind == "image" else video_tower(x[None])[0].flatten(0, 1)
        out.append(projector(tokens))
    return out


def grouped_by_kind(items, image_tower, video_tower, projector):
    images = [projector(image_tower(x[None])[0]) for kind, x in items if kind == "image"]
    videos = [projector(video_tower(x[None])[0].flatten(0, 1)) for kind, x in items if kind == "video"]
    return images + videos


def videos_through_the_image_tower(items, image_tower, video_tower, projector):
    return [projector(image_tower(x[None])[0] if kind == "image" else image_tower(x).flatten(0, 1))
            for kind, x in items]


def video_frames_averaged(items, image_tower, video_tower, projector):
    return [projector(image_tower(x[None])[0] if kind == "image" else video_tower(x[None])[0].mean(0))
            for kind, x in items]


def projected_before_the_tower(items, image_tower, video_tower, projector):
    return [projector(x) if kind == "image" else projector(video_tower(x[None])[0].flatten(0, 1)) for kind, x in items]


def test_mixed_batch_check_passes_the_right_answer():
    assert check_mixed_batch(right_mixed)


@pytest.mark.parametrize("wrong", [grouped_by_kind, videos_through_the_image_tower, video_frames_averaged,
                                   projected_before_the_tower])
def test_mixed_batch_check_fails_plausible_wrong_answers(wrong):
    with pytest.raises(CheckFailed):
        check_mixed_batch(wrong)


def test_a_new_toy_clip_makes_a_new_tower_recipe(monkeypatch):
    """The towers are trained on the toy CLIP's frame tokens: a changed CLIP recipe must not load
    towers trained on the old one."""
    before = {kind: zoo.recipe_key(tower_recipe(kind)) for kind in ("aligned", "separate")}
    real = zoo.clip_recipe
    monkeypatch.setattr(zoo, "clip_recipe", lambda full=None: {**real(full), "steps": real(full)["steps"] + 1})
    after = {kind: zoo.recipe_key(tower_recipe(kind)) for kind in ("aligned", "separate")}
    assert all(before[k] != after[k] for k in before)
