import numpy as np
import pytest

from minivlm.data import (ClipFolder, VideoReadError, fps_indices, read_audio, read_video, render, render_audio,
                          sample_scene, uniform_indices, write_clip_folder, write_video)


@pytest.fixture(scope="module")
def clip_file(tmp_path_factory):
    scene = sample_scene("train", 2)
    path = tmp_path_factory.mktemp("clips") / "clip.mp4"
    write_video(path, render(scene), scene.fps, render_audio(scene))
    return scene, path


def test_uniform_indices_take_segment_middles():
    assert uniform_indices(32, 4).tolist() == [4, 12, 20, 28]
    assert uniform_indices(8, 8).tolist() == list(range(8))


def test_too_few_frames_is_a_clear_error():
    with pytest.raises(ValueError, match="has 4 frames but 8 were asked"):
        uniform_indices(4, 8)


def test_fps_indices_follow_the_rate():
    assert fps_indices(32, 8, 2).tolist() == [0, 4, 8, 12, 16, 20, 24, 28]
    assert len(fps_indices(32, 8, 1)) == 4


def test_mp4_round_trip_is_close_and_frame_accurate(clip_file):
    scene, path = clip_file
    clip = read_video(path, num_frames=8)
    truth = render(scene)[clip.indices]
    assert clip.frames.shape == truth.shape
    assert np.abs(clip.frames.astype(float) - truth).mean() < 6
    assert np.allclose(clip.times, clip.indices / scene.fps, atol=1e-3)
    assert clip.num_frames == scene.num_frames and clip.fps == scene.fps


def test_a_clip_written_again_decodes_to_the_same_pixels(tmp_path):
    # lossy x264 decoded this clip to other pixels in about 1 write of 3 here; lossless must not
    scene = sample_scene("train", 7)
    frames = render(scene)
    decoded = {read_video(write_video(tmp_path / f"clip{i}.mp4", frames, scene.fps), num_frames=32).frames.tobytes()
               for i in range(12)}
    assert len(decoded) == 1


def test_audio_round_trip(clip_file):
    scene, path = clip_file
    audio, truth = read_audio(path), render_audio(scene)
    n = min(len(audio), len(truth))
    assert abs(len(audio) - len(truth)) <= 1024
    assert np.corrcoef(audio[:n], truth[:n])[0, 1] > 0.95


def test_missing_video_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no video at"):
        read_video(tmp_path / "nope.mp4", num_frames=4)


def test_corrupt_video_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"this is not a video" * 100)
    with pytest.raises(VideoReadError, match="corrupt or not a video"):
        read_video(bad, num_frames=4)


def test_asking_more_frames_than_the_clip_has(clip_file):
    with pytest.raises(ValueError, match="ask for at most 32"):
        read_video(clip_file[1], num_frames=64)


def test_odd_frame_size_is_refused(tmp_path):
    with pytest.raises(ValueError, match="even width and height"):
        write_video(tmp_path / "odd.mp4", np.zeros((4, 63, 64, 3), np.uint8), 8)


def test_clip_folder_dataset(tmp_path):
    write_clip_folder(tmp_path, "val", 3)
    ds = ClipFolder(tmp_path, num_frames=4, with_audio=True)
    item = ds[1]
    assert len(ds) == 3 and item["frames"].shape == (4, 64, 64, 3)
    assert item["scene"] == sample_scene("val", 1)
    assert item["qa"] and item["caption"] and item["audio"].ndim == 1


def test_sample_folder_is_written_once_and_small(tmp_path):
    from minivlm.data import sample_folder

    root = sample_folder(4, tmp_path / "sample")
    stamp = (root / "annotations.jsonl").stat().st_mtime
    assert sample_folder(4, tmp_path / "sample") == root
    assert (root / "annotations.jsonl").stat().st_mtime == stamp
    assert sum(p.stat().st_size for p in root.glob("*.mp4")) < 4 * 200_000
