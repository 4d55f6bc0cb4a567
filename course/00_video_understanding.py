# %% [markdown]
# # 00 · What does it mean to understand a video?
#
# This course rebuilds, in miniature, how large language models learned to watch videos and talk
# about them — from Flamingo (2022) to LLaVA-OneVision (2024). Every notebook trains real (tiny)
# models on your machine and measures the design choice its paper is known for — and says so where
# the toy scale does not reproduce the paper.
#
# Before any model, this notebook looks at **the data**:
#
# 1. the *tasks* of video understanding — recognition, counting, localization in space and in
#    time, captioning, reasoning about order, and hearing;
# 2. the *toy world* the course uses instead of a downloaded data set — short clips of moving
#    shapes whose ground truth is known exactly, so every answer can be checked;
# 3. the *path a real video takes* into a model — an `.mp4` file decoded with **decord**, a few
#    frames picked by **uniform** or **fixed-rate (fps)** sampling, and its audio track.
#
# | video LLM | frames it looks at |
# |---|---|
# | Video-ChatGPT (2023) | 100 frames, uniformly |
# | Video-LLaVA (2023) | 8 frames, uniformly |
# | PLLaVA (2024) | 16 frames, uniformly |
# | LLaVA-OneVision (2024) | up to 32 frames, uniformly |
# | video-SALMONN (2024) | frames at 2 fps, synchronized with audio |
#
# A model can only reason about what its sampled frames show — which is why sampling gets a whole
# section here.

# %%
# Setup: installs the course package when it is not importable yet (e.g. on Colab).
try:
    import minivlm
except ImportError:
    %pip install -q "minivlm @ git+https://github.com/minivlm/minivlm"
    import minivlm

# %%
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from minivlm import data, fast_mode, pick, plot, seed_everything
from minivlm.results import Record, interval

seed_everything(0)
record = Record("00")  # this notebook's measured figures → results/00.json in full mode
print("fast mode:", fast_mode())

# %% [markdown]
# ## 1 · A toy world with exact ground truth
#
# A **scene** is a few coloured shapes moving over a background for 4 seconds (8 frames per
# second). Objects can appear, disappear, stop, bounce off walls and change colour; each of
# these **events** has a time. `sample_scene(split, index)` draws the same scene every time;
# the `train`, `val` and `test` splits use disjoint random streams.

# %%
scene = data.sample_scene("train", 5)
for obj in scene.objects:
    print(obj.name(), "moves", obj.direction or "nowhere", "| visible", scene.visible_span(scene.objects.index(obj)))
for event in scene.events:
    print(f"{event.start:5.2f}s  {event.kind:9s} {scene.objects[event.obj].name()} {event.detail}")

# %% [markdown]
# The clip as it plays (8 frames per second, looping):

# %%
plot.animate(frames := data.render(scene), times=scene.frame_times())

# %% [markdown]
# Every native frame of the clip, then the **timeline**: when each object is on screen (bars) and
# when each event happens (markers).

# %%
plot.show_frames(frames[::2], times=scene.frame_times()[::2], ncols=8);

# %%
plot.timeline(scene);

# %% [markdown]
# ## 2 · Text from the ground truth: the data card
#
# Video LLMs are trained on captions, detailed descriptions and question–answer pairs. Here all
# three are *generated from the ground truth* with templates, so every answer is exactly right.
# Each question **kind** tests one skill of video understanding:

# %%
print("caption:    ", data.caption(scene))
print("description:", data.describe(scene))

# %%
skills = {
    "colour": "recognition (attribute)", "shape": "recognition (object)", "count": "counting",
    "direction": "motion", "order": "temporal reasoning", "when": "localization in time",
    "audio": "hearing", "position": "localization in space (stills)",
}
rng = np.random.default_rng(0)
examples = {}
for index in range(40):
    s = data.sample_scene("train", index)
    for kind in data.CLIP_QA_KINDS:
        qa = data.clip_qa(s, kind, rng)
        if qa and kind not in examples:
            examples[kind] = qa
    qa = data.still_qa(s, 1.0, "position", rng)
    if qa and "position" not in examples:
        examples["position"] = qa
print(f"{'kind':10s} {'skill':32s} example")
for kind, qa in examples.items():
    print(f"{kind:10s} {skills[kind]:32s} {qa.question}  →  {qa.answer}")

# %% [markdown]
# How often does each kind occur, and how many different answers does it have? The most common
# answer's share is the **chance level** a model must beat.

# %%
clips = data.make_clip_qa("train", pick(600, 60), num_frames=8)  # samples: a clip, a question, its answer
from minivlm.eval import chance_by_kind  # noqa: E402

print(clips[0].media, clips[0].question, "→", clips[0].answer, f"({clips[0].kind})")
chance = chance_by_kind([s.answer for s in clips], [s.kind for s in clips])
for kind in data.CLIP_QA_KINDS:
    answers = [s.answer for s in clips if s.kind == kind]
    if answers:
        print(f"{kind:10s} {len(answers):4d} questions, {len(set(answers)):3d} distinct answers, chance {chance[kind]:.2f}")
