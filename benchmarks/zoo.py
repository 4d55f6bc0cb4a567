"""Measure the zoo's bases on held-out toy-world data (and record the figures in the manifest).

    python benchmarks/zoo.py            # measure the bases toy_clip()/toy_lm() load now; print JSON
    python benchmarks/zoo.py --write    # also write the figures into minivlm/zoo_weights/manifest.json
    python benchmarks/zoo.py --quick    # fewer examples (a smoke run)
    python benchmarks/zoo.py --only toy_lm   # one base (or `load`: only the load times)

Everything is measured on scenes the recipes never train on: the probes train on the 'val' split
and are scored on the 'test' split; the LM is asked about 'test' scenes. The targets (`TARGETS`:
toy CLIP zero-shot shape x colour >= 0.97, object-where probe >= 0.90, position probe >= 0.95;
toy LM >= 0.80 on every kind, naming in words >= 0.9 at 4 shots) are recorded beside the figures
with the ones a base misses (`missed_targets`), which the README's table of bases lists. Nothing
is asserted here.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
CELLS = ("top left", "top", "top right", "left", "centre", "right", "bottom left", "bottom", "bottom right")
# The least each figure should reach; a dict of figures (accuracy by kind) must reach it on every entry.
TARGETS = {"toy_clip": {"zero_shot_shape_x_colour": 0.97, "where_probe_3_objects": 0.90, "position_probe": 0.95},
           "toy_lm": {"text_context_accuracy": 0.80, "text_context_accuracy_placeholder_first": 0.80,
                      "naming_in_words_by_shots 4": 0.90}}


def missed_targets(base: str, figures: dict) -> list[str]:
    """'name value < target' for each of the base's `TARGETS` its figures miss ('name kind …' for
    a figure by kind; 'name 4' reads figures[name]['4']). A target without its figure is missed."""
    missed = []
    for name, least in TARGETS.get(base, {}).items():
        key, _, sub = name.partition(" ")
        value = figures.get(key)
        if sub:
            value = value.get(sub) if isinstance(value, dict) else None
        values = value if isinstance(value, dict) else {"": value}
        for kind, v in values.items():
            label = f"{name} {kind}".strip()
            if not isinstance(v, (int, float)):
                missed.append(f"{label} not measured (target {least:g})")
            elif v < least:
                missed.append(f"{label} {v:g} < {least:g}")
    return missed


# ---- toy CLIP ----------------------------------------------------------------------------------------
def zero_shot(clip, n: int) -> dict:
    """Zero-shot classification of held-out one-object stills among the 30 'a COLOUR SHAPE .' captions."""
    from minivlm import data
    from minivlm.vision import VisionEncoder, zero_shot_classify

    frames, captions = data.still_caption_pool(n, data.WorldConfig(max_objects=1), split="test")
    classes = sorted({f"{data.text.indefinite_article(c)} {c} {s} ." for c in data.COLOURS for s in data.SHAPES})
    labels = torch.tensor([classes.index(c) for c in captions])
    predicted = zero_shot_classify(clip, VisionEncoder(clip).preprocess(frames), classes)
    colour = [classes[p].split()[1] == classes[t].split()[1] for p, t in zip(predicted, labels)]
    shape = [classes[p].split()[2] == classes[t].split()[2] for p, t in zip(predicted, labels)]
    return {"zero_shot_shape_x_colour": round((predicted == labels).float().mean().item(), 4),
            "zero_shot_colour": round(float(np.mean(colour)), 4), "zero_shot_shape": round(float(np.mean(shape)), 4),
            "zero_shot_stills": n}


def _stills(split: str, n: int, objects: int):
    """n stills (N, 64, 64, 3) from `objects`-object scenes at a time when every object is in view,
    with their scenes and times."""
    from minivlm import data

    config = data.WorldConfig(min_objects=objects, max_objects=objects)
    frames, scenes, times = [], [], []
    index = 0
    while len(frames) < n:
        scene = data.sample_scene(split, index, config)
        rng = np.random.default_rng([index, 29])
        index += 1
        lo = max(scene.visible_span(i)[0] for i in range(objects))
        hi = min(scene.visible_span(i)[1] for i in range(objects))
        if hi - lo < 0.1:
            continue
        t = float(rng.uniform(lo, hi - 0.05))
        frames.append(data.render_still(scene, t))
        scenes.append(scene)
        times.append(t)
    return np.stack(frames), scenes, times


def _cell(scene, i: int, t: float) -> int:
    from minivlm.data import position_words

    return CELLS.index(position_words(*map(float, scene.position(i, t))))


@torch.no_grad()
def _patch_features(clip, frames: np.ndarray) -> torch.Tensor:
    """Patch tokens of the VLM's feature layer (-2), flattened: (N, P * D)."""
    from minivlm.vision import VisionEncoder

    encoder = VisionEncoder(clip, feature_layer=-2).eval()
    pixels = encoder.preprocess(frames)
    return torch.cat([encoder(pixels[i:i + 256]).flatten(1) for i in range(0, len(pixels), 256)])


