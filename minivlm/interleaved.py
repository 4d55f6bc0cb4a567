"""Interleaved image-text documents (Flamingo's M3W, in miniature) and few-shot episodes.

A document is a plain `Sample` (`minivlm.samples`): text in which `<image>`/`<video>`
placeholders stand where its media appear, at any position, with the media beside it in order;
`samples.collate` gives it labels on every text token (placeholders, <bos> and padding excluded).
Media come as plain lists of `Media` with their scenes beside them (`render_stills`,
`render_clips`); a still's `Media.times` holds the moment it shows. Three kinds of document are
generated from the toy world:

- captions and questions about several stills or clips in a row:
  "<image> a red circle . <image> question : what colour is the square ? answer : blue ."
- attribute episodes, the few-shot task: the examples show *which* attribute of an image to say
  (its colour, its shape or where it is), and only the examples say it:
  "<image> circle . <image> square . <image>" → the query image's shape;
- naming episodes, a harder few-shot task: each episode gives its own arbitrary label to each
  colour, shown only in the prompt: "<image> thud . <image> two . <image> thud . <image>"
  → the label of the last image's colour. Labels are words the toy LM already reads and writes
  (borrowed as made-up names), so the frozen LM can copy them.

An episode is the prompt `Sample` (its `answer` set, its `kind` the attribute or 'naming');
`complete(episode)` is its training form. Built in notebook 02.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

import numpy as np

from .data import (WorldConfig, caption, position_words, render, render_still, sample_scene,
                   still_caption, still_qa, uniform_times)
from .data.naming import NAME_POOL, NAMES, NAMING_KEYS, naming_text  # noqa: F401  (re-exported)
from .data.world import Scene
from .media import Media
from .samples import Sample

# What an attribute episode can ask about a still's (first) object.
ATTRIBUTES = ("colour", "shape", "position")


# ---- media -----------------------------------------------------------------------------------
def render_stills(split: str, n: int, config: WorldConfig | None = None, start: int = 0
                  ) -> tuple[list[Media], list[Scene]]:
    """n stills of scenes start … start+n-1 of `split`, each at a moment when the first object is
    in view: image Media (pixels (1, H, W, 3), `times` = (that moment,)) and their scenes."""
    media, scenes = [], []
    for k in range(start, start + n):
        scene = sample_scene(split, k, config)
        t = scene.visible_moment(np.random.default_rng([k, 13]), obj=0)
        media.append(replace(Media.image(render_still(scene, t)), times=(t,)))
        scenes.append(scene)
    return media, scenes


def render_clips(split: str, n: int, num_frames: int = 8, config: WorldConfig | None = None, start: int = 0
                 ) -> tuple[list[Media], list[Scene]]:
    """n clips sampled at `num_frames` uniform times: video Media (pixels (T, H, W, 3) with their
    frame times) and their scenes."""
    scenes = [sample_scene(split, k, config) for k in range(start, start + n)]
    media = []
    for scene in scenes:
        times = uniform_times(scene, num_frames)
        media.append(Media.video(render(scene, times), times))
    return media, scenes


def moment(item: Media) -> float:
    """The time a still shows (its one frame's time; 0 when it has none)."""
    return item.times[0] if item.times else 0.0


def attribute(item: Media, scene: Scene, name: str) -> str:
    """The first object's colour, shape or position ('top left', 'centre', …) in a still."""
    t = moment(item)
    if name == "colour":
        return scene.colour_at(0, t)
    if name == "shape":
        return scene.objects[0].shape
    if name == "position":
        x, y = scene.position(0, t)
        return position_words(float(x), float(y))
    raise ValueError(f"unknown attribute {name!r}; use one of {ATTRIBUTES}")


def colour_index(media: Sequence[Media], scenes: Sequence[Scene]) -> dict[str, list[int]]:
    """{colour: indices of the stills whose first object has that colour}."""
    out: dict[str, list[int]] = {}
    for i, (item, scene) in enumerate(zip(media, scenes)):
        out.setdefault(attribute(item, scene, "colour"), []).append(i)
    return out


# ---- documents -------------------------------------------------------------------------------
def media_text(item: Media, scene: Scene, rng: np.random.Generator, p_question: float = 0.5) -> str:
    """What follows one media item: a clip's caption, or a still's caption or a question about
    it with its answer."""
    if item.modality == "video":
        return caption(scene)
    t = moment(item)
    if rng.random() < p_question:
        qa = still_qa(scene, t, ("colour", "shape", "count")[int(rng.integers(3))], rng)
        if qa is not None:
            return f"question : {qa.question} answer : {qa.answer} ."
    return still_caption(scene, t)


def caption_document(media: Sequence[Media], scenes: Sequence[Scene], rng: np.random.Generator,
                     num_media: int = 3, p_question: float = 0.5) -> Sample:
    """Several media in a row, each followed by its caption or a QA pair; sometimes text first."""
    items = [int(i) for i in rng.choice(len(media), size=num_media, replace=False)]
    parts = ["look at these ."] if rng.random() < 0.3 else []
    for i in items:
        parts.append(f"{media[i].placeholder} {media_text(media[i], scenes[i], rng, p_question)}")
    return Sample([media[i] for i in items], text=" ".join(parts), kind="caption")


def attribute_episode(media: Sequence[Media], scenes: Sequence[Scene], rng: np.random.Generator, shots: int,
                      name: str | None = None) -> Sample:
    """A few-shot episode whose task is set only by its examples: `shots` stills, each followed by
    one attribute of its object (the same attribute for the whole episode: colour, shape or
    position; random unless `name` is given), then a query still "<image>" whose answer is that
    attribute. With 0 shots nothing says which attribute is wanted.

    Returns the prompt: Sample(text='<image> circle . … <image>', kind=attribute, answer, scene of
    the query). Its training form: `complete(episode)`."""
    if shots + 1 > len(media):
        raise ValueError(f"a {shots}-shot episode needs {shots + 1} different stills; there are {len(media)}")
    name = name or ATTRIBUTES[int(rng.integers(len(ATTRIBUTES)))]
    chosen = [int(i) for i in rng.choice(len(media), shots + 1, replace=False)]
    parts = [f"<image> {attribute(media[i], scenes[i], name)} ." for i in chosen[:-1]] + ["<image>"]
    query = chosen[-1]
    return Sample([media[i] for i in chosen], text=" ".join(parts), kind=name, scene=scenes[query],
                  answer=attribute(media[query], scenes[query], name))


def naming_episode(media: Sequence[Media], scenes: Sequence[Scene], rng: np.random.Generator, shots: int,
                   ways: int = 3, names: Sequence[str] = NAMES, index_by_colour: dict[str, list[int]] | None = None
                   ) -> Sample:
    """A few-shot episode: `ways` colours get random names from `names` (new for each episode);
    `shots` examples "<image> NAME ." (colours dealt round-robin, shuffled), then the query
    "<image>" whose answer is the name of the query image's colour. The format is that of the toy
    LM's text naming lists (`naming_text`) with each colour word replaced by an image.

    Returns the prompt: Sample(kind='naming', answer, scene of the query, meta['colours']: the
    colour of each image in order). Its training form: `complete(episode)`."""
    by_colour = index_by_colour or colour_index(media, scenes)
    colours = [c for c in by_colour if len(by_colour[c]) >= 2]
    if len(colours) < ways or len(names) < ways:
        raise ValueError(f"need {ways} colours with ≥ 2 stills and {ways} names; got {len(colours)} and {len(names)}")
    chosen = [colours[k] for k in rng.choice(len(colours), ways, replace=False)]
    label = dict(zip(chosen, (names[k] for k in rng.choice(len(names), ways, replace=False))))
    support_colours = [chosen[k % ways] for k in range(shots)]
    rng.shuffle(support_colours)
    order = [*support_colours, chosen[int(rng.integers(ways))]]
    picked = [int(rng.choice(by_colour[colour])) for colour in order]
    text = " ".join([f"<image> {label[colour]} ." for colour in order[:-1]] + ["<image>"])
    return Sample([media[i] for i in picked], text=text, kind="naming", scene=scenes[picked[-1]],
                  answer=label[order[-1]], meta={"colours": tuple(order)})


def complete(episode: Sample) -> Sample:
    """The training form of an episode: the prompt with its answer and a full stop."""
    if episode.text is None or episode.answer is None:
        raise ValueError("complete() takes an episode: a document Sample with its answer")
    return replace(episode, text=f"{episode.text} {episode.answer} .")


__all__ = ["NAMES", "NAME_POOL", "ATTRIBUTES", "naming_text", "render_stills", "render_clips", "moment",
           "attribute", "colour_index", "media_text", "caption_document", "attribute_episode", "naming_episode",
           "complete"]
