"""Exercise checks: each compares a learner's function with the package's on fixed inputs and
says "correct", or shows what differs. An exercise not yet done (it raises
NotImplementedError) is reported as such, without failing the notebook.

Under test (`MINIVLM_STRICT_CHECKS=1`, set by `make test`) a wrong answer raises `CheckFailed`,
so a solution that drifted from the package fails the test run instead of printing ❌."""

from __future__ import annotations

from typing import Any, Callable

import os

import numpy as np
import torch


class CheckFailed(AssertionError):
    """An exercise's answer is wrong (raised only in strict mode, i.e. under test)."""


def strict() -> bool:
    return os.environ.get("MINIVLM_STRICT_CHECKS", "").strip().lower() in {"1", "true", "yes", "on"}


def report(name: str, check: Callable[[], str | None]) -> bool:
    """Run `check`: it returns None when right, or a message saying what differs."""
    try:
        problem = check()
    except NotImplementedError:  # the exercise's stub is still there
        print(f"⏳ {name}: not done yet — fill in the function above, then run this cell again.")
        return False
    if problem is None:
        print(f"✅ {name}: correct!")
        return True
    if strict():
        raise CheckFailed(f"{name}: {problem}")
    print(f"❌ {name}: {problem}")
    return False


def compare(name: str, learner: Callable, reference: Callable, cases: list[tuple], atol: float = 1e-5) -> bool:
    """Call both functions on each case (a tuple of arguments) and compare the results."""

    def check():
        for args in cases:
            got = learner(*args)
            want = reference(*args)
            problem = difference(got, want, atol)
            if problem:
                shown = ", ".join(_short(a) for a in args)
                return f"for input ({shown}): {problem}"
        return None

    return report(name, check)


def difference(got: Any, want: Any, atol: float = 1e-5) -> str | None:
    """None when equal (within atol for floats), else a short description of the difference."""
    if isinstance(want, torch.Tensor) or isinstance(want, np.ndarray):
        got_t, want_t = torch.as_tensor(np.asarray(got) if not isinstance(got, torch.Tensor) else got), torch.as_tensor(want)
        if tuple(got_t.shape) != tuple(want_t.shape):
            return f"shape {tuple(got_t.shape)}, expected {tuple(want_t.shape)}"
        if want_t.dtype.is_floating_point:
            err = (got_t.double() - want_t.double()).abs().max().item()
            return None if err <= atol else f"values differ by up to {err:.3g} (expected {_short(want_t)}, got {_short(got_t)})"
        return None if torch.equal(got_t.to(want_t.dtype), want_t) else f"got {_short(got_t)}, expected {_short(want_t)}"
    if isinstance(want, float):
        return None if abs(float(got) - want) <= atol else f"got {got}, expected {want}"
    return None if got == want else f"got {_short(got)}, expected {_short(want)}"


def _short(x: Any, n: int = 80) -> str:
    text = repr(x.tolist() if isinstance(x, (torch.Tensor, np.ndarray)) and x.numel() < 50 else x) \
        if isinstance(x, (torch.Tensor, np.ndarray)) else repr(x)
    if isinstance(x, (torch.Tensor, np.ndarray)) and (x.numel() if isinstance(x, torch.Tensor) else x.size) >= 50:
        text = f"<{type(x).__name__} shape {tuple(x.shape)}>"
    return text if len(text) <= n else text[: n - 3] + "..."
