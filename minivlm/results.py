"""Results a learner can trust: every comparison over seeds, with its interval, written to a file.

    runs = {"linear": [0.70, 0.73, 0.69], "mlp": [0.75, 0.77, 0.74]}   # one value per seed
    print(interval(runs["mlp"]))                   # 0.753 ± 0.009 (3 seeds)
    print(verdict(runs["mlp"], runs["linear"], ("mlp", "linear")))
    record = Record("03"); record.add("projector", runs); record.save()   # results/03.json (full mode)

A variant is called better only when the difference of the means is more than twice its
standard error (≈ a 95 % interval); otherwise it is "not distinguishable here". A notebook's
full-mode run writes `results/NN.json` — the figures, the seeds, the machine and the date — and
the README's tables are generated from those files (`tools/results_tables.py`), never typed.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import platform
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from .runtime import default_device, fast_mode


def mean_se(values: Sequence[float]) -> tuple[float, float]:
    """Mean and standard error of the mean (sample std / √n; 0 for one value)."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        raise ValueError("no values")
    se = float(x.std(ddof=1) / math.sqrt(x.size)) if x.size > 1 else 0.0
    return float(x.mean()), se


def interval(values: Sequence[float], digits: int = 3) -> str:
    """'mean ± s.e. (n seeds)'."""
    m, se = mean_se(values)
    return f"{m:.{digits}f} ± {se:.{digits}f} ({len(values)} seed{'s' if len(values) != 1 else ''})"


def verdict(a: Sequence[float], b: Sequence[float], names: tuple[str, str] = ("A", "B"),
            higher_is_better: bool = True, digits: int = 3) -> str:
    """Which of two variants is better, only when the interval says so: the difference of the
    means must exceed twice its standard error; with one seed each nothing can be said."""
    if min(len(a), len(b)) < 2:
        return f"{names[0]} vs {names[1]}: not distinguishable here (one seed gives no interval; run ≥ 3)"
    (ma, sa), (mb, sb) = mean_se(a), mean_se(b)
    diff, se = ma - mb, math.hypot(sa, sb)
    shown = f"difference {diff:+.{digits}f} ± {se:.{digits}f}"
    if abs(diff) <= 2 * se or diff == 0:
        return f"{names[0]} vs {names[1]}: not distinguishable here ({shown}, within 2 standard errors)"
    better = names[0] if (diff > 0) == higher_is_better else names[1]
    return f"{better} is better ({names[0]} − {names[1]}: {shown})"


def direction(a: Sequence[float], b: Sequence[float], higher_is_better: bool = True) -> bool | None:
    """Whether variant a beats variant b, as `verdict` reads the intervals: True when a is better by
    more than twice the standard error of the difference, False when b is, None when the two are
    not distinguishable here (or a side has one seed). What `Record.headline` takes as `reproduces`
    when the paper says a beats b."""
    if min(len(a), len(b)) < 2:
        return None
    (ma, sa), (mb, sb) = mean_se(a), mean_se(b)
    diff = ma - mb
    if abs(diff) <= 2 * math.hypot(sa, sb) or diff == 0:
        return None
    return (diff > 0) == higher_is_better


def results_dir() -> Path:
    """Where results/NN.json go: the repository's results/ (when the package runs from a
    checkout), else ./results."""
    repo = Path(__file__).resolve().parents[1]
    return repo / "results" if (repo / "course").is_dir() else Path.cwd() / "results"


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    device = default_device()
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    return {"device": device.type, "name": name, "cpu_cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(), "torch": torch.__version__, "platform": platform.platform(),
            "load_average": round(os.getloadavg()[0], 1) if hasattr(os, "getloadavg") else None}


class Record:
    """A notebook's measured figures. `add(name, value)` takes a number, a list (one per seed) or
    a dict of them; `save()` writes results/NN.json in full mode (fast-mode numbers are smoke
    runs, never results) and returns the path, or None."""

    def __init__(self, notebook: str):
        self.notebook = notebook
        self.figures: dict[str, Any] = {}
        self.start = time.perf_counter()
        self._paper_claims: list[bool] = []  # per headline: does the paper make this claim?

    def add(self, name: str, value: Any) -> Any:
        self.figures[name] = _plain(value)
        return value

    def headline(self, claim: str, measured: str, reproduces: bool | None, paper_claim: bool = True) -> None:
        """A claim for the README's table: what was measured ('0.72 ± 0.03 vs …', from `interval`
        and `verdict`) and whether it goes the paper's way (`direction`: None when not
        distinguishable here; paper_claim=False: the paper says nothing to compare)."""
        self.figures.setdefault("headlines", []).append(
            {"claim": claim, "measured": measured, "reproduces": reproduces})
        self._paper_claims.append(paper_claim)

    def scorecard(self) -> None:
        """Print every headline with what it says about the paper's claim."""
        for h, paper in zip(self.figures.get("headlines", []), self._paper_claims):
            said = {True: "goes the paper's way", False: "does NOT go the paper's way here",
                    None: "not distinguishable here" if paper else "no paper claim"}[h["reproduces"]]
            print(f"- {h['claim']}\n    {h['measured']}  →  {said}")

    def save(self, folder: str | Path | None = None) -> Path | None:
        """Print what the run cost (wall seconds since this Record was made, the kernel's CPU
        seconds, torch threads) and, in full mode, write results/NN.json; returns its path, or
        None in fast mode (smoke-run numbers are never results)."""
        wall, cpu = round(time.perf_counter() - self.start, 1), round(time.process_time(), 1)
        print(f"notebook {self.notebook}: {wall:.0f} s wall, {cpu:.0f} s CPU on {torch.get_num_threads()} torch "
              f"thread(s) (fast mode: {fast_mode()})")
        if fast_mode():
            print("fast mode: smoke numbers, no results file written")
            return None
        path = Path(folder) if folder is not None else results_dir()
        path.mkdir(parents=True, exist_ok=True)
        # cpu_seconds: the kernel's CPU time (all its threads) since it started — what the run costs
        # a machine of its own, whatever else shared this one
        data = {"notebook": self.notebook, "date": datetime.date.today().isoformat(), "machine": machine(),
                "wall_seconds": wall, "cpu_seconds": cpu, "figures": self.figures}
        out = path / f"{self.notebook}.json"
        out.write_text(json.dumps(data, indent=2) + "\n")
        print(f"results written to {out}")
        return out


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.generic, torch.Tensor)):
        return value.item()
    if isinstance(value, float):
        return round(value, 6)
    return value
