"""LoRA adapters on a transformers LM, through peft (built in notebook 08).

LoRA (Hu et al. 2021) freezes a weight W and learns a low-rank update: W x + (alpha / r) · B A x,
A (r, in), B (out, r), B = 0 at init so the model starts unchanged. peft injects the adapters into
the LM's linear layers in place (`inject_adapter_in_model`), so the LM keeps its structure (and the
cross-attention family can still wrap its decoder layers); `merge_lora` folds them back into W.
"""

from __future__ import annotations

from torch import nn

from .config import LoraSpec


def add_lora(lm: nn.Module, spec: LoraSpec) -> nn.Module:
    """Inject LoRA adapters into `lm` in place (B = 0: the LM's outputs are unchanged). Returns lm."""
    from peft import LoraConfig, inject_adapter_in_model

    names = {name.rsplit(".", 1)[-1] for name, module in lm.named_modules() if isinstance(module, nn.Linear)}
    missing = set(spec.targets) - names
    if missing:
        raise ValueError(f"the LM has no linear layers named {sorted(missing)}; its linear layers are "
                         f"{sorted(names)} — set LoraSpec(targets=...) to some of them")
    config = LoraConfig(r=spec.rank, lora_alpha=spec.alpha, lora_dropout=spec.dropout,
                        target_modules=list(spec.targets), bias="none")
    return inject_adapter_in_model(config, lm)


def lora_layers(module: nn.Module) -> list[nn.Module]:
    """The peft LoRA layers inside a module."""
    from peft.tuners.lora import LoraLayer

    return [m for m in module.modules() if isinstance(m, LoraLayer)]


def lora_parameters(module: nn.Module) -> list[nn.Parameter]:
    """The adapters' own weights (lora_A, lora_B), not the frozen base weights."""
    return [p for name, p in module.named_parameters() if "lora_" in name]


def set_lora_scale(module: nn.Module, alpha: float) -> None:
    """Change every adapter's scale to alpha / rank — PLLaVA's "post-optimisation": a smaller
    alpha at evaluation leans the model back towards the base LM."""
    for layer in lora_layers(module):
        for name, rank in layer.r.items():
            layer.scaling[name] = alpha / rank


def merge_lora(module: nn.Module) -> int:
    """Fold every adapter into its base weight (W ← W + scale · B A) and replace the LoRA layer by
    the plain base layer. Returns how many layers were merged."""
    from peft.tuners.lora import LoraLayer

    merged = 0
    for parent in list(module.modules()):
        for child_name, child in list(parent.named_children()):
            if isinstance(child, LoraLayer):
                child.merge()
                setattr(parent, child_name, child.get_base_layer())
                merged += 1
    return merged
