"""The smallest square input a network runs at.

This one question is not a function of a trace: a trace holds one input size, and a
forward may choose its path by shape (a pad computed from the size, an interpolation to a
skip connection's size), so only running the model at another size answers it exactly.
It runs the one meta-device build of the variant at each probed size, through the same
exact shape shortcuts as the trace, so each probe costs a forward without data.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from incprof.analysis.trace import meta_model, run_op
from incprof.registry import InputShape, Variant


class _Shapes(TorchDispatchMode):
    """Shapes only: the trace's shortcuts, nothing recorded."""

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        return False  # see recorder._Recorder: nothing here is compiled

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        return run_op(func, args, kwargs or {})


def runs_at(model: nn.Module, shape: InputShape) -> bool:
    """Whether ``model``'s eval forward runs on a ``1 × shape`` meta input."""
    try:
        with torch.no_grad(), _Shapes():
            model(torch.empty((1, *shape), device="meta"))
    except Exception:  # whatever a model raises at this size, it does not run there
        return False
    return True


def smallest_square_input(
    variant: Variant, channels: int, *, limit: int = 1024, overrides: Any = None
) -> int | None:
    """The smallest H = W the variant runs at, or None when it does not run at ``limit``.

    Bisects on the assumption that a network that runs at s runs at s + 1, then checks
    the answer and steps up past sizes that still fail (a few layouts, such as
    BN-Inception's, only run on some grids).
    """
    model = meta_model(variant, overrides).eval()
    if not runs_at(model, (channels, limit, limit)):
        return None
    low, high = 1, limit
    while low < high:
        middle = (low + high) // 2
        if runs_at(model, (channels, middle, middle)):
            high = middle
        else:
            low = middle + 1
    return next((s for s in range(low, limit + 1) if runs_at(model, (channels, s, s))), None)
