"""LLaVA-OneVision (notebook 10): the AnyRes grid and its views, pooled video frames, the model
that reads both, the large stills, and the exercise checks fed plausible wrong answers."""

import pytest
import torch
import torch.nn.functional as F

from minivlm import build
from minivlm.checks import CheckFailed
from minivlm.config import VLMConfig
from minivlm.data import make_clip_qa, render, render_still, sample_scene, uniform_times
from minivlm.media import Media
from minivlm.onevision import (GRIDS, ONEVISION, LARGE_SIZES, OneVisionVLM, anyres_views, bilinear_pool,
                               check_anyres_views, check_best_resolution, check_sigmoid_loss,
                               make_image_set_qa, make_large_still_qa, select_best_resolution, any_picture_baseline)
from minivlm.data.text import NUMBER_WORDS
from minivlm.samples import collate, precompute
from minivlm.vlm import VLM, LanguageStreamVLM

SCENE = sample_scene("train", 7)


# ---- the grid ------------------------------------------------------------------------------------
@pytest.mark.parametrize("size, grid", [((64, 64), (1, 1)), ((192, 192), (3, 3)), ((128, 192), (2, 3)),
                                        ((192, 128), (3, 2)), ((64, 192), (1, 3)), ((200, 60), (3, 1)),
                                        ((1000, 1000), (3, 3)), ((32, 32), (1, 1))])
def test_the_grid_fits_the_image_shape(size, grid):
    assert select_best_resolution(size, GRIDS, 64) == grid


def test_the_grid_keeps_the_most_pixels_then_wastes_the_least():
    # a 100 × 100 image: (2, 2) keeps all of it at 128 × 128; (2, 3) or (3, 3) keep no more but waste more
    assert select_best_resolution((100, 100), GRIDS, 64) == (2, 2)
    # the 2:1 image fits 1 × 2 crops exactly at 336 px: no bigger grid keeps more of it
    assert select_best_resolution((336, 672), [(2, 2), (1, 2), (2, 1)], 336) == (1, 2)
    with pytest.raises(ValueError, match="at least"):
        select_best_resolution((64, 64), [], 64)


