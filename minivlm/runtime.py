"""Where the course runs: fast mode, device, seeds and the cache folder.

Every notebook and test reads these instead of deciding for itself, so that
`MINIVLM_FAST=1` shrinks the whole course at once and a run twice gives the same numbers.
"""

from __future__ import annotations

import contextlib
import os
import random
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

T = TypeVar("T")

# cuBLAS picks its reduction order by workspace; a fixed one makes matrix products repeat bit for bit
# on a GPU. Read when cuBLAS starts, so it is set on import (it changes nothing on a CPU).
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


def fast_mode() -> bool:
    """True when `MINIVLM_FAST` is set to 1/true/yes: every default shrinks to a smoke size."""
    return os.environ.get("MINIVLM_FAST", "").strip().lower() in {"1", "true", "yes", "on"}


def pick(full: T, fast: T) -> T:
    """Choose a size for the current mode: `full` normally, `fast` under MINIVLM_FAST=1."""
    return fast if fast_mode() else full


def default_device() -> torch.device:
    """Where the course's models live and train: `MINIVLM_DEVICE` ('cuda', 'mps', 'cpu') when set,
    else the CPU. `build`, `VLM.from_pretrained` and the zoo's training all read it. The CPU is the
    default, not the first GPU found: the course's models are small enough for a laptop CPU, and
    the notebooks have not all been run with every model on a GPU (on an H200, three cells that
    left a tensor on the CPU were found and fixed). The zoo's training runs on a GPU, deterministically
    (`deterministic_kernels`); `benchmarks/devices.py` measures what a GPU gains."""
    name = os.environ.get("MINIVLM_DEVICE") or "cpu"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"MINIVLM_DEVICE={name!r} names no torch device; use cpu, cuda, cuda:1 or mps") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"MINIVLM_DEVICE={name!r}, but torch sees no CUDA GPU here; unset it to run on the CPU")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise RuntimeError(f"MINIVLM_DEVICE={name!r}, but torch sees no Apple GPU (MPS) here; unset it to run on "
                           "the CPU")
    return device


def deterministic_kernels() -> None:
    """Same seed, same numbers on a CUDA GPU too. A GPU adds up a gradient in whatever order its
    threads finish (atomic adds), so two runs of the same seed drift apart in the last digits and
    then further. This asks torch for deterministic kernels (a warning, not an error, where an op
    has none) and runs attention with the plain math kernel: the flash and memory-efficient kernels
    accumulate their gradients with atomics. The course's models are small enough that this costs
    little. Nothing changes where no CUDA device is present (a CPU run is deterministic already).
    Called by `seed_everything` and by the zoo's training."""
    if not torch.cuda.is_available():
        return
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    torch.backends.cuda.enable_flash_sdp(False)
    torch.backends.cuda.enable_mem_efficient_sdp(False)
    if hasattr(torch.backends.cuda, "enable_cudnn_sdp"):
        torch.backends.cuda.enable_cudnn_sdp(False)


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (all devices), and ask for deterministic kernels on a GPU
    (`deterministic_kernels`); return a torch generator with that seed."""
    deterministic_kernels()
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


@contextlib.contextmanager
def seeded(seed: int):
    """Initialise new modules from `seed` without touching the global random state:
    `with seeded(0): layer = nn.Linear(4, 4)` gives the same weights every time."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def cache_dir() -> Path:
    """Folder for the zoo's bases and generated data: `MINIVLM_CACHE`, else ~/.cache/minivlm.

    Fast mode keeps its own sub-folder, so smoke-size models never stand in for real ones.
    """
    root = Path(os.environ.get("MINIVLM_CACHE", Path.home() / ".cache" / "minivlm"))
    path = root / ("fast" if fast_mode() else "full")
    path.mkdir(parents=True, exist_ok=True)
    return path
