"""Held-out quality of the course's audio bases (minivlm.audio): sound and word classification.

    python benchmarks/audio.py                  # the bases of the current mode (zoo / cache), measured
    python benchmarks/audio.py --train          # train each recipe here and measure it (no cache)
    python benchmarks/audio.py --write          # also record the figures in minivlm/zoo_weights/manifest.json
    python benchmarks/audio.py --train --steps 600 --windows 3000   # a smaller recipe, for tuning

Held-out windows come from other random streams than the training pool; for 'speech' they are
spoken only in the voices the encoder never trained on (data.soundtrack.HELD_OUT_VARIANTS).
'sound' accuracy: the top class on windows with exactly one sound (a word may be spoken over
it); 'exact_set': every sound of a window present and none extra (sigmoid > 0.5), 0–2 sounds.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from minivlm.audio import AUDIO_BASES, audio_recipe, base_accuracy, train_base, window_set
from minivlm.runtime import fast_mode


def measure(base: str, model, n: int = 2000) -> dict[str, float]:
    mel, labels = window_set(base, n, seed=1, held_out=True)
    return {k: round(v, 4) for k, v in base_accuracy(model, base, mel, labels).items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", action="store_true", help="train the recipes here instead of loading the bases")
    parser.add_argument("--full", action="store_true", help="the full-mode recipes even under MINIVLM_FAST")
    parser.add_argument("--steps", type=int)
    parser.add_argument("--windows", type=int)
    parser.add_argument("--only", choices=AUDIO_BASES)
    parser.add_argument("--held-out", type=int, default=2000, help="held-out windows per base")
    parser.add_argument("--write", action="store_true", help="record the figures in the zoo's manifest")
    args = parser.parse_args()
    if args.write and (args.train or fast_mode()):
        raise SystemExit("--write records the shipped full-mode bases' quality: unset MINIVLM_FAST, no --train")
    torch.manual_seed(0)
    out = {}
    for base in [args.only] if args.only else AUDIO_BASES:
        recipe = audio_recipe(base, full=True if args.full else None)
        recipe.update({k: v for k, v in (("steps", args.steps), ("windows", args.windows)) if v})
        start = time.perf_counter()
        if args.train:
            model = train_base(recipe)
        else:
            from minivlm import zoo

            model = zoo.toy_audio(base, progress=False)
        seconds = time.perf_counter() - start
        out[base] = {"held_out": measure(base, model, args.held_out), "seconds": round(seconds, 1),
                     "recipe": recipe, "threads": torch.get_num_threads()}
        print(json.dumps({base: out[base]}), flush=True)
        if args.write:
            from minivlm import zoo

            manifest = zoo.read_manifest()
            entry = manifest.get(f"toy_audio_{base}")
            if entry is None or entry.get("recipe_key") != zoo.recipe_key(recipe):
                raise SystemExit(f"the shipped {base} base is not from the current recipe: python -m minivlm.zoo --ship")
            entry["quality"] = {**out[base]["held_out"], "held_out_windows": args.held_out,
                                "target": "accuracy >= 0.95"}
            zoo.write_manifest(manifest)


if __name__ == "__main__":
    main()
