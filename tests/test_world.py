import numpy as np
import pytest

from minivlm.data import (COLOURS, SHAPES, WorldConfig, render, render_audio, render_still, sample_scene,
                          sample_scenes, uniform_times)


def test_scenes_are_deterministic_by_seed():
    assert sample_scene("train", 5) == sample_scene("train", 5)
    assert sample_scene("train", 5) != sample_scene("train", 6)
    assert sample_scene("train", 5, WorldConfig(seed=1)) != sample_scene("train", 5)


def test_splits_are_disjoint():
    train = {repr(s.objects) for s in sample_scenes("train", 300)}
    test = {repr(s.objects) for s in sample_scenes("test", 300)}
    assert not train & test


def test_objects_have_distinct_shapes_and_colours():
    for s in sample_scenes("train", 100, WorldConfig(max_objects=4)):
        assert len({o.shape for o in s.objects}) == len(s.objects)
        colours = [o.colour for o in s.objects] + [o.new_colour for o in s.objects if o.new_colour]
        assert len(set(colours)) == len(colours)


def test_events_are_sorted_and_inside_the_clip():
    for s in sample_scenes("val", 100):
        times = [e.start for e in s.events]
        assert times == sorted(times)
        assert all(0 <= t <= s.duration for t in times)
        for e in s.events:
            if e.kind == "bounce":
                assert s.visible(e.obj, e.start)


def test_render_shapes_and_dtype():
    s = sample_scene("train", 0)
    frames = render(s)
    assert frames.shape == (s.num_frames, 64, 64, 3) and frames.dtype == np.uint8
    assert render_still(s, 1.0, size=(48, 96)).shape == (48, 96, 3)
    assert np.array_equal(render(s, [0.5]), render(s, [0.5]))


def test_a_visible_object_is_drawn_in_its_colour():
    cfg = WorldConfig(max_objects=1, p_appear=0, p_disappear=0, p_change=0)
    s = sample_scene("train", 3, cfg)
    frame = render_still(s, 0.0).reshape(-1, 3)
    colour = np.array(COLOURS[s.objects[0].colour])
    assert (np.abs(frame.astype(int) - colour).sum(1) == 0).sum() > 20
    assert s.objects[0].shape in SHAPES


def test_uniform_times_are_segment_middles():
    s = sample_scene("train", 0)
    assert np.allclose(uniform_times(s, 4), [0.5, 1.5, 2.5, 3.5])


def test_audio_track_has_sounds_at_events():
    s = next(s for s in sample_scenes("train", 50) if s.events)
    track = render_audio(s)
    assert track.shape == (int(s.duration * 16000),) and track.dtype == np.float32
    e = s.events[0]
    at = int(e.start * 16000)
    assert np.abs(track[at:at + 400]).max() > 5 * np.abs(track[:200]).std() + 0.05 or e.start < 0.02


def test_config_rejects_too_many_objects():
    with pytest.raises(ValueError, match="at most"):
        WorldConfig(max_objects=9)
