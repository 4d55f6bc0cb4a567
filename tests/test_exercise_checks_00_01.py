"""Notebooks 00 and 01: each exercise check accepts the package's answer and rejects plausible
wrong ones (under strict mode, as `make test` runs the solutions)."""

import numpy as np
import pytest
import torch

from minivlm.checks import CheckFailed
from minivlm.data import check_fps_indices, check_uniform_indices, fps_indices, uniform_indices
from minivlm.vision import check_clip_loss, check_patchify, patchify


@pytest.fixture(autouse=True)
def strict(monkeypatch):
    monkeypatch.setenv("MINIVLM_STRICT_CHECKS", "1")


def test_the_checks_accept_the_package_answers():
    assert check_uniform_indices(uniform_indices)
    assert check_fps_indices(fps_indices)
    assert check_patchify(patchify)

    def clip_loss(image, text, scale):
        logits = scale * image @ text.T
        targets = torch.arange(len(image))
        return (torch.nn.functional.cross_entropy(logits, targets) + torch.nn.functional.cross_entropy(logits.T, targets)) / 2

    assert check_clip_loss(clip_loss)


def _first_frame_of_each_segment(num_frames, n):
    if num_frames < n:
        raise ValueError("too short")
    return np.floor(np.arange(n) * num_frames / n).astype(np.int64)


def _linspace_with_ends(num_frames, n):
    if num_frames < n:
        raise ValueError("too short")
    return np.linspace(0, num_frames - 1, n).round().astype(np.int64)


def _no_refusal(num_frames, n):  # right on long clips, silently repeats frames on short ones
    return np.floor((np.arange(n) + 0.5) * num_frames / n).astype(np.int64)


@pytest.mark.parametrize("wrong", [_first_frame_of_each_segment, _linspace_with_ends, _no_refusal])
def test_the_uniform_sampling_check_rejects(wrong):
    with pytest.raises(CheckFailed):
        check_uniform_indices(wrong)


def _floor_not_nearest(num_frames, native_fps, target_fps):
    times = np.arange(0.0, num_frames / native_fps - 1e-9, 1.0 / target_fps)
    return np.minimum(np.floor(times * native_fps).astype(np.int64), num_frames - 1)


def _one_past_the_end(num_frames, native_fps, target_fps):  # includes t = duration
    times = np.arange(0.0, num_frames / native_fps + 1e-9, 1.0 / target_fps)
    return np.minimum(np.round(times * native_fps).astype(np.int64), num_frames - 1)


@pytest.mark.parametrize("wrong", [_floor_not_nearest, _one_past_the_end])
def test_the_fps_sampling_check_rejects(wrong):
    with pytest.raises(CheckFailed):
        check_fps_indices(wrong)


def _channels_first(pixels, p):  # each patch flattened as (C, p, p) instead of (p, p, C)
    b, c, h, w = pixels.shape
    x = pixels.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 1, 3, 5)
    return x.reshape(b, (h // p) * (w // p), c * p * p)


def _column_major(pixels, p):  # patches top to bottom, then left to right
    b, c, h, w = pixels.shape
    x = pixels.reshape(b, c, h // p, p, w // p, p).permute(0, 4, 2, 3, 5, 1)
    return x.reshape(b, (h // p) * (w // p), p * p * c)


def _plain_reshape(pixels, p):  # right shape, wrong content
    b, c, h, w = pixels.shape
    return pixels.permute(0, 2, 3, 1).reshape(b, (h // p) * (w // p), p * p * c)


@pytest.mark.parametrize("wrong", [_channels_first, _column_major, _plain_reshape])
def test_the_patchify_check_rejects(wrong):
    with pytest.raises(CheckFailed):
        check_patchify(wrong)


def _one_direction(image, text, scale):  # images pick captions only
    return torch.nn.functional.cross_entropy(scale * image @ text.T, torch.arange(len(image)))


def _no_scale(image, text, scale):
    logits = image @ text.T
    t = torch.arange(len(image))
    return (torch.nn.functional.cross_entropy(logits, t) + torch.nn.functional.cross_entropy(logits.T, t)) / 2


def _summed_not_averaged(image, text, scale):
    logits = scale * image @ text.T
    t = torch.arange(len(image))
    return torch.nn.functional.cross_entropy(logits, t) + torch.nn.functional.cross_entropy(logits.T, t)


@pytest.mark.parametrize("wrong", [_one_direction, _no_scale, _summed_not_averaged])
def test_the_clip_loss_check_rejects(wrong):
    with pytest.raises(CheckFailed):
        check_clip_loss(wrong)
