"""One training loop for every stage: which parts train is decided by `requires_grad`.

`train(model, batches, config, loss_fn)` runs AdamW with linear warmup and cosine decay,
gradient clipping, bf16 autocast on CUDA, a tqdm progress bar, and returns a `History` for
plots. Which parts of a model train, on what data and at what learning rates, is a stage
(`minivlm.stages`), which calls this loop.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import torch
from torch import nn
from tqdm.auto import tqdm

from .runtime import seed_everything


@dataclass
class TrainConfig:
    steps: int = 200
    lr: float = 1e-3
    weight_decay: float = 0.0
    warmup_steps: int | None = None  # default: 5% of steps
    min_lr_ratio: float = 0.1  # cosine decays to lr * min_lr_ratio
    grad_clip: float | None = 1.0
    amp: bool = True  # bf16 autocast, CUDA only
    seed: int = 0
    log_every: int = 10
    desc: str = "train"
    progress: bool = True


@dataclass
class History:
    """What happened during training: losses and learning rates per logged step, extra metrics."""

    step: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    metrics: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    seconds: float = 0.0

    def log_metric(self, name: str, step: int, value: float) -> None:
        self.metrics.setdefault(name, []).append((step, float(value)))

    def final_loss(self, last: int = 5) -> float:
        tail = self.loss[-last:]
        return sum(tail) / max(1, len(tail))

    def to_dict(self) -> dict:
        return asdict(self)


def freeze(*modules: nn.Module) -> None:
    for m in modules:
        m.requires_grad_(False)


def unfreeze(*modules: nn.Module) -> None:
    for m in modules:
        m.requires_grad_(True)


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def random_batches(tensors: dict[str, torch.Tensor], batch_size: int, seed: int = 0) -> Iterator[dict[str, torch.Tensor]]:
    """Endless shuffled mini-batches from tensors that share their first dimension."""
    sizes = {k: len(v) for k, v in tensors.items()}
    n = next(iter(sizes.values()))
    if any(s != n for s in sizes.values()):
        raise ValueError(f"all tensors need the same first dimension, got {sizes}")
    if n == 0:
        raise ValueError("no examples to train on")
    g = torch.Generator().manual_seed(seed)
    while True:
        order = torch.randperm(n, generator=g)
        for i in range(0, n - min(batch_size, n) + 1, min(batch_size, n)):
            idx = order[i:i + batch_size]
            yield {k: v[idx] for k, v in tensors.items()}


def to_device(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


def default_loss(model: nn.Module, batch: dict) -> torch.Tensor:
    """Models that return an output with `.loss` (transformers style), called with the batch."""
    return model(**batch).loss


def lr_at(step: int, config: TrainConfig) -> float:
    """Linear warmup, then cosine decay to lr * min_lr_ratio."""
    warmup = config.warmup_steps if config.warmup_steps is not None else max(1, config.steps // 20)
    if step < warmup:
        return config.lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, config.steps - warmup)
    cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return config.lr * (config.min_lr_ratio + (1 - config.min_lr_ratio) * cosine)


def train(model: nn.Module, batches: Iterable, config: TrainConfig,
          loss_fn: Callable[[nn.Module, Any], torch.Tensor | tuple[torch.Tensor, dict]] = default_loss,
          parameters: Iterable[nn.Parameter] | Iterable[dict] | None = None,
          eval_fn: Callable[[nn.Module], dict[str, float]] | None = None, eval_every: int | None = None,
          history: History | None = None) -> History:
    """Train the parameters that require grad (or `parameters`) for `config.steps` steps.

    batches: an iterable of batches (dicts of tensors are moved to the model's device);
    loss_fn(model, batch) returns the loss, or (loss, {name: value}) to log extra values;
    parameters: parameters, or groups {'params': [...], 'lr_scale': s} that learn at lr · s
    (`minivlm.stages` builds them from a stage's per-part learning rates);
    eval_fn(model) is called every `eval_every` steps and at the end, its values logged.
    """
    seed_everything(config.seed)
    given = list(parameters) if parameters is not None else [{"params": list(model.parameters())}]
    if given and not isinstance(given[0], dict):
        given = [{"params": given}]
    device = next(model.parameters()).device
    # Matrices get weight decay, vectors do not.
    groups: dict[tuple[bool, float], list[nn.Parameter]] = {}
    for group in given:
        for p in group["params"]:
            if p.requires_grad:
                groups.setdefault((p.ndim >= 2, float(group.get("lr_scale", 1.0))), []).append(p)
    params = [p for ps in groups.values() for p in ps]
    if not params:
        raise ValueError("nothing to train: every parameter is frozen; unfreeze a part first")
    optimizer = torch.optim.AdamW(
        [{"params": ps, "weight_decay": config.weight_decay if decay else 0.0, "lr_scale": scale}
         for (decay, scale), ps in groups.items()],
        lr=config.lr, fused=device.type in ("cpu", "cuda"),
    )
    history = history or History()
    offset = history.step[-1] + 1 if history.step else 0
    use_amp = config.amp and device.type == "cuda"
    model.train()
    start = time.perf_counter()
    iterator = iter(batches)
    bar = tqdm(range(config.steps), desc=config.desc, disable=not config.progress, leave=False)
    running = None
    for step in bar:
        lr = lr_at(step, config)
        for group in optimizer.param_groups:
            group["lr"] = lr * group["lr_scale"]
        batch = to_device(next(iterator), device)
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_amp):
            out = loss_fn(model, batch)
        loss, extra = out if isinstance(out, tuple) else (out, {})
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss became {loss.item()} at step {step}; lower the learning rate")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip:
            torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
        optimizer.step()
        value = loss.item()
        running = value if running is None else 0.9 * running + 0.1 * value
        if step % config.log_every == 0 or step == config.steps - 1:
            history.step.append(offset + step)
            history.loss.append(value)
            history.lr.append(lr)
            for name, v in extra.items():
                history.log_metric(name, offset + step, float(v))
            bar.set_postfix(loss=f"{running:.3f}")
        if eval_fn is not None and eval_every and (step + 1) % eval_every == 0 and step != config.steps - 1:
            _evaluate(model, eval_fn, history, offset + step)
    if eval_fn is not None:
        _evaluate(model, eval_fn, history, offset + config.steps - 1)
    model.eval()
    history.seconds += time.perf_counter() - start
    return history


def _evaluate(model, eval_fn, history, step):
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for name, value in eval_fn(model).items():
            history.log_metric(name, step, value)
    model.train(was_training)


def save_checkpoint(path: str | Path, model: nn.Module, history: History | None = None) -> Path:
    """Save a model's state dict (and its history as JSON beside it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    if history is not None:
        path.with_suffix(".history.json").write_text(json.dumps(history.to_dict()))
    return path


def load_checkpoint(path: str | Path, model: nn.Module) -> History | None:
    """Load a state dict saved by save_checkpoint into `model`; return its history if saved."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    hist = path.with_suffix(".history.json")
    return History(**json.loads(hist.read_text())) if hist.exists() else None
