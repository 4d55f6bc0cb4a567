"""The toy world: scenes, pixels, sound, text, files and data sets."""

from .datasets import (ClipFolder, make_clip_qa, qa_sample, make_still_qa, sample_folder, still_caption_pool,
                       write_clip_folder)
from .render import SAMPLE_RATE, render, render_audio, render_still, sound, uniform_times
from .text import (CAPTION_PROMPTS, CLIP_QA_KINDS, NUMBER_WORDS, QA, event_phrase, event_words, STILL_QA_KINDS, caption, clip_qa, describe,
                   direction_questions, position_words, seconds, still_caption, still_qa, vocabulary_words, when_questions)
from .video_io import (Clip, VideoReadError, check_fps_indices, check_uniform_indices, fps_indices, read_audio, read_video,
                       uniform_indices, write_video)
from .world import (COLOURS, DIRECTIONS, SHAPES, SOUND_OF_EVENT, Event, Scene, ToyObject, WorldConfig, scene_events,
                    sample_scene, sample_scenes)
from .rtl import TIME_FORMATS, lita_frame_times, make_rtl, time_token, token_time  # LITA (notebook 07)
from .datasets import av_sample, clip_with_sound, make_av_qa  # clips with sound (notebook 05)
from .soundtrack import (WORDS, Noise, Soundtrack, Utterance, describe_soundtrack, render_soundtrack, sound_caption,
                         soundtrack, spoken, word_bank)
from .text import AUDIO_QA_KINDS, AV_SYNC_KINDS, audio_qa
from .world import NOISES

__all__ = [
    "ClipFolder", "make_clip_qa", "qa_sample", "make_still_qa", "sample_folder", "still_caption_pool", "write_clip_folder",
    "SAMPLE_RATE", "render", "render_audio", "render_still", "sound", "uniform_times",
    "CAPTION_PROMPTS", "CLIP_QA_KINDS", "NUMBER_WORDS", "QA", "event_phrase", "event_words", "STILL_QA_KINDS", "caption", "clip_qa", "describe",
    "direction_questions", "position_words", "seconds", "still_caption", "still_qa", "vocabulary_words", "when_questions",
    "Clip", "VideoReadError", "check_fps_indices", "check_uniform_indices", "fps_indices", "read_audio", "read_video", "uniform_indices", "write_video",
    "COLOURS", "DIRECTIONS", "SHAPES", "SOUND_OF_EVENT", "Event", "Scene", "ToyObject", "WorldConfig", "scene_events",
    "sample_scene", "sample_scenes",
    "TIME_FORMATS", "lita_frame_times", "make_rtl", "time_token", "token_time",
    "av_sample", "clip_with_sound", "make_av_qa", "WORDS", "Noise", "Soundtrack", "Utterance", "render_soundtrack", "describe_soundtrack",
    "sound_caption", "soundtrack", "spoken", "word_bank", "AUDIO_QA_KINDS", "AV_SYNC_KINDS", "audio_qa", "NOISES",
]