record.add("chance_by_kind", chance)

# %% [markdown]
# ## 3 · A real file: writing with PyAV, reading with decord
#
# Real video LLMs read compressed files. We write the clip as an `.mp4` (H.264 video + AAC
# audio) with PyAV and read it back with **decord**, the reader most video LLM code bases use.
# The frames come back close to, not equal to, what was rendered: H.264 stores colour as YUV
# 4:2:0, with the two colour planes at half resolution, so pixels at a colour edge change. The
# course writes H.264 in its lossless mode (`qp 0`), so that is the only change, and the same
# clip always reads back the same. In the lossy mode web videos use, the encoder here sometimes
# wrote the same frames differently from one run to the next, so a model trained on them (notebook
# 04's) did not repeat its numbers exactly.

# %%
workdir = Path(tempfile.mkdtemp())
path = data.write_video(workdir / "clip.mp4", frames, scene.fps, audio=data.render_audio(scene))
print(path.name, path.stat().st_size // 1024, "KiB")

clip = data.read_video(path, num_frames=8)
error = np.abs(clip.frames.astype(float) - frames[clip.indices]).mean()
print("frames read:", clip.indices.tolist())
print("timestamps: ", clip.times.round(3).tolist())
print(f"mean absolute pixel error after H.264 (YUV 4:2:0): {error:.2f} / 255")

# %% [markdown]
# The course's **sample folder** holds a few dozen such files with their annotations (written on
# first use). `ClipFolder` is a torch `Dataset` over it: each item is decoded with decord, with
# the frames sampled as asked.

# %%
folder = data.sample_folder()
dataset = data.ClipFolder(folder, num_frames=8, with_audio=True)
item = dataset[0]
print(len(dataset), "clips in", folder)
print(item["caption"], "| frames", item["frames"].shape, "| audio", item["audio"].shape)
print(item["qa"][0])

# %% [markdown]
# ## 4 · Which frames does the model see?
#
# **Uniform sampling** splits the clip into N equal segments and takes the middle frame of each:
# always N frames, however long the clip. **Fixed-rate (fps) sampling** takes a frame every
# 1/fps seconds: the count grows with the clip's length, but the time between frames is fixed.
#
# ### Exercise 1 — uniform sampling
# Write `my_uniform_indices(num_frames, n)`: the index of the middle frame of each of `n` equal
# segments of a clip with `num_frames` frames (round down). A clip shorter than `n` frames must
# raise a `ValueError`.

# %%
def my_uniform_indices(num_frames: int, n: int) -> np.ndarray:
    # BEGIN SOLUTION
    if num_frames < n:
        raise ValueError(f"the clip has {num_frames} frames but {n} were asked for")
    segment = num_frames / n
    return np.floor((np.arange(n) + 0.5) * segment).astype(np.int64)
    # END SOLUTION


# %%
data.check_uniform_indices(my_uniform_indices);

# %% [markdown]
# ### Exercise 2 — fixed-rate sampling
# Write `my_fps_indices(num_frames, native_fps, target_fps)`: for t = 0, 1/target_fps,
# 2/target_fps, … while t is inside the clip, the index of the frame nearest to t (never past the
# last frame).

# %%
def my_fps_indices(num_frames: int, native_fps: float, target_fps: float) -> np.ndarray:
    # BEGIN SOLUTION
    duration = num_frames / native_fps
    times = np.arange(0.0, duration - 1e-9, 1.0 / target_fps)
    return np.minimum(np.round(times * native_fps).astype(np.int64), num_frames - 1)
    # END SOLUTION


# %%
data.check_fps_indices(my_fps_indices);

# %% [markdown]
# The two strategies on the timeline: uniform frames (8) and 2-fps frames over the same clip.

# %%
fig, axes = plt.subplots(2, 1, figsize=(8, 4), sharex=True)
plot.timeline(scene, sampled_times=clip.times, ax=axes[0])
axes[0].set_title("uniform, 8 frames")
fps_clip = data.read_video(path, fps=2)
plot.timeline(scene, sampled_times=fps_clip.times, ax=axes[1])
axes[1].set_title(f"2 fps, {len(fps_clip.times)} frames")
fig.tight_layout()

# %% [markdown]
# **How much time resolution do N frames buy?** For scenes where an object appears mid-clip, a
# model that only sees the sampled frames can at best say "it appeared at the first frame where it
# is visible". We measure that error against the truth, for N uniform frames, on three disjoint
# sets of held-out scenes (the "seeds" of this measurement: mean ± standard error over the sets):

# %%
def appearance_error(scenes, n: int) -> float:
    """Mean |first sampled frame that shows the object − the moment it appeared| (s), over every
    object of `scenes` that appears mid-clip, for n uniform frames."""
    errs = []
    for s in scenes:
        times = data.uniform_times(s, n)
        for i, o in enumerate(s.objects):
            if o.appear > 0:
                seen = [t for t in times if s.visible(i, t)]
                errs.append(abs((seen[0] if seen else s.duration) - o.appear))
    return float(np.mean(errs))


N_SCENES = pick(400, 60)
scene_sets = [data.sample_scenes("val", N_SCENES, start=k * N_SCENES) for k in range(3)]
frame_counts = [2, 4, 8, 16, 32]
errors = {n: [appearance_error(scenes, n) for scenes in scene_sets] for n in frame_counts}
means = [np.mean(errors[n]) for n in frame_counts]
plt.figure(figsize=(5, 3))
plt.errorbar(frame_counts, means, yerr=[np.std(errors[n], ddof=1) / np.sqrt(3) for n in frame_counts], marker="o")
plt.xscale("log", base=2)
plt.xlabel("frames sampled uniformly")
plt.ylabel("mean error of 'when did it appear' (s)")
plt.title(f"3 × {N_SCENES} held-out scenes")
for n in frame_counts:
    print(f"{n:2d} frames: {interval(errors[n])} s   (the gap between frames: {scene_sets[0][0].duration / n:.3f} s)")
record.add("appearance_error_seconds", {str(n): errors[n] for n in frame_counts})

# %% [markdown]
# ### Try it — longer clips
# *Predict first*: with 8-second clips instead of 4 (`WorldConfig(duration=8.0)`), what happens to
# the error at 8 uniform frames — the same, twice as large, or something else? Write your guess
# down, then run the cell. Change `DURATION` and the frame counts and try again.

# %%
DURATION = 8.0
longer = [data.sample_scenes("val", N_SCENES, data.WorldConfig(duration=DURATION), start=k * N_SCENES) for k in range(3)]
for n in (8, 16):
    print(f"{DURATION:.0f} s clips, {n:2d} frames: {interval([appearance_error(s, n) for s in longer])} s "
          f"(4 s clips: {interval(errors[n])} s)")

# %% [markdown]
# Events happen at any moment (their times are continuous), so the first sampled frame that shows
# the object comes on average about half a gap between frames after it appeared: the error roughly
# halves each time the frames double (the printed numbers). Sparse sampling blurs *when*. LITA (notebook
# on temporal localization) and SlowFast tokens are answers to exactly this. Meanwhile, with fps
# sampling the number of frames — and so of visual tokens — grows with the clip's length:

# %%
for duration in [2, 4, 8, 16, 60]:
    n_frames = int(duration * 8)
    print(f"{duration:3d} s clip at 8 fps: uniform-8 → 8 frames, 2 fps → {len(data.fps_indices(n_frames, 8, 2))} frames")

# %% [markdown]
# ## 5 · Hearing: the audio track
#
# Each event makes its own sound: a rising tone when something appears, a falling tone when it
# disappears, a click on a bounce, a thud when it stops, a ding when it changes colour. decord
# reads the track back at 16 kHz; the model will see it as a **log-mel spectrogram** (Whisper's
# features), the input of the audio encoders in Video-LLaMA and video-SALMONN.

# %%
track = data.read_audio(path, sample_rate=16_000)
fig = plot.audio_plot(track[: int(scene.duration * 16_000)])
for event in scene.events:
    for ax in fig.axes:
        ax.axvline(event.start, color="red", lw=0.8, ls=":")
fig.axes[0].set_title("sound of " + ", ".join(f"{e.kind}@{e.start:.1f}s" for e in scene.events));

# %% [markdown]
# ## 6 · How fast is the data pipeline here?
#
# Measured on the machine running this notebook (the README lists the numbers we measured).

# %%
n = pick(200, 20)
start = time.perf_counter()
scenes = data.sample_scenes("train", n)
rendered = [data.render(s, data.uniform_times(s, 8)) for s in scenes]
clips_per_s = n / (time.perf_counter() - start)
start = time.perf_counter()
for _ in range(n // 4):
    data.read_video(path, num_frames=8)
decode_fps = (n // 4) * 8 / (time.perf_counter() - start)
print(f"generated clips (8 frames, 64x64): {clips_per_s:,.0f} per second")
print(f"decord decode (open + 8 frames):   {decode_fps:,.0f} frames per second")
record.add("pipeline", {"generated_clips_per_s": clips_per_s, "decord_frames_per_s": decode_fps})

# %% [markdown]
# ## Summary
#
# - Video understanding = recognising *what*, counting, locating *where* and *when*, reasoning
#   about *order*, and *hearing* — the toy world asks all of these with exact answers.
# - A model sees only its sampled frames: uniform sampling fixes the token budget, fps sampling
#   fixes the time resolution.
# - Next, **01 · Building blocks**: patches and a ViT, CLIP's contrastive pretraining, and a tiny
#   language model — the parts every video LLM is assembled from.

# %% [markdown]
# ### What the toy world leaves out
#
# Real video understanding starts from pixels of the real world; ours from a few flat shapes on a
# plain background, 64 × 64 pixels, 4 seconds. What carries over is the *structure* of the
# problem — a model sees only the frames it samples, questions need different skills, answers can
# be checked exactly — and that is what the following notebooks measure. What does not carry over:
# the variety of real scenes (a pretrained encoder's strength), long videos (minutes to hours, where
# sampling decides almost everything), and language beyond templates. Each notebook says where this
# gap changes its result.

# %%
record.save();
