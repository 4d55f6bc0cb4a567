"""The notebooks' pictures: each draws what it is given, and refuses nothing silently."""

import matplotlib

matplotlib.use("Agg")

import sys  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from minivlm import data, plot  # noqa: E402


def test_animate_plays_every_frame_of_a_clip():
    scene = data.sample_scene("test", 3)
    frames = data.render(scene)
    html = plot.animate(frames, times=scene.frame_times()).data
    # matplotlib's JavaScript player embeds one image per frame
    assert html.count("data:image/png;base64") == len(frames)


def test_animate_without_ipython_says_what_to_do(monkeypatch):
    monkeypatch.setitem(sys.modules, "IPython.display", None)  # as in a plain Python without Jupyter
    with pytest.raises(ImportError, match="needs IPython.*pip install ipython.*show_frames"):
        plot.animate(np.zeros((2, 8, 8, 3), np.uint8))


def test_seed_spread_draws_each_seed_and_the_chance_line():
    ax = plot.seed_spread({"a": [0.1, 0.2, 0.3], "b": [0.5, 0.6, 0.7]}, chance=0.25)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b"]
    dots = [c.get_offsets()[:, 1] for c in ax.collections if len(c.get_offsets()) == 3]
    assert [list(np.round(d, 3)) for d in dots] == [[0.1, 0.2, 0.3], [0.5, 0.6, 0.7]]
    assert any(np.allclose(line.get_ydata(), 0.25) for line in ax.lines)  # the chance line
