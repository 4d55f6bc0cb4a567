"""The toy world's soundtrack (noises, spoken words), its questions, and the audio front end/encoders."""

import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch

from minivlm.audio import (AUDIO_BASES, HOP, N_MELS, SPEECH_CLASSES, AudioEncoder, LogMel, cut_segments, new_base,
                           audio_recipe, resample, segment_starts, sound_window, speech_window)
from minivlm.data import (AUDIO_QA_KINDS, NOISES, WORDS, audio_qa, clip_with_sound, read_audio, render, render_audio,
                          render_soundtrack, sample_scene, soundtrack, spoken, word_bank, write_video)
from minivlm.data.soundtrack import BANK_DIR, HELD_OUT_VARIANTS, VARIANTS
from minivlm.data.text import moving_at
from minivlm.media import Media, MissingAudioError

SR = 16_000


def test_the_word_bank_ships_every_word_in_every_voice():
    bank = word_bank()
    assert set(bank) == set(WORDS) and all(len(v) == len(VARIANTS) for v in bank.values())
    lengths = [len(w) / SR for v in bank.values() for w in v]
    assert 0.2 < min(lengths) and max(lengths) < 0.9
    assert 0.5 < max(np.abs(w).max() for w in bank["red"]) <= 1.0
    size = sum(p.stat().st_size for p in BANK_DIR.iterdir())
    assert size < 2.0e6  # small enough to ship
    data = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    assert "data/words/*.flac" in data["tool"]["setuptools"]["package-data"]["minivlm"]
    assert len(HELD_OUT_VARIANTS) == 2 and max(HELD_OUT_VARIANTS) < len(VARIANTS)


def test_a_scenes_soundtrack_is_deterministic_and_laid_out_in_time():
    for k in range(20):
        scene = sample_scene("train", k)
        track = soundtrack(scene)
        assert track == soundtrack(sample_scene("train", k))
        first, second = track.words
        assert first.word != second.word and 0 <= first.start < first.end <= second.start < second.end <= scene.duration
        noise = track.noises[0]
        assert noise.name in NOISES
        if noise.anchor is not None:
            assert noise.start == noise.anchor.start and noise.anchor in scene.events


def test_the_soundtrack_adds_noise_and_words_to_the_events_sounds():
    scene = sample_scene("train", 5)
    assert np.array_equal(render_soundtrack(scene, speech=False, noises=False), render_audio(scene))
    full = render_soundtrack(scene)
    assert full.shape == (int(scene.duration * SR),) and full.dtype == np.float32
    assert np.abs(full).max() < 1.0  # nothing clipped here
    for u in soundtrack(scene).words:
        word = 0.5 * spoken(u.word, u.variant)
        i = int(round(u.start * SR))
        added = full[i:i + len(word)] - render_soundtrack(scene, speech=False)[i:i + len(word)]
        assert np.allclose(added, word, atol=1e-4)


def test_audio_questions_are_answered_by_the_soundtrack():
    seen = set()
    for k in range(40):
        scene = sample_scene("train", k)
        track = soundtrack(scene)
        for kind in AUDIO_QA_KINDS:
            qa = audio_qa(scene, kind, np.random.default_rng(k))
            if qa is None:
                continue
            seen.add(kind)
            if kind == "noise":
                assert qa.answer.split()[-1] == track.noises[0].name and "heard when the" in qa.question
            elif kind == "speech":
                spoken_words = [u.word for u in track.words]
                assert qa.answer == (spoken_words[0] if "first" in qa.question else spoken_words[-1])
            else:
                word = qa.question.split()[-2]
                u = next(u for u in track.words if u.word == word)
                movers = [o.name() for i, o in enumerate(scene.objects) if moving_at(scene, i, u.middle)]
                assert movers == [qa.answer.removeprefix("the ")]
    assert seen == set(AUDIO_QA_KINDS)
    with pytest.raises(ValueError, match="use one of"):
        audio_qa(sample_scene("train", 0), "pitch", np.random.default_rng(0))


