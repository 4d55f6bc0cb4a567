"""Training stages as data: what trains, on which data, for how long, at which learning rates.

A `Stage` names the parts that train ('vision_tokenizer', 'lm', 'cross_attention', 'lora', …;
see `VLM.parts()`), the name of its data set, its steps, batch size and learning rate, and
per-part learning-rate scales (Flamingo's gates learn 10× faster, say). A recipe is a list of
stages: LLaVA's is [align, instruct]. `run_stage` trains one stage with the shared loop
(`minivlm.train.train`); `run_recipe` runs a list against a dict of named data sets. Nothing
else changes the model: the feature standardizer is fitted by an explicit call beforehand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

from .samples import Sample, sample_batches
from .train import History, TrainConfig, train


@dataclass(frozen=True)
class Stage:
    """One training stage. train: the parts that learn (everything else is frozen); data: the
    name of its data set; lr_scale: {part: scale}, that part learning at lr · scale."""

    name: str
    train: tuple[str, ...]
    data: str
    steps: int = 300
    lr: float = 1e-3
    batch_size: int = 32
    lr_scale: Mapping[str, float] = field(default_factory=dict)
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        if not self.train:
            raise ValueError(f"stage {self.name!r} trains nothing; name at least one part")
        unknown = set(self.lr_scale) - set(self.train) - {"gates"}
        if unknown:
            raise ValueError(f"stage {self.name!r} scales the learning rate of {sorted(unknown)}, which it does not train")


def param_groups(model, stage: Stage) -> list[dict]:
    """The stage's parameters in groups {'params', 'lr_scale'}: a scaled part's parameters in
    their own group (a part named in lr_scale may lie inside a trained part, e.g. the gates
    inside 'cross_attention')."""
    scaled = {name: {id(p) for p in model.part_parameters(name)} for name in stage.lr_scale}
    groups: dict[float, list] = {}
    seen: set[int] = set()
    for part in stage.train:
        for p in model.part_parameters(part):
            if id(p) in seen:
                continue
            seen.add(id(p))
            scale = next((stage.lr_scale[n] for n, ids in scaled.items() if id(p) in ids), 1.0)
            groups.setdefault(float(scale), []).append(p)
    return [{"params": ps, "lr_scale": s} for s, ps in groups.items()]


def run_stage(model, stage: Stage, samples: Sequence[Sample], seed: int = 0, progress: bool = True,
              eval_fn: Callable | None = None, eval_every: int | None = None,
              history: History | None = None, batches=None, loss_fn: Callable | None = None) -> History:
    """Train `model` for one stage on `samples` (or on `batches`, an iterator of collated batches,
    for data generated on the fly). Leaves exactly the stage's parts trainable. `loss_fn(model,
    batch)`: another training loss than the LM's (e.g. video-SALMONN's LM loss + diversity loss)."""
    model.set_trainable(*stage.train)
    if batches is None:
        batches = sample_batches(model, samples, stage.batch_size, seed)
    config = TrainConfig(steps=stage.steps, lr=stage.lr, weight_decay=stage.weight_decay, seed=seed,
                         desc=stage.name, progress=progress)
    return train(model, batches, config, parameters=param_groups(model, stage), eval_fn=eval_fn,
                 eval_every=eval_every, history=history, **({"loss_fn": loss_fn} if loss_fn else {}))


def run_recipe(model, recipe: Sequence[Stage], data: Mapping[str, Sequence[Sample]], seed: int = 0,
               progress: bool = True) -> dict[str, History]:
    """Run the stages in order, each on data[stage.data]; returns each stage's history."""
    missing = {s.data for s in recipe} - set(data)
    if missing:
        raise KeyError(f"the recipe needs data sets {sorted(missing)}; given {sorted(data)}")
    return {s.name: run_stage(model, s, data[s.data], seed=seed, progress=progress) for s in recipe}
