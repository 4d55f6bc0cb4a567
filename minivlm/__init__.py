"""minivlm: the companion package of a course that rebuilds how LLMs learned to understand video.

`minivlm.build("llava-1.5")` makes a model from a preset (`minivlm.presets.PRESETS`).
Modules: `data` (the toy world), `vision` (open_clip encoders), `lm` (transformers
LMs + a word-level tokenizer), `connectors`, `reducers`, `vlm` (the model family), `chat`
(template, label masking), `train`, `eval`, `plot`, `zoo` (cached toy "pretrained" bases),
`checks` (exercise checks), `runtime` (fast mode, device, seeds, cache).
"""

from .runtime import cache_dir, default_device, fast_mode, pick, seed_everything

__version__ = "0.1.0"
__all__ = ["build", "PRESETS", "cache_dir", "default_device", "fast_mode", "pick", "seed_everything", "__version__"]


def __getattr__(name: str):
    # `minivlm.build` and `minivlm.PRESETS` import the whole model family: only on first use.
    if name in ("build", "PRESETS"):
        from . import presets

        return getattr(presets, name)
    raise AttributeError(f"module 'minivlm' has no attribute {name!r}")
