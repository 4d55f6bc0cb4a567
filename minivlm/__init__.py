"""minivlm: the companion package of a course that rebuilds how LLMs learned to understand video.

Parts (see DESIGN.md): `data` (the toy world), `vision` (open_clip encoders), `lm` (transformers
LMs + a word-level tokenizer), `connectors`, `reducers`, `vlm` (the model family), `chat`
(template, label masking), `train`, `eval`, `plot`, `zoo` (cached toy "pretrained" bases),
`checks` (exercise checks), `runtime` (fast mode, device, seeds, cache).
"""

from .runtime import cache_dir, default_device, fast_mode, pick, seed_everything

__version__ = "0.1.0"
__all__ = ["cache_dir", "default_device", "fast_mode", "pick", "seed_everything", "__version__"]
