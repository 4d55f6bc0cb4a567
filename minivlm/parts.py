"""Rebuildable parts: a registry so that a saved model's config names its parts.

`@register` records the arguments a part was built with; `part_spec(module)` turns a part
(and the parts inside it) into plain JSON; `build_part(spec)` builds it again. This is what
lets `VLM.save_pretrained` write a config.json that `VLM.from_pretrained` can read back.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, TypeVar

from torch import nn

PARTS: dict[str, type] = {}
M = TypeVar("M", bound=type)


def register(cls: M) -> M:
    """Class decorator: remember the class by name and the arguments of each instance."""
    init = cls.__init__
    signature = inspect.signature(init)

    @functools.wraps(init)
    def wrapped(self, *args, **kwargs):
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        if not hasattr(self, "_part_args"):
            object.__setattr__(self, "_part_args", {k: v for k, v in bound.arguments.items() if k != "self"})
        init(self, *args, **kwargs)

    cls.__init__ = wrapped
    PARTS[cls.__name__] = cls
    return cls


def part_spec(part: Any) -> Any:
    """JSON-able description of a registered part (recursively)."""
    if isinstance(part, nn.Module):
        if type(part).__name__ not in PARTS or not hasattr(part, "_part_args"):
            raise TypeError(f"{type(part).__name__} is not a registered part; decorate it with @minivlm.parts.register")
        return {"type": type(part).__name__, "args": {k: part_spec(v) for k, v in part._part_args.items()}}
    if isinstance(part, (list, tuple)):
        return [part_spec(p) for p in part]
    if isinstance(part, dict):
        return {k: part_spec(v) for k, v in part.items()}
    return part


def build_part(spec: Any) -> Any:
    """Inverse of part_spec."""
    if isinstance(spec, dict) and set(spec) == {"type", "args"}:
        if spec["type"] not in PARTS:
            raise KeyError(f"unknown part {spec['type']!r}; import the module that defines it first")
        return PARTS[spec["type"]](**{k: build_part(v) for k, v in spec["args"].items()})
    if isinstance(spec, list):
        return [build_part(s) for s in spec]
    if isinstance(spec, dict):
        return {k: build_part(v) for k, v in spec.items()}
    return spec