def test_a_clip_with_speech_survives_an_mp4_round_trip(tmp_path):
    scene = sample_scene("train", 7)
    track = render_soundtrack(scene)
    path = write_video(tmp_path / "c.mp4", render(scene), scene.fps, track)
    back = read_audio(path, SR)
    assert abs(len(back) - len(track)) <= 1024  # AAC pads to whole 1024-sample frames
    n = min(len(back), len(track))
    assert np.corrcoef(back[:n], track[:n])[0, 1] > 0.95


def test_a_clip_carries_its_soundtrack_and_splits_it_off():
    scene = sample_scene("train", 1)
    clip = clip_with_sound(scene, 8)
    audio = clip.soundtrack()
    assert audio.modality == "audio" and audio.sample_rate == SR and len(audio.waveform) == scene.duration * SR
    mute = Media.video(clip.pixels, clip.times)
    with pytest.raises(MissingAudioError, match="no audio track"):
        mute.soundtrack()
    silent = mute.soundtrack(missing="silence")
    assert silent.waveform.abs().max() == 0 and len(silent.waveform) == scene.duration * SR
    short = Media.video(clip.pixels, clip.times, waveform=audio.waveform[:SR], sample_rate=SR, duration=4.0)
    with pytest.warns(UserWarning, match="padded with silence"):
        assert len(short.soundtrack().waveform) == 4 * SR
    long = Media.video(clip.pixels, clip.times, waveform=torch.zeros(5 * SR), sample_rate=SR, duration=4.0)
    with pytest.warns(UserWarning, match="cut"):
        assert len(long.soundtrack().waveform) == 4 * SR
    with pytest.raises(ValueError, match="no soundtrack"):
        Media("image", pixels=clip.pixels[:1], waveform=audio.waveform, sample_rate=SR)


def test_segments_are_centred_where_uniform_sampling_takes_frames():
    starts = segment_starts(64_000, 8, 16_000)
    assert starts.tolist() == [-4000, 4000, 12000, 20000, 28000, 36000, 44000, 52000]
    wave = np.arange(64_000, dtype=np.float32)
    windows = cut_segments(wave, 8, 16_000)
    assert windows.shape == (8, 16_000)
    assert windows[0, :4000].max() == 0 and windows[0, 4000] == 0 and windows[1, 0] == 4000
    assert windows[-1, -4000:].max() == 0  # past the end: silence


def test_log_mel_comes_from_whisper_and_resampling_is_said():
    mel = LogMel()(np.zeros((2, SR), np.float32))
    assert mel.shape == (2, N_MELS, SR // HOP)
    tone = np.sin(2 * np.pi * 440 * np.arange(44_100) / 44_100).astype(np.float32)
    back = resample(tone, 44_100)
    assert abs(len(back) - SR) <= 64
    encoder = AudioEncoder({"sound": new_base("sound", audio_recipe("sound"))}, segments=4)
    with pytest.warns(UserWarning, match="resampled to 16000 Hz"):
        x = encoder.preprocess([Media.audio(tone, 44_100)])
    assert x.shape == (1, 4, N_MELS, SR // HOP)


def test_audio_encoders_give_one_embedding_per_window_or_50_hz_frames():
    bases = {name: new_base(name, audio_recipe(name)) for name in AUDIO_BASES}
    mel = LogMel()(np.random.default_rng(0).normal(0, 0.1, (3, SR)).astype(np.float32))
    pooled = AudioEncoder(bases)(mel)
    frames = AudioEncoder(bases, pool=False)
    assert pooled.shape == (3, 1, 128) and frames(mel).shape == (3, frames.num_patches, 128) and frames.num_patches == 50


def test_training_windows_hold_what_their_labels_say():
    rng = np.random.default_rng(0)
    wave, labels = sound_window(rng, [0, 1])
    assert wave.shape == (SR,) and labels.shape == (9,) and labels.sum() <= 2
    silent = [speech_window(rng, [0])[1] for _ in range(60)]
    assert 0 in silent and all(0 <= c < len(SPEECH_CLASSES) for c in silent)