def linear_probe(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, heads: int, classes: int,
                 steps: int = 300, weight_decay: float = 1e-3) -> torch.Tensor:
    """Multinomial logistic regression (one softmax per head) on standardised features.
    train_y/returned predictions: (N, heads) class indices."""
    mean, std = train_x.mean(0), train_x.std(0) + 1e-6
    xs, xt = (train_x - mean) / std, (test_x - mean) / std
    torch.manual_seed(0)
    layer = torch.nn.Linear(xs.shape[1], heads * classes)
    opt = torch.optim.LBFGS(layer.parameters(), lr=1, max_iter=steps, history_size=20, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        logits = layer(xs).view(-1, heads, classes)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, classes), train_y.reshape(-1))
        loss = loss + weight_decay * layer.weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        return layer(xt).view(-1, heads, classes).argmax(-1)


def position_probe(clip, n_train: int, n_test: int) -> dict:
    """Which cell of a 3x3 grid the object of a one-object still is in, linearly from its patch tokens."""
    out = {}
    data_ = {}
    for split, n in (("val", n_train), ("test", n_test)):
        frames, scenes, times = _stills(split, n, 1)
        data_[split] = (_patch_features(clip, frames), torch.tensor([[_cell(s, 0, t)] for s, t in zip(scenes, times)]))
    pred = linear_probe(*data_["val"], data_["test"][0], heads=1, classes=len(CELLS))
    out["position_probe"] = round((pred == data_["test"][1]).float().mean().item(), 4)
    out["position_probe_stills"] = [n_train, n_test]
    return out


def where_probe(clip, n_train: int, n_test: int, fewer: tuple[int, ...] = ()) -> dict:
    """Which object is where in a 3-object still: one linear head per colour and one per shape,
    each reading from the flattened patch tokens which cell holds the object of that colour (or
    shape) — or that none does. An object counts as read when both its colour's and its shape's
    heads name its cell. `fewer`: also fit the probe on the first n of the training stills, for
    each n given (the probe's learning curve: how much of the figure is the probe's data)."""
    from minivlm.data import COLOURS, SHAPES

    keys = [*COLOURS, *SHAPES]
    absent = len(CELLS)

    def labels(scenes, times):
        y = torch.full((len(scenes), len(keys)), absent)
        for r, (s, t) in enumerate(zip(scenes, times)):
            for i, o in enumerate(s.objects):
                cell = _cell(s, i, t)
                y[r, keys.index(s.colour_at(i, t))] = cell
                y[r, keys.index(o.shape)] = cell
        return y

    sets = {}
    for split, n in (("val", n_train), ("test", n_test)):
        frames, scenes, times = _stills(split, n, 3)
        sets[split] = (_patch_features(clip, frames), labels(scenes, times), scenes, times)
    _, y, scenes, times = sets["test"]

    def read(pred: torch.Tensor) -> tuple[list[bool], list[bool], list[bool]]:
        both, colour_ok, shape_ok = [], [], []
        for r, (s, t) in enumerate(zip(scenes, times)):
            for i, o in enumerate(s.objects):
                c, k = keys.index(s.colour_at(i, t)), keys.index(o.shape)
                colour_ok.append(bool(pred[r, c] == y[r, c]))
                shape_ok.append(bool(pred[r, k] == y[r, k]))
                both.append(colour_ok[-1] and shape_ok[-1])
        return both, colour_ok, shape_ok

    def fit(n: int) -> torch.Tensor:
        return linear_probe(sets["val"][0][:n], sets["val"][1][:n], sets["test"][0], heads=len(keys),
                            classes=absent + 1)

    pred = fit(n_train)
    both, colour_ok, shape_ok = read(pred)
    curve = {str(n): round(float(np.mean(read(fit(n))[0])), 4) for n in fewer if n < n_train}
    return {"where_probe_3_objects": round(float(np.mean(both)), 4),
            "where_probe_colour_heads": round(float(np.mean(colour_ok)), 4),
            "where_probe_shape_heads": round(float(np.mean(shape_ok)), 4),
            "where_probe_all_heads_incl_absent": round((pred == y).float().mean().item(), 4),
            "where_probe_stills": [n_train, n_test],
            **({"where_probe_3_objects_by_training_stills": {**curve, str(n_train): round(float(np.mean(both)), 4)}}
               if curve else {})}


