"""Pictures for the notebooks: frames, timelines, audio, training curves, bars."""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np

from .data.render import SAMPLE_RATE
from .data.world import COLOURS, Scene
from .train import History


def show_frames(frames: np.ndarray, times: Sequence[float] | None = None, title: str | None = None,
                ncols: int = 8, size: float = 1.6):
    """A grid of frames (T, H, W, 3) uint8, each labelled with its time if given."""
    frames = np.asarray(frames)
    n = len(frames)
    ncols = min(ncols, n)
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + (0.3 if title else 0)), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, frame in enumerate(frames):
        ax = axes.flat[i]
        ax.imshow(frame)
        if times is not None:
            ax.set_title(f"{times[i]:.2f}s", fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def animate(frames: np.ndarray, times: Sequence[float] | None = None, fps: float = 8.0, size: float = 2.5):
    """A clip (T, H, W, 3) uint8 as an animation that plays in the notebook (matplotlib's
    FuncAnimation as self-contained HTML/JavaScript, so it also plays on Colab and in a saved
    notebook); each frame titled with its time if given."""
    try:
        from IPython.display import HTML
    except ImportError:
        raise ImportError("plot.animate plays a clip in a notebook and needs IPython, which Jupyter and "
                          "Colab have; outside a notebook, `pip install ipython`, or draw the frames "
                          "side by side with plot.show_frames(clip)") from None
    from matplotlib import animation

    frames = np.asarray(frames)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.axis("off")
    image = ax.imshow(frames[0])

    def show(i: int):
        image.set_data(frames[i])
        if times is not None:
            ax.set_title(f"{times[i]:.2f} s", fontsize=9)
        return (image,)

    clip = animation.FuncAnimation(fig, show, frames=len(frames), interval=1000 / fps, blit=False)
    html = HTML(clip.to_jshtml(default_mode="loop"))
    plt.close(fig)
    return html


def timeline(scene: Scene, sampled_times: Sequence[float] | None = None, ax=None):
    """When each object is visible (bars, in its colour) and when events happen (markers)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 0.6 + 0.5 * len(scene.objects)))
    markers = {"appear": ">", "disappear": "<", "stop": "s", "bounce": "x", "change": "*"}
    for i, o in enumerate(scene.objects):
        start, end = scene.visible_span(i)
        ax.barh(i, end - start, left=start, color=np.array(COLOURS[o.colour]) / 255, alpha=0.6)
    for e in scene.events:
        ax.scatter(e.start, e.obj, marker=markers[e.kind], color="k", zorder=3, label=e.kind)
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    if unique:
        ax.legend(unique.values(), unique.keys(), fontsize=7, loc="upper right", ncol=len(unique))
    if sampled_times is not None:
        for t in sampled_times:
            ax.axvline(t, color="grey", lw=0.8, ls=":")
    ax.set_yticks(range(len(scene.objects)), [o.name() for o in scene.objects])
    ax.set_xlim(0, scene.duration)
    ax.set_xlabel("time (s)")
    return ax


def audio_plot(track: np.ndarray, sample_rate: int = SAMPLE_RATE, n_mels: int = 64):
    """Waveform and log-mel spectrogram (Whisper's features) of a mono track, one above the other."""
    from transformers import WhisperFeatureExtractor

    extractor = WhisperFeatureExtractor(feature_size=n_mels, sampling_rate=sample_rate)
    mel = extractor(track, sampling_rate=sample_rate, return_tensors="np").input_features[0]
    frames = int(len(track) / extractor.hop_length)
    fig, (a, b) = plt.subplots(2, 1, figsize=(8, 3.5), sharex=True)
    t = np.arange(len(track)) / sample_rate
    a.plot(t, track, lw=0.5)
    a.set_ylabel("amplitude")
    b.imshow(mel[:, :frames], aspect="auto", origin="lower", extent=[0, len(track) / sample_rate, 0, n_mels])
    b.set_ylabel("mel bin")
    b.set_xlabel("time (s)")
    fig.tight_layout()
    return fig


def training_curves(histories: dict[str, History], metric: str | None = None, ax=None, smooth: int = 1):
    """Loss (or a logged metric) against step, one line per run."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    for name, h in histories.items():
        if metric is None:
            x, y = np.array(h.step), np.array(h.loss)
            if smooth > 1 and len(y) >= smooth:
                y = np.convolve(y, np.ones(smooth) / smooth, mode="valid")
                x = x[smooth - 1:]
        else:
            x, y = (np.array(v) for v in zip(*h.metrics[metric])) if h.metrics.get(metric) else ([], [])
        ax.plot(x, y, label=name, marker="o" if metric else None, ms=3)
    ax.set_xlabel("step")
    ax.set_ylabel(metric or "loss")
    ax.legend()
    return ax


def bars(results: dict[str, dict[str, float]], chance: dict[str, float] | None = None, ax=None,
         ylabel: str = "accuracy"):
    """Grouped bars: one group per metric (e.g. question kind), one bar per model; chance as ticks."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.5))
    models = list(results)
    metrics = sorted({m for r in results.values() for m in r}, key=lambda c: (c == "all", c))
    width = 0.8 / max(1, len(models))
    x = np.arange(len(metrics))
    for j, model in enumerate(models):
        ax.bar(x + j * width, [results[model].get(m, np.nan) for m in metrics], width, label=model)
    if chance:
        for i, m in enumerate(metrics):
            if m in chance:
                ax.hlines(chance[m], x[i] - width / 2, x[i] + width * (len(models) - 0.5), colors="k", linestyles="--", lw=1)
    ax.set_xticks(x + width * (len(models) - 1) / 2, metrics)
    ax.set_ylabel(ylabel)
    if all(v <= 1 for r in results.values() for v in r.values()):
        ax.set_ylim(0, 1.05)  # accuracies; other values (losses, scores) keep matplotlib's range
    ax.legend(fontsize=8)
    return ax


def shot_curves(curves: dict[str, dict[int, float]], chance: float | None = None, ax=None):
    """Accuracy against the number of in-context examples, one line per model (log-spaced shots)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.2))
    shots = sorted({k for c in curves.values() for k in c})
    for name, c in curves.items():
        ax.plot(list(c), list(c.values()), marker="o", label=name)
    if chance is not None:
        ax.axhline(chance, color="k", ls="--", lw=1, label="chance")
    ax.set_xscale("symlog", linthresh=1)
    ax.set_xticks(shots, [str(k) for k in shots])
    ax.set_xlabel("shots in the prompt")
    ax.set_ylabel("accuracy (held-out episodes)")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8)
    return ax


def seed_spread(runs: dict[str, Sequence[float]], ax=None, ylabel: str = "accuracy",
                chance: float | None = None, title: str | None = None):
    """One column per variant: each seed's value as a dot, the mean ± standard error as a bar —
    the picture of a comparison over seeds (`minivlm.results`)."""
    from .results import mean_se

    if ax is None:
        _, ax = plt.subplots(figsize=(1.2 + 1.1 * len(runs), 3.2))
    for x, (name, values) in enumerate(runs.items()):
        m, se = mean_se(values)
        jitter = np.linspace(-0.12, 0.12, len(values)) if len(values) > 1 else np.zeros(1)
        ax.scatter(x + jitter, values, s=14, alpha=0.6, color=f"C{x}")
        ax.errorbar(x, m, yerr=se, fmt="_", markersize=22, capsize=6, color="k", lw=1.5)
    if chance is not None:
        ax.axhline(chance, color="k", ls="--", lw=1, label="chance")
        ax.legend(fontsize=8)
    ax.set_xticks(range(len(runs)), list(runs), rotation=20 if len(runs) > 4 else 0)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=10)
    return ax