# ---- the views -----------------------------------------------------------------------------------
def test_views_are_the_base_then_the_crops_of_the_padded_canvas_row_by_row():
    image = torch.randint(0, 256, (128, 192, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    views = anyres_views(image, (2, 3), 64)
    assert views.shape == (7, 64, 64, 3) and views.dtype == torch.uint8
    # the image fills the 128 × 192 canvas exactly: the crops are its tiles, unchanged
    for k in range(6):
        row, col = divmod(k, 3)
        assert torch.equal(views[1 + k], image[64 * row:64 * row + 64, 64 * col:64 * col + 64])
    base = F.interpolate(image.permute(2, 0, 1)[None].float(), size=(64, 64), mode="bilinear",
                         align_corners=False, antialias=True)[0].permute(1, 2, 0).round().to(torch.uint8)
    assert torch.equal(views[0], base)


def test_an_image_of_another_shape_is_centred_on_black():
    image = torch.full((64, 128, 3), 200, dtype=torch.uint8)  # 1:2 on a 2 × 2 grid: bands above and below
    views = anyres_views(image, (2, 2), 64)
    canvas = torch.cat([torch.cat([views[1], views[2]], 1), torch.cat([views[3], views[4]], 1)], 0)
    assert canvas.shape == (128, 128, 3)
    assert (canvas[:32] == 0).all() and (canvas[96:] == 0).all() and (canvas[32:96] == 200).all()


def test_views_refuse_what_is_not_one_image():
    with pytest.raises(ValueError, match="one image"):
        anyres_views(torch.zeros(2, 64, 64, 3, dtype=torch.uint8), (1, 1), 64)
    with pytest.raises(ValueError, match="uint8"):
        anyres_views(torch.zeros(64, 64, 3), (1, 1), 64)


# ---- video pooling -------------------------------------------------------------------------------
def test_bilinear_pooling_halves_each_side_as_an_average_of_2_by_2_cells():
    x = torch.randn(2, 5, 16, 3)
    pooled = bilinear_pool(x, 2)
    assert pooled.shape == (2, 5, 4, 3)
    cells = x.reshape(2, 5, 2, 2, 2, 2, 3).mean((3, 5)).reshape(2, 5, 4, 3)  # rows and columns in pairs
    torch.testing.assert_close(pooled, cells)
    assert torch.equal(bilinear_pool(x, 4), x)  # a target as large as the grid keeps it
    with pytest.raises(ValueError, match="square"):
        bilinear_pool(torch.randn(1, 15, 3), 2)


# ---- the model -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def model():
    m = build("llava-onevision")
    m.fit_standardizer([Media.image(render_still(SCENE, 1.0, size=(128, 192))),
                        Media.video(render(SCENE, uniform_times(SCENE, 4)))])
    return m


def test_the_preset_builds_a_onevision_model_and_an_empty_grid_list_reads_the_base_view_alone(model):
    assert type(model) is OneVisionVLM and isinstance(model, LanguageStreamVLM)
    wide = Media.image(render_still(SCENE, 1.0, size=(128, 192)))
    assert model.num_tokens(wide) == 16 * (1 + 6)
    assert model.num_tokens(Media.image(render_still(SCENE, 1.0))) == 16  # 64 × 64: one crop, the base view
    base = build(ONEVISION.replace(anyres_grids=()))
    assert type(base) is OneVisionVLM and base.num_tokens(wide) == 16
    assert type(build("llava-1.5")) is LanguageStreamVLM  # other presets keep their family


def test_videos_are_pooled_after_the_projector_to_2_by_2_per_frame(model):
    clip = Media.video(render(SCENE, uniform_times(SCENE, 6)))
    assert model.num_tokens(clip) == 6 * 4
    with torch.no_grad():
        tokens = model.encode_media([clip])[0]
        features = model.encode_features([clip])[0]  # (6, 16, D)
        projected = model.vision_tokenizer(features[None])[0].reshape(6, 16, -1)  # every token, projected
    assert tokens.shape == (24, model.lm.config.hidden_size)
    torch.testing.assert_close(tokens, bilinear_pool(projected, 2).flatten(0, 1))


def test_an_image_is_encoded_view_by_view_and_cached_features_give_the_same_tokens(model):
    image = Media.image(render_still(SCENE, 1.0, size=(192, 128)))
    with torch.no_grad():
        features = model.encode_features([image])[0]
        views = anyres_views(image.pixels[0], (3, 2), 64)
        by_hand = model.vision_encoder(model.vision_encoder.preprocess(views))
        assert features.shape == (7, 16, by_hand.shape[-1])
        torch.testing.assert_close(features, by_hand)
        cached = model.precompute([image])[0]
        assert cached.features.shape[0] == 7 and model.num_tokens(cached) == model.num_tokens(image)
        torch.testing.assert_close(model.encode_media([cached])[0], model.encode_media([image])[0])


def test_a_batch_of_large_stills_and_pooled_clips_trains_and_round_trips(model, tmp_path):
    stills = make_large_still_qa("train", 3)
    clips = make_clip_qa("train", 2, 8, kinds=("colour", "direction"))
    batch = collate(model, stills + clips)
    expected = [model.num_tokens(s.media[0]) for s in stills + clips]
    slots = torch.isin(batch["input_ids"], torch.tensor(model.media_token_ids)).sum(1).tolist()
    assert slots == expected
    with torch.no_grad():
        loss = model(**batch).loss
        cached = collate(model, precompute(model, stills + clips))
        torch.testing.assert_close(model(**cached).loss, loss)
    model.save_pretrained(tmp_path / "ov")
    loaded = VLM.from_pretrained(tmp_path / "ov")
    assert type(loaded) is OneVisionVLM and loaded.config.anyres_grids == GRIDS
    with torch.no_grad():
        assert torch.equal(loaded(**batch).logits, model(**batch).logits)


def test_config_checks_the_grids_and_the_pool():
    loaded = VLMConfig.from_dict({**ONEVISION.to_dict(), "anyres_grids": [[1, 2], [2, 1]]})  # as JSON gives them
    assert loaded.anyres_grids == ((1, 2), (2, 1))
    with pytest.raises(ValueError, match="pairs"):
        VLMConfig(anyres_grids=((0, 2),))
    with pytest.raises(ValueError, match="video_pool"):
        VLMConfig(video_pool=0)
    with pytest.raises(ValueError, match="language_stream"):
        build(ONEVISION.replace(fusion="cross_attention"))
    with pytest.raises(ValueError, match="reducer='concat'"):  # pooling reads every frame's tokens
        build(ONEVISION.replace(reducer="spatio_temporal"))


# ---- data ----------------------------------------------------------------------------------------
def test_large_stills_come_in_each_size_with_small_objects_and_are_deterministic():
    stills = make_large_still_qa("train", 6)
    sizes = sorted(tuple(s.media[0].pixels.shape[1:3]) for s in stills)
    assert sizes == sorted(LARGE_SIZES * 2)
    again = make_large_still_qa("train", 6)
    assert all(torch.equal(a.media[0].pixels, b.media[0].pixels) and a.answer == b.answer
               for a, b in zip(stills, again))
    test = make_large_still_qa("test", 6)
    assert not any(torch.equal(a.media[0].pixels, b.media[0].pixels) for a in stills for b in test)
    for s in stills:  # every object's radius is 4–6 % of the image's longer side
        h, w = s.media[0].pixels.shape[1:3]
        radii = [o.radius * min(h, w) / max(h, w) for o in s.scene.objects]
        assert all(0.04 - 1e-9 <= r <= 0.06 + 1e-9 for r in radii)


# ---- exercise checks ---------------------------------------------------------------------------------
def test_the_checks_pass_the_package_functions():
    assert check_best_resolution(select_best_resolution)
    assert check_anyres_views(anyres_views)


def _most_crops(size, grids, crop):  # plausible: the finest grid that fits the aspect ratio, ignoring waste
    return max(grids, key=lambda g: (min(g[1] * crop / size[1], g[0] * crop / size[0]), -g[0] * g[1]))


def _closest_ratio(size, grids, crop):  # plausible: match the aspect ratio only
    return min(grids, key=lambda g: abs(g[1] / g[0] - size[1] / size[0]))


def _rows_cols_swapped(size, grids, crop):
    rows, cols = select_best_resolution(size, grids, crop)
    return cols, rows


@pytest.mark.parametrize("wrong", [_most_crops, _closest_ratio, _rows_cols_swapped])
def test_the_grid_check_refuses_plausible_wrong_rules(wrong):
    with pytest.raises(CheckFailed):
        check_best_resolution(wrong)


def _stretched(pixels, grid, crop):  # resize to the canvas without keeping the aspect ratio
    rows, cols = grid
    x = F.interpolate(pixels.permute(2, 0, 1)[None].float(), size=(rows * crop, cols * crop), mode="bilinear",
                      align_corners=False, antialias=True)[0].permute(1, 2, 0).round().to(torch.uint8)
    crops = x.reshape(rows, crop, cols, crop, 3).permute(0, 2, 1, 3, 4).reshape(-1, crop, crop, 3)
    return torch.cat([anyres_views(pixels, grid, crop)[:1], crops])


def _no_base_view(pixels, grid, crop):
    return anyres_views(pixels, grid, crop)[1:]


def _base_last(pixels, grid, crop):
    views = anyres_views(pixels, grid, crop)
    return torch.cat([views[1:], views[:1]])


def _column_major(pixels, grid, crop):
    views = anyres_views(pixels, grid, crop)
    rows, cols = grid
    order = [1 + r * cols + c for c in range(cols) for r in range(rows)]
    return torch.cat([views[:1], views[order]])


def _padded_at_the_corner(pixels, grid, crop):
    views = anyres_views(pixels, grid, crop)
    rows, cols = grid
    canvas = views[1:].reshape(rows, cols, crop, crop, 3).permute(0, 2, 1, 3, 4).reshape(rows * crop, cols * crop, 3)
    filled = canvas.flatten(1).amax(1) > 0  # rows of the canvas the image covers (the test images are never black)
    moved = torch.roll(canvas, -int(filled.int().argmax()), 0)  # the image at the top, the padding below
    crops = moved.reshape(rows, crop, cols, crop, 3).permute(0, 2, 1, 3, 4).reshape(-1, crop, crop, 3)
    return torch.cat([views[:1], crops])


def _rounded_down(pixels, grid, crop):  # int() instead of LLaVA-NeXT's ceil on the side that does not fill
    rows, cols = grid
    h, w = pixels.shape[:2]
    scale = min(cols * crop / w, rows * crop / h)
    nh, nw = int(h * scale), int(w * scale)
    canvas = torch.zeros(rows * crop, cols * crop, 3, dtype=torch.uint8)
    top, left = (rows * crop - nh) // 2, (cols * crop - nw) // 2
    canvas[top:top + nh, left:left + nw] = F.interpolate(
        pixels.permute(2, 0, 1)[None].float(), size=(nh, nw), mode="bilinear", align_corners=False,
        antialias=True)[0].permute(1, 2, 0).round().to(torch.uint8)
    crops = canvas.reshape(rows, crop, cols, crop, 3).permute(0, 2, 1, 3, 4).reshape(-1, crop, crop, 3)
    return torch.cat([anyres_views(pixels, grid, crop)[:1], crops])


@pytest.mark.parametrize("wrong", [_stretched, _no_base_view, _base_last, _column_major, _padded_at_the_corner,
                                   _rounded_down])
def test_the_views_check_refuses_plausible_wrong_views(wrong):
    with pytest.raises(CheckFailed):
        check_anyres_views(wrong)


# ---- SigLIP's sigmoid loss ----------------------------------------------------------------------------
def _siglip_reference(image, text, scale, bias):
    logits = scale * image @ text.T + bias
    labels = 2 * torch.eye(len(image)) - 1
    return -F.logsigmoid(labels * logits).sum() / len(image)


def test_the_sigmoid_loss_check_passes_the_definition_and_refuses_plausible_wrong_ones():
    assert check_sigmoid_loss(_siglip_reference)
    wrong = [
        lambda i, t, s, b: -F.logsigmoid((2 * torch.eye(len(i)) - 1) * (s * i @ t.T + b)).mean(),  # over B², not B
        lambda i, t, s, b: _siglip_reference(i, t, s, torch.tensor(0.0)),  # the bias forgotten
        lambda i, t, s, b: -F.logsigmoid(s * i @ t.T + b).sum() / len(i),  # every pair a positive
        lambda i, t, s, b: F.cross_entropy(s * i @ t.T, torch.arange(len(i))),  # CLIP's softmax, one way
        lambda i, t, s, b: -F.logsigmoid(torch.diagonal(s * i @ t.T + b)).mean(),  # positives only
    ]
    for fn in wrong:
        with pytest.raises(CheckFailed):
            check_sigmoid_loss(fn)


def test_the_toy_sigmoid_model_has_siglips_bias_and_trains_offline_with_the_sigmoid_loss():
    from minivlm.data import still_caption_pool
    from minivlm.vision import TOY_SIGMOID, VisionEncoder, clip_loss_fn, create_clip

    model = create_clip(TOY_SIGMOID, seed=0)
    assert model.logit_bias.item() == -10.0 and abs(model.logit_scale.exp().item() - 10.0) < 1e-4
    pixels, texts = still_caption_pool(4)
    batch = (VisionEncoder(model, model_name=TOY_SIGMOID).preprocess(pixels), texts)
    loss, logs = clip_loss_fn(TOY_SIGMOID, kind="siglip")(model, batch)
    loss.backward()
    assert torch.isfinite(loss) and model.logit_bias.grad is not None


# ---- multi-image sets ------------------------------------------------------------------------------
def test_a_prompt_with_several_images_reads_each_at_its_base_view(model):
    wide = Media.image(render_still(SCENE, 1.0, size=(128, 192)))
    other = Media.image(render_still(sample_scene("train", 8), 1.0, size=(128, 192)))
    assert model.prompt_media([wide]) == [wide] and model.prompt_media([wide])[0].anyres
    pair = model.prompt_media([wide, other])
    assert [m.anyres for m in pair] == [False, False] and [model.num_tokens(m) for m in pair] == [16, 16]
    clip = Media.video(render(SCENE, uniform_times(SCENE, 4)))
    assert model.prompt_media([clip, wide])[1] is wide  # one image beside a video keeps its crops
    with torch.no_grad():  # the base view alone: the first view of the single image's encoding (which
        # AnyRes resizes to uint8 first: equal up to that rounding)
        torch.testing.assert_close(model.encode_features(pair[:1])[0], model.encode_features([wide])[0][:1],
                                   atol=5e-3, rtol=0)


def test_image_sets_collate_precompute_and_train_at_base_views(model):
    sets = make_image_set_qa("train", 4)
    batch = collate(model, sets)
    slots = torch.isin(batch["input_ids"], torch.tensor(model.media_token_ids)).sum(1).tolist()
    assert slots == [16 * len(s.media) for s in sets]
    cached = precompute(model, sets)
    assert all(item.features.shape[0] == 1 for s in cached for item in s.media)
    with torch.no_grad():
        torch.testing.assert_close(model(**collate(model, cached)).loss, model(**batch).loss)
    other = build("llava-1.5")  # a model without AnyRes reads every image at its base view anyway
    assert other.prompt_media(sets[0].media) == list(sets[0].media)


def test_an_image_set_question_is_about_the_named_picture_and_another_picture_would_differ():
    sets = make_image_set_qa("test", 12)
    assert sorted({len(s.media) for s in sets}) == [2, 3]
    for s in sets:
        words = s.question.split()
        assert words[:3] == ["picture", "one", ":"]  # each picture named before its placeholder
        shape, named = words[-5], NUMBER_WORDS.index(words[-2]) - 1
        colours = [{o.shape: sc.colour_at(i, t) for i, o in enumerate(sc.objects) if sc.visible(i, t)}.get(shape)
                   for sc, t in zip(s.meta["set"], s.meta["times"])]
        assert colours[named] == s.answer  # the named picture's object
        assert any(c is not None and c != s.answer for c in colours)  # another picture shows it otherwise
    baseline = any_picture_baseline(sets)  # a shape in 2 or 3 pictures, at least two colours: ≤ 1/2
    assert 1 / 3 - 1e-9 <= baseline <= 0.5 + 1e-9
    with pytest.raises(ValueError, match="make_image_set_qa"):
        any_picture_baseline(make_large_still_qa("test", 2))
    again = make_image_set_qa("test", 12)
    assert [s.question for s in sets] == [s.question for s in again]
    assert all(torch.equal(a.pixels, b.pixels) for x, y in zip(sets, again) for a, b in zip(x.media, y.media))
    with pytest.raises(ValueError, match="2 to"):
        make_image_set_qa("test", 2, sizes=(1,))