def _owner_map(scene, t: float) -> np.ndarray:
    """(H, W) index of the object each pixel shows at time t (-1: background); later objects
    are drawn over earlier ones, as in `data.render`."""
    from minivlm.data.render import _shape_mask

    h, w = scene.height, scene.width
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32) + 0.5
    owner = np.full((h, w), -1)
    for i, o in enumerate(scene.objects):
        if scene.visible(i, t):
            cx, cy = scene.position(i, t)
            owner[_shape_mask(o.shape, xs - float(cx) * w, ys - float(cy) * h, o.radius * min(h, w))] = i
    return owner


def patch_probe(clip, n_train: int, n_test: int, min_cover: float = 0.15) -> dict:
    """Which object is where, read from each patch token alone: one linear classifier shared by all
    patches (as a VLM's projector is) names the object a patch shows — its colour and shape, 30
    classes — or 'nothing' (an object covering < `min_cover` of the patch). Scored on 3-object
    stills: accuracy on patches that show an object, and on empty ones."""
    from minivlm.data import COLOURS, SHAPES
    from minivlm.vision import VisionEncoder

    classes = [f"{c} {s}" for c in COLOURS for s in SHAPES]
    nothing = len(classes)
    sets = {}
    for split, n in (("val", n_train), ("test", n_test)):
        frames, scenes, times = _stills(split, n, 3)
        encoder = VisionEncoder(clip, feature_layer=-2)
        gh, gw = encoder.grid
        ph, pw = frames.shape[1] // gh, frames.shape[2] // gw
        labels = torch.full((n, gh * gw), nothing)
        for r, (s, t) in enumerate(zip(scenes, times)):
            owner = _owner_map(s, t)
            for k in range(gh * gw):
                cell = owner[(k // gw) * ph:(k // gw + 1) * ph, (k % gw) * pw:(k % gw + 1) * pw]
                counts = np.bincount(cell[cell >= 0].ravel(), minlength=len(s.objects))
                if counts.size and counts.max() >= min_cover * cell.size:
                    i = int(counts.argmax())
                    labels[r, k] = classes.index(f"{s.colour_at(i, t)} {s.objects[i].shape}")
        features = _patch_features(clip, frames).view(n * gh * gw, -1)
        sets[split] = (features, labels.view(-1, 1))
    pred = linear_probe(*sets["val"], sets["test"][0], heads=1, classes=nothing + 1)[:, 0]
    y = sets["test"][1][:, 0]
    on_object = y != nothing
    return {"where_probe_patches_3_objects": round((pred[on_object] == y[on_object]).float().mean().item(), 4),
            "where_probe_empty_patches": round((pred[~on_object] == y[~on_object]).float().mean().item(), 4),
            "where_probe_object_patches": int(on_object.sum()), "where_probe_patch_stills": [n_train, n_test]}


# ---- toy LM ------------------------------------------------------------------------------------------
def lm_prompts(per_kind: int, media: bool = False) -> tuple[list[str], list[str], list[str]]:
    """Held-out prompts (test split) by kind: clip kinds from a scene's description, 'still …'
    kinds from a frame listing, the soundtrack kinds (noise, speech, sync) and a caption with
    sound from `data.describe(scene, sound=True)`, and the two caption kinds.
    media: put the placeholder first."""
    from minivlm import data, zoo
    from minivlm.data import AUDIO_QA_KINDS, CAPTION_PROMPTS, CLIP_QA_KINDS, STILL_QA_KINDS

    kinds = [*CLIP_QA_KINDS, *(f"still {k}" for k in STILL_QA_KINDS), *AUDIO_QA_KINDS, "video caption",
             "still caption", "caption with sound"]
    found: dict[str, list[tuple[str, str]]] = {k: [] for k in kinds}
    index = 0
    while min(len(v) for v in found.values()) < per_kind:
        scene = data.sample_scene("test", index)
        rng = np.random.default_rng([index, 31])
        index += 1
        video = "<video> " if media else ""
        image = "<image> " if media else ""
        context = video + data.describe(scene)
        t = float(rng.uniform(*scene.visible_span(0)))
        listing = image + zoo.still_listing(scene, t)
        items = [(k, data.clip_qa(scene, k, rng), context) for k in CLIP_QA_KINDS]
        items += [(f"still {k}", data.still_qa(scene, t, k, rng), listing) for k in STILL_QA_KINDS]
        heard = ("<video> <audio> " if media else "") + data.describe(scene, sound=True)
        items += [(k, data.audio_qa(scene, k, rng), heard) for k in AUDIO_QA_KINDS]
        if len(found["caption with sound"]) < per_kind:
            found["caption with sound"].append((f"{heard} describe the video in one sentence .",
                                                data.caption(scene, sound=True)))
        for kind, qa, ctx in items:
            if qa is not None and len(found[kind]) < per_kind:
                found[kind].append((f"{ctx} {qa.question}", qa.answer))
        if len(found["video caption"]) < per_kind:
            found["video caption"].append((f"{context} describe the video in one sentence .", data.caption(scene)))
        if len(found["still caption"]) < per_kind:
            prompt = CAPTION_PROMPTS[int(rng.integers(len(CAPTION_PROMPTS)))]
            found["still caption"].append((f"{listing} {prompt}", data.still_caption(scene, t)))
    prompts, answers, labels = [], [], []
    for kind in kinds:
        for p, a in found[kind]:
            prompts.append(p)
            answers.append(a)
            labels.append(kind)
    return prompts, answers, labels


@torch.no_grad()
def greedy(lm, tokenizer, encoded: list[list[int]], max_new_tokens: int) -> list[str]:
    """Greedy continuations of token-id prompts, batched by prompt length (no padding needed)."""
    by_length: dict[int, list[int]] = {}
    for i, ids in enumerate(encoded):
        by_length.setdefault(len(ids), []).append(i)
    out = [""] * len(encoded)
    for length, rows in by_length.items():
        for s in range(0, len(rows), 64):
            chunk = rows[s:s + 64]
            ids = torch.tensor([encoded[i] for i in chunk])
            gen = lm.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
                              do_sample=False, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
            for i, row in zip(chunk, gen):
                out[i] = tokenizer.decode(row[length:], skip_special_tokens=True).strip()
    return out


def lm_accuracy(lm, tokenizer, per_kind: int, media: bool) -> dict:
    from minivlm.chat import encode_chat
    from minivlm.eval import accuracy_by_kind

    prompts, answers, kinds = lm_prompts(per_kind, media)
    encoded = [encode_chat(tokenizer, [{"role": "user", "content": p}], add_generation_prompt=True).input_ids
               for p in prompts]
    predictions = greedy(lm, tokenizer, encoded, max_new_tokens=40)
    return {k: round(v, 4) for k, v in accuracy_by_kind(predictions, answers, kinds).items()}


def naming(lm, tokenizer, n: int, shots=(0, 1, 2, 4, 8)) -> dict:
    """In-context naming told in words (`data.naming.naming_prompt`, 3 colours, the episodes' names):
    accuracy of the next word after the query key."""
    from minivlm.chat import encode_document
    from minivlm.data.naming import naming_prompt

    out = {}
    for k in shots:
        rng = np.random.default_rng([k, 37])
        items = [naming_prompt(rng, k) for _ in range(n)]
        predictions = greedy(lm, tokenizer, [encode_document(tokenizer, p).input_ids for p, _ in items], 1)
        out[str(k)] = round(float(np.mean([p.split()[:1] == [a] for p, (_, a) in zip(predictions, items)])), 4)
    return out


def placeholder_embeddings(lm, tokenizer) -> dict:
    """How far training moved each media placeholder's input embedding from its random
    initialisation (the recipe's seeded init): ||e - e0|| / ||e0||, next to the median over
    the vocabulary's words."""
    from minivlm import zoo
    from minivlm.lm import MEDIA_TOKENS, build_lm

    recipe = zoo.lm_recipe()
    init = build_lm(tokenizer, recipe["hidden"], recipe["layers"], recipe["heads"], init_std=recipe["init_std"],
                    seed=recipe["seed"]).get_input_embeddings().weight
    weight = lm.get_input_embeddings().weight
    moved = ((weight - init).norm(dim=1) / init.norm(dim=1)).detach()
    out = {tok: round(moved[tokenizer.convert_tokens_to_ids(tok)].item(), 3) for tok in MEDIA_TOKENS}
    out["median_token"] = round(moved.median().item(), 3)
    return out


# ---- video towers (notebook 06) -------------------------------------------------------------------
def video_tower_figures(kind: str, n_clips: int, n_motion: int) -> dict:
    """A video tower's held-out figures: video → text top-1 retrieval among the distinct captions
    of `n_clips` test clips (each clip's best caption is its own), and zero-shot motion on
    `n_motion` one-object test clips (chance 0.2), next to the untrained tower (the image tower
    frame by frame) as the floor."""
    from minivlm import video_tower, zoo

    start = time.perf_counter()
    tower = zoo.toy_video(kind, progress=False)
    untrained = video_tower.new_tower(kind, video_tower.tower_recipe(kind))
    clips, texts, _ = video_tower.caption_clips("test", n_clips, 8, start=10_000)
    out = {}
    for name, t in (("", tower), ("untrained_", untrained)):
        tokens = video_tower.clip_frame_tokens(t, clips)
        out[f"{name}video_to_text_top1"] = round(video_tower.retrieval(t, tokens, texts), 4)
        out[f"{name}direction_zero_shot"] = round(video_tower.direction_zero_shot(t, n_motion)["direction_zero_shot"], 4)
    out.update({"test_clips": n_clips, "distinct_captions": len(set(texts)), "motion_clips": n_motion,
                "motion_chance": 0.2, "benchmark_seconds": round(time.perf_counter() - start, 1)})
    return out


# ---- loading times -------------------------------------------------------------------------------------
def load_seconds() -> dict:
    """Seconds for toy_clip(), toy_lm() and both toy_video() towers in a fresh process with an empty cache (full mode), and
    whether anything was trained (written to the cache). Skipped when nothing current is shipped
    (the fresh process would train the full recipes)."""
    from minivlm import zoo

    manifest = zoo.read_manifest()
    from minivlm.video_tower import tower_recipe

    current = {"toy_clip": zoo.recipe_key(zoo.clip_recipe(full=True)), "toy_lm": zoo.recipe_key(zoo.lm_recipe(full=True)),
               **{f"toy_video_{k}": zoo.recipe_key(tower_recipe(k, full=True)) for k in ("aligned", "separate")}}
    if any(manifest.get(base, {}).get("recipe_key") != key for base, key in current.items()):
        return {"skipped": "the shipped bases are not from the current recipes"}
    code = ("import time, json; t0 = time.perf_counter(); from minivlm import zoo; t1 = time.perf_counter(); "
            "zoo.toy_clip(); t2 = time.perf_counter(); zoo.toy_lm(); t3 = time.perf_counter(); "
            "[zoo.toy_video(k, progress=False) for k in ('aligned', 'separate')]; t4 = time.perf_counter(); "
            "print(json.dumps({'import_s': round(t1 - t0, 2), 'toy_clip_s': round(t2 - t1, 2), "
            "'toy_lm_s': round(t3 - t2, 2), 'toy_video_both_s': round(t4 - t3, 2)}))")
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "MINIVLM_CACHE": cache, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
        env.pop("MINIVLM_FAST", None)
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        figures = json.loads(out.stdout.strip().splitlines()[-1])
        figures["trained_into_empty_cache"] = any((Path(cache) / "full" / "zoo").glob("*"))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="record the figures in the zoo's manifest")
    parser.add_argument("--quick", action="store_true", help="fewer examples: a smoke run")
    parser.add_argument("--only", choices=("toy_clip", "toy_lm", "toy_video", "load"),
                        help="measure one base, or only the load times from an empty cache")
    args = parser.parse_args()
    from minivlm import zoo

    if os.environ.get("MINIVLM_FAST") and args.write:
        raise SystemExit("--write records the full-mode bases' quality; unset MINIVLM_FAST")
    q = args.quick
    report: dict = {"machine": f"{os.cpu_count()} CPUs, torch {torch.__version__}, cuda={torch.cuda.is_available()}"}
    if args.only in (None, "toy_clip"):
        start = time.perf_counter()
        clip = zoo.toy_clip(progress=False)
        figures = {**zero_shot(clip, 300 if q else 1500), **position_probe(clip, 500 if q else 3000, 300 if q else 1000),
                   **patch_probe(clip, 500 if q else 4000, 300 if q else 1000),
                   **where_probe(clip, 500 if q else 16000, 300 if q else 1000, fewer=(250,) if q else (4000, 8000))}
        figures["benchmark_seconds"] = round(time.perf_counter() - start, 1)
        figures["targets_missed"] = missed_targets("toy_clip", figures)
        report["toy_clip"] = figures
    if args.only in (None, "toy_lm"):
        start = time.perf_counter()
        lm, tokenizer = zoo.toy_lm(progress=False)
        lm.eval()
        per_kind = 20 if q else 1000  # 1000 prompts: a standard error of about 0.013 near 0.8
        figures = {"text_context_accuracy": lm_accuracy(lm, tokenizer, per_kind, media=False),
                   "text_context_accuracy_placeholder_first": lm_accuracy(lm, tokenizer, per_kind, media=True),
                   "prompts_per_kind": per_kind,
                   "naming_in_words_by_shots": naming(lm, tokenizer, 100 if q else 500),
                   "embedding_moved_from_init": placeholder_embeddings(lm, tokenizer)}
        figures["benchmark_seconds"] = round(time.perf_counter() - start, 1)
        figures["targets_missed"] = missed_targets("toy_lm", figures)
        report["toy_lm"] = figures
    if args.only in (None, "toy_video"):
        for kind in ("aligned", "separate"):
            report[f"toy_video_{kind}"] = video_tower_figures(kind, 100 if q else 300, 100 if q else 300)
    if args.only in (None, "load"):
        import datetime

        from minivlm.results import machine

        report["load_from_empty_cache"] = {**load_seconds(), "date": datetime.date.today().isoformat(),
                                           "machine": machine()}
    print(json.dumps(report, indent=1))
    if args.write:
        manifest = zoo.read_manifest()
        from minivlm.video_tower import tower_recipe

        current = {"toy_clip": zoo.recipe_key(zoo.clip_recipe()), "toy_lm": zoo.recipe_key(zoo.lm_recipe()),
                   **{f"toy_video_{k}": zoo.recipe_key(tower_recipe(k)) for k in ("aligned", "separate")}}
        for base in current:
            if base in report and base in manifest:
                if manifest[base]["recipe_key"] != current[base]:
                    raise SystemExit(f"the shipped {base} is not from the current recipe; run make zoo first")
                manifest[base]["quality"] = report[base]
        if "load_from_empty_cache" in report:
            manifest["load_from_empty_cache"] = report["load_from_empty_cache"]
        zoo.write_manifest(manifest)


if __name__ == "__main__":
    main()
